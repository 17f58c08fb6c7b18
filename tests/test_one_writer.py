"""One writer at a time per database (`kept.storage.instance_lock`, issue 18).

The commands run for real (``kept.commands.main``) on the sample Maildir and
a TinyDB database. To land a second command in the middle of the first,
the first one's scanner is stopped at a chosen batch until the test lets it
go (the scanner, store and mail are the real ones); a lock held by "another
process" is held by a real child process where it matters (a killed holder).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kept.commands import main
from kept.daemon.run import Daemon
from kept.daemon.scan import Scanner
from kept.errors import DatabaseBusyError
from kept.storage import instance_lock
from kept.storage.instance_lock import FEEDBACK, SERVICE, WRITER, InstanceLock, current_holder, lock_path
from kept.storage.tinydb_store import TinyDBStore

from tests.helpers import demo_config
from tests.test_daemon import FakeClock, Outbox, SendPromises, fake_build, fake_render, local, write_config

NOW = "2026-03-18T07:10:00+00:00"
BUSY = DatabaseBusyError.exit_code


def summary(database: Path) -> dict[str, Any]:
    """What must survive: every message, and every promise with its status."""
    store = TinyDBStore(database)
    try:
        with store.transaction():
            messages = store.count_messages()
            promises = sorted((p.id, p.status) for p in store.promises())
    finally:
        store.close()
    return {"messages": messages, "promises": promises}


@pytest.fixture
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waiting for a lock takes half a second here, not `DEFAULT_WAIT`."""
    monkeypatch.setattr(instance_lock, "DEFAULT_WAIT", 0.5)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEPT_SCAN_BATCH", "5")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sample Maildir scanned once, undisturbed."""
    folder = tmp_path_factory.mktemp("reference")
    config = demo_config(folder)
    assert main(["--config", str(config), "--now", NOW, "scan", "-q"]) == 0
    result = summary(folder / "kept.json")
    assert result["messages"]["sent"] > 15 and result["promises"], "the sample Maildir has changed"
    return result


class Gate:
    """Stops one named thread's scanner at a chosen point until `open` is called."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._open = threading.Event()

    def wait_here(self) -> None:
        self.reached.set()
        assert self._open.wait(120), "the test never let the scanner go on"

    def open(self) -> None:
        self._open.set()


def stop_scanner(monkeypatch: pytest.MonkeyPatch, thread: str, *, before_sent_batch: int | None = None,
                 before_sent_folder: bool = False) -> Gate:
    """Make the scanner of `thread` wait at a gate: before its n-th sent batch, or before it reads the sent folder's cursor."""
    gate = Gate()
    batches: Counter[str] = Counter()
    store_batch, scan_folder = Scanner._store_batch, Scanner._scan_folder

    def gated_store_batch(self: Scanner, account: Any, folder: Any, *rest: Any) -> Any:
        if threading.current_thread().name == thread and folder.role == "sent":
            batches[thread] += 1
            if batches[thread] == before_sent_batch:
                gate.wait_here()
        return store_batch(self, account, folder, *rest)

    def gated_scan_folder(self: Scanner, account: Any, source: Any, folder: Any, *rest: Any) -> Any:
        if threading.current_thread().name == thread and folder.role == "sent" and before_sent_folder:
            gate.wait_here()
        return scan_folder(self, account, source, folder, *rest)

    # Chained: a second call wraps the first one's wrappers.
    monkeypatch.setattr(Scanner, "_store_batch", gated_store_batch)
    monkeypatch.setattr(Scanner, "_scan_folder", gated_scan_folder)
    return gate


def start(name: str, argv: list[str], codes: dict[str, int]) -> threading.Thread:
    """Run ``kept ARGV`` in a thread called `name`; its exit code lands in codes[name]."""
    thread = threading.Thread(name=name, target=lambda: codes.__setitem__(name, main(argv)), daemon=True)
    thread.start()
    return thread


def until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# -- defect 1: kept rebuild while a scan runs -------------------------------


def test_rebuild_while_a_scan_runs_loses_no_mail(
    tmp_path, monkeypatch, capsys, reference, small_batches, short_wait
) -> None:
    """The issue's reproduction, made exact: the scan is stopped mid-batch in the sent folder.

    Without the lock the rebuild set the database aside and started over;
    the scan, let go, wrote its later batches and its cursor into the new
    database, and the rebuild, reaching the sent folder, found that cursor
    and skipped the mail before it: gone for good, later scans found
    nothing new. With the lock the rebuild is refused, says who is
    writing, and nothing is lost.
    """
    config = demo_config(tmp_path)
    database = tmp_path / "kept.json"
    base = ["--config", str(config), "--now", NOW]
    scan_gate = stop_scanner(monkeypatch, "scan", before_sent_batch=3)
    rebuild_gate = stop_scanner(monkeypatch, "rebuild", before_sent_folder=True)
    codes: dict[str, int] = {}

    scan = start("scan", [*base, "scan", "-q"], codes)
    assert scan_gate.reached.wait(120)
    rebuild = start("rebuild", [*base, "rebuild", "--yes"], codes)
    # Without the lock the rebuild gets as far as the sent folder; with it, it ends at once.
    until(lambda: rebuild_gate.reached.is_set() or not rebuild.is_alive())
    scan_gate.open()
    scan.join(120)
    rebuild_gate.open()
    rebuild.join(120)

    assert summary(database) == reference
    assert codes == {"scan": 0, "rebuild": BUSY}
    error = capsys.readouterr().err
    assert f"kept scan (pid {os.getpid()}, since " in error and "is writing to it" in error
    assert "Traceback" not in error
    assert not list(tmp_path.glob("kept.json.broken-*")), "the refused rebuild moved the database"
    # The scan is over: the rebuild runs now, and still loses nothing.
    assert main([*base, "rebuild", "--yes"]) == 0
    assert summary(database) == reference


# -- defect 2 at the command line: two scans at once ----------------------------


def test_a_second_scan_waits_then_says_who_holds_the_database(
    tmp_path, monkeypatch, capsys, reference, small_batches, short_wait
) -> None:
    config = demo_config(tmp_path)
    base = ["--config", str(config), "--now", NOW]
    gate = stop_scanner(monkeypatch, "first", before_sent_batch=2)
    codes: dict[str, int] = {}
    first = start("first", [*base, "scan", "-q"], codes)
    assert gate.reached.wait(120)
    started = time.monotonic()
    assert main([*base, "scan", "-q"]) == BUSY
    assert 0.4 < time.monotonic() - started < 10
    error = capsys.readouterr().err
    assert f"kept scan (pid {os.getpid()}, since " in error and "(waited 0.5 s)" in error
    assert "fix: wait for it to finish" in error
    gate.open()
    first.join(120)
    assert codes["first"] == 0
    assert main([*base, "scan", "-q"]) == 0
    assert summary(tmp_path / "kept.json") == reference


# -- feedback commands and readers ------------------------------------------


def test_feedback_works_during_a_scan_but_waits_for_a_rebuild(
    tmp_path, monkeypatch, capsys, reference, small_batches, short_wait
) -> None:
    config = demo_config(tmp_path)
    database = tmp_path / "kept.json"
    base = ["--config", str(config), "--now", NOW]
    assert main([*base, "scan", "-q"]) == 0
    promise_id = next(pid for pid, status in reference["promises"] if status == "open")
    codes: dict[str, int] = {}

    # A scan holds the writer lock (a new mail arrived; here: a rescan of nothing new, stopped in the sent folder).
    gate = stop_scanner(monkeypatch, "scan", before_sent_folder=True)
    scan = start("scan", [*base, "scan", "-q"], codes)
    assert gate.reached.wait(120)
    assert main([*base, "promises", "done", promise_id]) == 0
    assert main([*base, "threads", "mute", "someone@example.org"]) == 0
    # Readers never wait; status says who is writing.
    capsys.readouterr()
    assert main([*base, "status"]) == 0
    assert f"writing now   kept scan (pid {os.getpid()}, since " in capsys.readouterr().out
    assert main([*base, "promises", "--json"]) == 0
    assert main([*base, "digest", "--preview"]) == 0
    gate.open()
    scan.join(120)
    assert codes["scan"] == 0
    statuses = dict(summary(database)["promises"])
    assert statuses[promise_id] == "done"

    # A rebuild holds the feedback lock too: the database is being replaced.
    capsys.readouterr()
    gate = stop_scanner(monkeypatch, "rebuild", before_sent_folder=True)
    rebuild = start("rebuild", [*base, "rebuild", "--yes"], codes)
    assert gate.reached.wait(120)
    assert main([*base, "promises", "dismiss", promise_id]) == BUSY
    assert main([*base, "nudges", "dismiss", "someone@example.org"]) == BUSY
    error = capsys.readouterr().err
    assert f"kept rebuild (pid {os.getpid()}, since " in error and "is changing it" in error
    assert main([*base, "status", "--json"]) == 0  # still free for readers
    assert f'"writing_now": "kept rebuild (pid {os.getpid()}, since ' in capsys.readouterr().out
    gate.open()
    rebuild.join(120)
    assert codes["rebuild"] == 0
    # Rebuilt from the mail, with the done from before the rebuild carried over: the dismissal never happened.
    expected = dict(reference)
    expected["promises"] = [(pid, "done" if pid == promise_id else status) for pid, status in reference["promises"]]
    assert summary(database) == expected


def test_forget_holds_both_locks_and_the_note_names_no_address(tmp_path, monkeypatch, short_wait) -> None:
    config = demo_config(tmp_path)
    database = tmp_path / "kept.json"
    notes: list[bytes] = []
    original = TinyDBStore.forget

    def forget(self: TinyDBStore, address: str) -> dict[str, int]:
        notes.extend(lock_path(database, kind).read_bytes() for kind in (WRITER, FEEDBACK))
        return original(self, address)

    monkeypatch.setattr(TinyDBStore, "forget", forget)
    assert main(["--config", str(config), "--now", NOW, "forget", "--yes", "anna.keller@example.org"]) == 0
    assert len(notes) == 2 and all(b'"command": "kept forget"' in note for note in notes)
    assert not any(b"anna" in note for note in notes)
    # Let go, and the notes emptied.
    assert all(lock_path(database, kind).read_bytes() == b"" for kind in (WRITER, FEEDBACK))


# -- a killed holder --------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from kept.storage.instance_lock import InstanceLock
lock = InstanceLock(Path(sys.argv[1]), sys.argv[2], "kept scan")
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def hold_elsewhere(database: Path, kind: str) -> subprocess.Popen[str]:
    """A real other process holding the `kind` lock, until killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(database), kind],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    return process


def test_a_lock_left_by_a_killed_process_is_taken_over_at_once(tmp_path, capsys) -> None:
    config = demo_config(tmp_path)
    database = tmp_path / "kept.json"
    holder = hold_elsewhere(database, WRITER)
    try:
        note = current_holder(database)
        assert note is not None and note.pid == holder.pid and note.command == "kept scan" and note.alive()
        lock = InstanceLock(database, WRITER, "kept rebuild")
        with pytest.raises(DatabaseBusyError, match=rf"kept scan \(pid {holder.pid}, since "):
            lock.acquire(wait=0.2)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # Its note is still there, but its lock died with it: no wait at all.
    stale = current_holder(database)
    assert stale is not None and stale.pid == holder.pid and not stale.alive()
    assert main(["--config", str(config), "--now", NOW, "scan", "-q"]) == 0
    lock = InstanceLock(database, WRITER, "kept rebuild")
    started = time.monotonic()
    lock.acquire(wait=30)
    assert time.monotonic() - started < 1
    assert current_holder(database).pid == os.getpid()  # type: ignore[union-attr]
    lock.release()
    assert current_holder(database) is None


def test_the_message_when_the_note_is_from_an_ended_process(tmp_path) -> None:
    """The holder took the lock but has not written its note yet: the last note is a dead one's."""
    database = tmp_path / "kept.json"
    holder = hold_elsewhere(database, WRITER)
    try:
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        dead_pid = int(gone.stdout)
        lock_path(database, WRITER).write_text(
            f'{{"pid": {dead_pid}, "command": "kept run", "since": "2026-03-18T07:00:00+01:00", '
            f'"host": "{os.uname().nodename}"}}\n'
        )
        with pytest.raises(DatabaseBusyError, match="from a process that has ended") as caught:
            InstanceLock(database, WRITER, "kept scan").acquire(wait=0)
        assert caught.value.exit_code == 7
    finally:
        holder.kill()
        holder.wait()


def test_nested_acquires_let_go_at_the_last_release(tmp_path) -> None:
    database = tmp_path / "kept.json"
    lock = InstanceLock(database, SERVICE, "kept run")
    with lock:
        with lock:
            assert current_holder(database, SERVICE).command == "kept run"  # type: ignore[union-attr]
        assert lock.held and current_holder(database, SERVICE) is not None
    assert not lock.held and current_holder(database, SERVICE) is None
    assert lock_path(database, SERVICE).stat().st_mode & 0o777 == 0o600


# -- the service ----------------------------------------------------------


@pytest.fixture
def service(tmp_path, monkeypatch) -> Callable[..., Daemon]:
    """A daemon as test_daemon.py builds them (memory mailboxes, fake clock and outbox)."""
    from kept.mailboxes.memory import MemorySource
    from tests.helpers import ME, raw_mail, utc
    from tests.test_daemon import SENT

    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    config = tmp_path / "config.toml"
    write_config(config)
    sources = {"work": MemorySource("work"), "home": MemorySource("home")}
    sources["work"].add(SENT, raw_mail("p1", sender=ME, to="anna@x.org", date=utc(2026, 3, 10),
                                       subject="Article", body="Sure. I'll send you the article.\n"))
    clock = FakeClock(local(18, 7, 31))

    def make(**overrides: Any) -> Daemon:
        options: dict[str, Any] = dict(
            clock=clock, source_factory=lambda account: sources[account.name],
            extractor_factory=lambda settings: SendPromises(), build=fake_build, render=fake_render,
            sender_factory=lambda settings: Outbox(), rng=random.Random(1),
        )
        options.update(overrides)
        return Daemon(config, **options)

    return make


def test_the_service_postpones_a_pass_while_a_command_writes_and_catches_up_after(service, tmp_path) -> None:
    database = tmp_path / "kept.json"
    daemon = service()
    daemon.start(service=True)
    try:
        assert current_holder(database, SERVICE).command == "kept run"  # type: ignore[union-attr]
        command = InstanceLock(database, WRITER, "kept scan")
        command.acquire()
        assert daemon.scan_pass() == []  # postponed, not failed, not waited for
        assert daemon.digest_job() is None
        assert daemon.tick() <= 5  # tries again soon
        with daemon.store.transaction():  # type: ignore[union-attr]
            assert not list(daemon.store.promises())  # type: ignore[union-attr]
        command.release()
        daemon.tick()
        with daemon.store.transaction():  # type: ignore[union-attr]
            assert len(list(daemon.store.promises())) == 1  # type: ignore[union-attr]
            assert daemon.store.get_meta("last_digest_date") == "2026-03-18"  # type: ignore[union-attr]
        # Between passes the writer lock is free for commands.
        assert current_holder(database, WRITER) is None
        InstanceLock(database, WRITER, "kept scan").acquire(wait=0)
    finally:
        daemon.close()
    assert current_holder(database, SERVICE) is None


def test_a_second_service_is_refused_and_run_once_waits_then_says_busy(service, tmp_path, short_wait) -> None:
    database = tmp_path / "kept.json"
    first = service()
    first.start(service=True)
    try:
        second = service()
        with pytest.raises(DatabaseBusyError, match=r"kept run \(pid \d+, since .*running as the service"):
            second.start(service=True)
        assert second.store is None
        once = service()
        once.start()
        command = InstanceLock(database, WRITER, "kept rebuild")
        command.acquire()
        try:
            with pytest.raises(DatabaseBusyError, match=r"kept rebuild \(pid"):
                once.run_once()
        finally:
            command.release()
            once.close()
    finally:
        first.close()
    assert current_holder(database, SERVICE) is None
