"""The daemon loop: schedule on a fake clock, digest once a day, retries, signals, replies."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kept.daemon.run import ClockScheduler, Daemon, ReplayClock, _install_signal_handlers, run
from kept.errors import SourceError
from kept.mailboxes.base import Folder
from kept.mailboxes.memory import MemorySource
from kept.models import PromiseCandidate
from kept.storage.tinydb_store import TinyDBStore

from tests.helpers import ME, raw_mail, utc

BERLIN = ZoneInfo("Europe/Berlin")
INBOX = Folder("INBOX", "received")
SENT = Folder("Sent", "sent")

CONFIG = """\
[kept]
addresses = ["{me}"]
timezone = "Europe/Berlin"
database = "kept.json"

[digest]
send_at = "07:30"
send_empty = {send_empty}

[digest.smtp]
host = "127.0.0.1"
port = 2525
security = "starttls"

[daemon]
scan_every_minutes = {every}
retry_max_minutes = 60

[accounts.work]
type = "maildir"
path = "mail-work"

[accounts.home]
type = "maildir"
path = "mail-home"
"""


def local(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A moment in March 2026, Berlin time, as UTC."""
    return datetime(2026, 3, day, hour, minute, second, tzinfo=BERLIN).astimezone(timezone.utc)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


class SendPromises:
    """Stand-in extractor: every "I'll send ..." sentence is a promise."""

    def extract_many(self, items):
        for text, _sent_at in items:
            yield [
                PromiseCandidate(sentence=m.group(0), action=m.group(1), kind="deliver", due=None,
                                 due_text=None, confidence=0.9, rule_id="test")
                for m in re.finditer(r"I'll (send [^.]*)\.", text)
            ]


@dataclass
class FakeDigest:
    index: tuple
    notes: tuple
    subject: str = "test digest"

    @property
    def is_empty(self) -> bool:
        return not (self.index or self.notes)


def fake_build(store, now, settings, notes=()):
    """Numbers every open promise, like the real digest does for due ones."""
    promises = [p for p in store.promises() if p.is_open]
    return FakeDigest(tuple((n, "promise", p.id) for n, p in enumerate(promises, 1)), tuple(notes))


def fake_render(digest, settings, *, message_id=None):
    message = EmailMessage()
    message["Message-ID"] = message_id
    message["Subject"] = digest.subject
    message.set_content("\n".join(digest.notes) or "digest")
    return message


@dataclass
class Outbox:
    """A sender that keeps what it was given; set `fail` to make it refuse."""

    sent: list = field(default_factory=list)
    fail: Exception | None = None

    def send(self, message):
        if self.fail is not None:
            raise self.fail
        self.sent.append(message)


@dataclass
class World:
    """Everything a daemon under test talks to."""

    config: Path
    clock: FakeClock
    sources: dict
    outbox: Outbox
    opened: dict = field(default_factory=dict)

    def source_for(self, account):
        self.opened[account.name] = self.opened.get(account.name, 0) + 1
        return self.sources[account.name]

    def daemon(self, **overrides) -> Daemon:
        options = dict(
            clock=self.clock, source_factory=self.source_for,
            extractor_factory=lambda settings: SendPromises(),
            build=fake_build, render=fake_render, sender_factory=lambda settings: self.outbox,
            rng=random.Random(1),
        )
        options.update(overrides)
        return Daemon(self.config, **options)

    def db(self) -> TinyDBStore:
        return TinyDBStore(self.config.parent / "kept.json")


def write_config(path: Path, every: int = 15, send_empty: bool = False) -> None:
    path.write_text(CONFIG.format(me=ME, every=every, send_empty=str(send_empty).lower()), encoding="utf-8")


@pytest.fixture
def world(tmp_path, monkeypatch) -> World:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    config = tmp_path / "config.toml"
    write_config(config)
    sources = {"work": MemorySource("work"), "home": MemorySource("home")}
    sources["work"].add(SENT, raw_mail("p1", sender=ME, to="anna@x.org", date=utc(2026, 3, 10),
                                       subject="Article", body="Sure. I'll send you the article.\n"))
    return World(config, FakeClock(local(18, 7, 29, 50)), sources, Outbox())


# -- scanning ----------------------------------------------------------------


def test_a_pass_that_finds_nothing_new_writes_only_the_small_pass_file(world):
    """Health of every account and the time of the scan in one write, and not of the main file (77 MB at 200k)."""
    from kept.storage.meta import account_health

    daemon = world.daemon()
    daemon.start()
    daemon.scan_pass()
    main_file = daemon.store._storage  # the store's main file (kept.json)
    writes = []
    write_file = main_file._write_file
    main_file._write_file = lambda *args, **kwargs: writes.append(args[0]) or write_file(*args, **kwargs)
    world.clock.advance(minutes=15)
    daemon.scan_pass()
    assert [path.name for path in writes] == ["kept.pass.json"]
    with daemon.store.transaction():
        assert daemon.store.get_meta("last_scan") == world.clock().isoformat()
        for name in ("work", "home"):
            assert account_health(daemon.store, name)["last_ok"] == world.clock().isoformat()
    daemon.close()


# -- schedule and digest ---------------------------------------------------


def test_digest_goes_out_at_the_scheduled_local_time_and_only_once(world):
    daemon = world.daemon()
    daemon.start()
    daemon.scan_pass()
    assert daemon.digest_job(scan_first=False) is None  # 07:29:50: not yet
    wait = daemon.tick()
    assert world.outbox.sent == [] and 0 < wait <= 10
    world.clock.advance(seconds=11)
    daemon.tick()
    [message] = world.outbox.sent
    with daemon.store.transaction():
        sent = daemon.store.get_meta("sent_digests")
        assert daemon.store.get_meta("last_digest_date") == "2026-03-18"
    [promise] = list(daemon.store.promises())
    assert sent[message["Message-ID"]]["index"] == [[1, "promise", promise.id]]
    for _ in range(3):
        world.clock.advance(hours=5)
        daemon.tick()
    assert len(world.outbox.sent) == 1  # the rest of the day: nothing more
    world.clock.moment = local(19, 7, 30, 1)
    daemon.tick()
    assert len(world.outbox.sent) == 2
    daemon.close()


def test_never_two_digests_for_one_day_across_a_restart(world):
    first = world.daemon()
    first.start()
    world.clock.moment = local(18, 7, 31)
    assert first.digest_job()
    first.close()
    world.clock.moment = local(18, 9, 0)
    second = world.daemon()
    second.start()
    assert second.digest_job() is None
    second.tick()
    second.close()
    assert len(world.outbox.sent) == 1


def test_missed_digest_is_sent_at_start_and_on_wake_once(world):
    # Down at 07:30 yesterday and today: started at 10:00, it goes out at once.
    world.clock.moment = local(18, 10, 0)
    daemon = world.daemon()
    daemon.start()
    assert daemon.digest_job()
    daemon.tick()
    assert len(world.outbox.sent) == 1
    # Asleep from 23:00 to 09:00: on wake the missed digest goes out, once.
    world.clock.moment = local(18, 23, 0)
    daemon.tick()
    world.clock.moment = local(19, 9, 0)
    daemon.tick()
    daemon.tick()
    assert len(world.outbox.sent) == 2
    daemon.close()


def test_empty_digest_is_not_sent_unless_configured(world, tmp_path):
    world.sources["work"] = MemorySource("work")  # no promises at all
    world.clock.moment = local(18, 8, 0)
    daemon = world.daemon()
    daemon.start()
    assert daemon.digest_job() is None and world.outbox.sent == []
    daemon.close()
    write_config(world.config, send_empty=True)
    daemon = world.daemon()
    daemon.start()
    assert daemon.digest_job()
    assert len(world.outbox.sent) == 1
    daemon.close()


def test_failed_delivery_is_retried_with_backoff_and_recorded_only_when_sent(world):
    world.outbox.fail = OSError("connection refused")
    world.clock.moment = local(18, 7, 30)
    daemon = world.daemon()
    daemon.start()
    assert daemon.digest_job() is None
    with daemon.store.transaction():
        assert daemon.store.get_meta("last_digest_date") is None
    retry_at = daemon.digest_backoff.retry_at("digest delivery")
    assert timedelta(seconds=47) <= retry_at - world.clock() <= timedelta(minutes=1)
    world.outbox.fail = None
    daemon.tick()
    assert world.outbox.sent == []  # the pause is not over
    world.clock.moment = retry_at
    daemon.tick()
    assert len(world.outbox.sent) == 1
    daemon.close()


def test_clock_scheduler_runs_daily_jobs_at_local_time_across_dst():
    clock = FakeClock(local(28, 8, 0))  # Berlin moves to summer time on 29 March
    scheduler = ClockScheduler(clock, BERLIN)
    runs = []
    scheduler.every().day.at("07:30").do(lambda: runs.append(clock().astimezone(BERLIN)))
    assert scheduler.next_run == datetime(2026, 3, 29, 7, 30, tzinfo=BERLIN)
    assert scheduler.idle_seconds == pytest.approx(22.5 * 3600)  # one hour less: DST
    clock.moment = datetime(2026, 3, 29, 7, 30, tzinfo=BERLIN)
    scheduler.run_pending()
    assert [r.strftime("%d %H:%M %Z") for r in runs] == ["29 07:30 CEST"]
    assert scheduler.next_run == datetime(2026, 3, 30, 7, 30, tzinfo=BERLIN)


def test_replay_clock_moves_on_from_the_fixed_start():
    ticks = iter([100.0, 100.0, 107.5])
    clock = ReplayClock(datetime(2001, 5, 14, 7, 29, 50), monotonic=lambda: next(ticks))
    assert clock() == datetime(2001, 5, 14, 7, 29, 50, tzinfo=timezone.utc)
    assert clock() == datetime(2001, 5, 14, 7, 29, 57, 500000, tzinfo=timezone.utc)
    assert abs(ReplayClock()() - datetime.now(timezone.utc)) < timedelta(seconds=5)


# -- accounts ------------------------------------------------------------------


def test_a_failing_account_backs_off_without_stopping_the_others(world):
    world.sources["work"].fail_on_enter = SourceError("work: server down")
    world.sources["home"].add(INBOX, raw_mail("h1", sender="bob@y.org", date=utc(2026, 3, 17)))
    daemon = world.daemon()
    daemon.start()
    work, home = daemon.scan_pass()
    assert work.error and home.error is None and home.messages == 1
    assert world.opened == {"work": 1, "home": 1}
    retry_at = daemon.backoff.retry_at("work")
    world.clock.advance(seconds=30)
    daemon.tick()
    assert world.opened["work"] == 1  # still pausing
    world.sources["home"].add(INBOX, raw_mail("h2", sender="bob@y.org", date=utc(2026, 3, 18)))
    world.sources["work"].fail_on_enter = SourceError("work: server down")  # one-shot: again
    world.clock.moment = retry_at
    daemon.tick()
    assert world.opened["work"] == 2 and daemon.backoff.failures("work") == 2
    world.sources["work"].fail_on_enter = None
    world.clock.moment = daemon.backoff.retry_at("work")
    daemon.tick()
    assert daemon.backoff.failures("work") == 0
    with daemon.store.transaction():
        assert daemon.store.get_meta("health:work")["ok"] is True
    daemon.close()


# -- replies ---------------------------------------------------------------------


def test_a_reply_to_the_digest_is_carried_out_on_the_next_scan_and_confirmed(world):
    world.clock.moment = local(18, 7, 30)
    daemon = world.daemon()
    daemon.start()
    daemon.scan_pass()
    digest_id = daemon.digest_job(scan_first=False)
    assert digest_id
    world.sources["work"].add(INBOX, raw_mail(
        "reply1", sender=ME, date=local(18, 8, 0), subject="Re: test digest",
        body="done 1\nwhat is this?\n\nOn Wed, kept wrote:\n> 1. I'll send you the article.\n",
        headers={"In-Reply-To": digest_id, "References": digest_id},
    ))
    world.clock.moment = local(18, 7, 46)
    daemon.tick()  # the 15-minute scan
    [promise] = list(daemon.store.promises())
    assert promise.status == "done"
    with daemon.store.transaction():
        notes = daemon.store.get_meta("pending_notes")
    assert any("Marked #1 done" in n for n in notes) and any("what is this?" in n for n in notes)
    world.clock.moment = local(19, 7, 30)
    daemon.tick()
    tomorrow = world.outbox.sent[-1]
    assert "Marked #1 done" in tomorrow.get_content()
    with daemon.store.transaction():
        assert daemon.store.get_meta("pending_notes") == []
    daemon.close()


def test_a_forged_reply_changes_nothing(world):
    world.clock.moment = local(18, 7, 30)
    daemon = world.daemon()
    daemon.start()
    daemon.scan_pass()
    digest_id = daemon.digest_job(scan_first=False)
    world.sources["work"].add(INBOX, raw_mail(
        "forged", sender="mallory@evil.example", date=local(18, 8, 0), body="done 1\n",
        headers={"In-Reply-To": digest_id},
    ))
    world.clock.moment = local(18, 7, 46)
    daemon.tick()
    [promise] = list(daemon.store.promises())
    assert promise.status == "open"
    with daemon.store.transaction():
        [note] = daemon.store.get_meta("pending_notes")
    assert "mallory@evil.example" in note
    daemon.close()


# -- signals and systemd ------------------------------------------------------------


def test_sighup_reload_keeps_the_old_config_when_the_new_one_is_broken(world, caplog):
    daemon = world.daemon()
    daemon.start()
    restore = _install_signal_handlers(daemon)
    try:
        world.config.write_text("[kept]\naddresses = 42\n", encoding="utf-8")
        os.kill(os.getpid(), signal.SIGHUP)
        daemon.tick()
        assert daemon.settings.daemon.scan_every_minutes == 15
        assert "still running on the old one" in caplog.text
        write_config(world.config, every=5)
        os.kill(os.getpid(), signal.SIGHUP)
        daemon.tick()
        assert daemon.settings.daemon.scan_every_minutes == 5
        assert daemon.scheduler.idle_seconds <= 5 * 60
    finally:
        restore()
        daemon.close()


@pytest.mark.parametrize("broken", [
    b"[kept]\naddresses = [\"m\xe9@example.com\"]\n",  # not UTF-8
    ("[kept]\naddresses = [\"me@x.org\"]\ntimezone = \"" + "A" * 10_000 + "\"\n").encode(),
    CONFIG.format(me=ME, every=5, send_empty="false").replace("[digest]", "max_message_mb = inf\n[digest]").encode(),
], ids=["not-utf8", "long-zone", "inf"])
def test_a_reload_that_cannot_read_the_file_keeps_the_daemon_running(world, caplog, broken):
    daemon = world.daemon()
    daemon.start()
    try:
        world.config.write_bytes(broken)
        daemon.request_reload()
        daemon.tick()
        assert daemon.settings.daemon.scan_every_minutes == 15
        assert "still running on the old one" in caplog.text
        write_config(world.config, every=5)
        daemon.request_reload()
        daemon.tick()
        assert daemon.settings.daemon.scan_every_minutes == 5
    finally:
        daemon.close()


def test_a_bug_in_the_config_reader_does_not_stop_the_daemon(world, caplog, monkeypatch):
    daemon = world.daemon()
    daemon.start()

    def broken_reader(path):
        raise RuntimeError("a bug in the config reader")

    monkeypatch.setattr("kept.daemon.run.load_settings", broken_reader)
    try:
        daemon.request_reload()
        daemon.tick()
        assert daemon.settings.daemon.scan_every_minutes == 15
        assert "not reloading" in caplog.text and "a bug in the config reader" in caplog.text
        world.clock.advance(minutes=16)
        daemon.tick()  # the loop goes on with the old configuration
    finally:
        daemon.close()


class StopsAfterFirstBatch:
    """A source that hands out 2 messages per batch and sends SIGTERM after the first."""

    def __init__(self, inner: MemorySource) -> None:
        self.inner = inner
        self.account = inner.account
        self.batches = 0

    def __enter__(self):
        self.inner.__enter__()
        return self

    def __exit__(self, *exc_info):
        self.inner.__exit__(*exc_info)

    def folders(self):
        return self.inner.folders()

    def pending(self, folder, cursor):
        return self.inner.pending(folder, cursor)

    def fetch(self, folder, cursor, batch_size=200):
        for batch in self.inner.fetch(folder, cursor, 2):
            self.batches += 1
            if self.batches == 1:
                os.kill(os.getpid(), signal.SIGTERM)
            yield batch


def test_sigterm_in_the_middle_of_a_scan_finishes_the_batch_and_saves_the_cursor(world, tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    inbox = MemorySource("work", folders=(INBOX,))
    for n in range(6):
        inbox.add(INBOX, raw_mail(f"m{n}", sender="bob@y.org", date=utc(2026, 3, 1 + n)))
    world.sources = {"work": StopsAfterFirstBatch(inbox), "home": MemorySource("home")}
    previous = signal.getsignal(signal.SIGTERM)
    code = run(world.config, clock=world.clock, source_factory=world.source_for,
               extractor_factory=lambda settings: SendPromises(), build=fake_build, render=fake_render,
               sender_factory=lambda settings: world.outbox)
    assert code == 0
    assert signal.getsignal(signal.SIGTERM) is previous
    assert world.sources["work"].batches == 1 and "home" not in world.opened
    store = world.db()
    try:
        assert store.count_messages() == {"sent": 0, "received": 2}
        assert store.get_cursor("work", "INBOX")["last_uid"] == 2
    finally:
        store.close()
    messages = []
    while True:
        try:
            messages.append(listener.recv(4096).decode())
        except TimeoutError:
            break
        if messages[-1] == "STOPPING=1":
            break
    listener.close()
    assert messages[0] == "READY=1" and messages[-1] == "STOPPING=1"
    # The next run reads the rest, without duplicates.
    world.sources["work"] = inbox
    assert run(world.config, once=True, clock=world.clock, source_factory=world.source_for,
               extractor_factory=lambda settings: SendPromises(), build=fake_build, render=fake_render,
               sender_factory=lambda settings: world.outbox) == 0
    store = world.db()
    try:
        assert store.count_messages() == {"sent": 0, "received": 6}
    finally:
        store.close()


def test_watchdog_heartbeats_in_the_loop(world, tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # 1 s: heartbeat every 0.5 s
    daemon = world.daemon()
    daemon.start()
    assert listener.recv(64) == b"READY=1"
    assert 0 <= daemon.tick() <= 0.5

    def heartbeats():
        messages = []
        listener.settimeout(0.05)
        try:
            while True:
                messages.append(listener.recv(64))
        except TimeoutError:
            return messages.count(b"WATCHDOG=1")

    assert heartbeats() == 1
    daemon.tick()
    assert heartbeats() == 0  # not yet due again
    time.sleep(0.5)
    daemon.tick()
    assert heartbeats() == 1
    daemon.close()
    listener.close()


def test_once_mode_exit_code_reports_failed_accounts(world):
    world.sources["home"].fail_on_enter = SourceError("home: down")
    world.clock.moment = local(18, 12, 0)
    assert run(world.config, once=True, clock=world.clock, source_factory=world.source_for,
               extractor_factory=lambda settings: SendPromises(), build=fake_build, render=fake_render,
               sender_factory=lambda settings: world.outbox) == 5
    assert len(world.outbox.sent) == 1  # the missed digest still went out


def test_a_reply_that_cannot_be_carried_out_never_stops_the_scan(world, monkeypatch):
    import kept.daemon.replies as replies_module

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    world.clock.moment = local(18, 7, 30)
    daemon = world.daemon()
    daemon.start()
    daemon.scan_pass()
    digest_id = daemon.digest_job(scan_first=False)
    monkeypatch.setattr(replies_module, "mark_promise_done", broken)
    world.sources["work"].add(INBOX, raw_mail("reply1", sender=ME, date=local(18, 8, 0), body="done 1\n",
                                              headers={"In-Reply-To": digest_id}))
    world.sources["work"].add(INBOX, raw_mail("later", sender="bob@y.org", date=local(18, 8, 1)))
    [work, home] = daemon.scan_pass()
    assert work.error is None and work.messages == 2
    with daemon.store.transaction():
        [note] = daemon.store.get_meta("pending_notes")
    assert "could not carry out your reply" in note
    assert [p.status for p in daemon.store.promises()] == ["open"]
    daemon.close()


def test_watchdog_heartbeats_keep_coming_inside_a_long_batch(world, tmp_path, monkeypatch):
    """A batch of mail that is slow to read (large HTML, from anyone) must not
    starve the watchdog: systemd would kill the daemon mid-batch, the restart
    would read the same batch again, and so on forever."""
    from kept.extractors.message import parse_message
    from kept.models import RawMessage

    timeout = 2.0  # WatchdogSec: a heartbeat is due every second
    html = "<p>Are you <b>coming</b> to the meeting, or not?</p>\n" * 6_000
    slow = raw_mail("big-0", sender="news@x.org", date=local(17, 9, 0), body=html)
    started = time.monotonic()
    parse_message(RawMessage(uid="0", data=slow, internal_date=None), account="work", role="received", folder="INBOX")
    per_message = time.monotonic() - started
    # Enough messages that the batch takes well over the watchdog timeout.
    count = max(4, int(3 * timeout / per_message) + 1)
    inbox = MemorySource("work")
    for n in range(count):
        inbox.add(INBOX, raw_mail(f"big-{n}", sender=f"news{n}@x.org", date=local(17, 9, n % 60), body=html))
    world.sources["work"] = inbox
    monkeypatch.setenv("KEPT_SCAN_BATCH", str(count))  # one batch

    path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(0.05)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", str(int(timeout * 1_000_000)))
    heartbeats: list[float] = []

    def listen() -> None:
        while not done:
            try:
                if listener.recv(64) == b"WATCHDOG=1":
                    heartbeats.append(time.monotonic())
            except TimeoutError:
                pass

    import threading

    done = False
    thread = threading.Thread(target=listen)
    thread.start()
    daemon = world.daemon()
    try:
        daemon.start()
        begin = time.monotonic()
        daemon.scan_pass()
        end = time.monotonic()
    finally:
        done = True
        thread.join()
        daemon.close()
        listener.close()
    assert end - begin > timeout, "the batch was too quick to test the watchdog"
    moments = [begin] + [t for t in heartbeats if begin <= t <= end] + [end]
    longest = max(b - a for a, b in zip(moments, moments[1:]))
    assert longest < timeout, f"no heartbeat for {longest:.1f} s of a {end - begin:.1f} s batch"
