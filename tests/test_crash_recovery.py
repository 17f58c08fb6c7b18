"""`kill -9` during a backfill, again and again: nothing lost, nothing doubled, the file always readable.

A generated Maildir of 1,200 messages (benchmarks/generate_mailbox.py) is
scanned once without interruption for reference. Then the same mailbox is
scanned into a second database by ``kept scan`` and ``kept run --once``
subprocesses that are SIGKILLed at random moments, 20 times, with small
batches (``KEPT_SCAN_BATCH``) so most kills land in the middle of the
backfill; after every kill the database must load, and a final
uninterrupted run must leave exactly the reference's records: message ids,
thread keys and their messages, promise ids with their status, cursors.
Messages move to the second file (kept.messages.json) every few batches
(``KEPT_HOT_MESSAGES``), so kills also hit those two-file commits.

The deleted and garbage database cases check that kept refuses to start
from zero and points to ``kept rebuild``, which recovers.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks.generate_mailbox import MailboxGenerator, write_maildir
from kept.cli import main
from kept.storage.tinydb_store import TinyDBStore
from tests.helpers import without_listing

NOW = "2026-03-18T07:10:00+00:00"  # before the default digest time: `run --once` only scans
MESSAGES = 1200
KILLS = 20
KEPT = [sys.executable, "-m", "kept.cli"]

pytestmark = pytest.mark.slow


def write_config(path: Path, maildir: Path, database: Path) -> Path:
    path.write_text(
        f"""\
[kept]
addresses = ["me@home.example"]
timezone = "UTC"
database = "{database}"

[accounts.generated]
type = "maildir"
path = "{maildir}"
inbox = ""
sent = ".Sent"
""",
        encoding="utf-8",
    )
    return path


def comparable(database: Path) -> dict[str, Any]:
    """The records that must match between an interrupted and an uninterrupted backfill."""
    store = TinyDBStore(database)
    try:
        exported = store.export()
    finally:
        store.close()
    return {
        "messages": sorted((m["account"], m["message_id"], m["thread_key"]) for m in exported["messages"]),
        "threads": sorted(
            (t["key"], tuple(sorted(m["message_id"] for m in t["messages"]))) for t in exported["threads"]
        ),
        "promises": sorted((p["id"], p["status"], p.get("closed_at")) for p in exported["promises"]),
        "cursors": sorted(json.dumps(without_listing(c), sort_keys=True) for c in exported["cursors"]),
    }


def wait_for_commits(database: Path, process: subprocess.Popen, commits: int, timeout: float = 30.0) -> None:
    """Wait until `database` was rewritten `commits` times, or the process ended."""
    def signature() -> tuple[int, int] | None:
        try:
            status = database.stat()
        except FileNotFoundError:
            return None
        return status.st_ino, status.st_mtime_ns

    last = signature()
    deadline = time.monotonic() + timeout
    while commits and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
        current = signature()
        if current != last and current is not None:
            commits -= 1
        last = current


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated") / "Maildir"
    write_maildir(iter(MailboxGenerator(MESSAGES, seed=11)), root)
    return root


@pytest.fixture(scope="module")
def reference(mailbox: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    state = tmp_path_factory.mktemp("reference")
    config = write_config(state / "config.toml", mailbox, state / "kept.json")
    assert main(["--config", str(config), "--now", NOW, "scan", "-q"]) == 0
    records = comparable(state / "kept.json")
    assert len(records["messages"]) == MESSAGES
    assert records["promises"], "the generated mailbox must hold promises"
    return records


def test_kill_9_at_random_points_then_restart_gives_the_uninterrupted_result(
    mailbox: Path, reference: dict[str, Any], tmp_path: Path
) -> None:
    database = tmp_path / "state" / "kept.json"
    config = write_config(tmp_path / "config.toml", mailbox, database)
    # Messages move to the message file every 50 (three batches), so kills
    # also land in the middle of those two-file commits.
    environment = {**os.environ, "KEPT_SCAN_BATCH": "20", "KEPT_HOT_MESSAGES": "50"}
    rng = random.Random(20260318)
    stored_after_kill = []
    for attempt in range(KILLS):
        command = ["scan", "-q"] if attempt % 2 == 0 else ["run", "--once"]
        process = subprocess.Popen(
            [*KEPT, "--config", str(config), "--now", NOW, *command],
            env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        # Let it commit one to three batches, then kill it at a random moment
        # of what follows: parsing, model loading, extraction or a write.
        wait_for_commits(database, process, rng.randint(1, 3))
        time.sleep(rng.uniform(0.0, 0.25))
        process.send_signal(signal.SIGKILL)
        _, errors = process.communicate(timeout=30)
        assert b"Traceback" not in errors, errors.decode(errors="replace")
        if database.exists():
            # Readable every time: loads, and its records decode.
            stored_after_kill.append(len(comparable(database)["messages"]))
    # Most kills must have hit a backfill in progress, or this proves little.
    assert sum(0 < n < MESSAGES for n in stored_after_kill) >= KILLS // 2, stored_after_kill
    assert stored_after_kill == sorted(stored_after_kill), "a restart lost stored messages"
    print("messages stored after each kill:", stored_after_kill)

    finished = subprocess.run(
        [*KEPT, "--config", str(config), "--now", NOW, "scan", "-q"],
        env=environment, capture_output=True, timeout=120,
    )
    assert finished.returncode == 0, finished.stderr.decode(errors="replace")
    assert not list(database.parent.glob(".kept.json.*.tmp")), "temporary files of killed writers were left"
    assert not (database.parent / "kept.messages.json.next").exists(), "an unfinished message file was left"
    assert (database.parent / "kept.messages.json").exists()
    assert comparable(database) == reference
    # The party index was committed with the messages every time: it counts each stored message once.
    store = TinyDBStore(database)
    try:
        assert dict(store.party_counts()) == Counter(store.message_parties())
    finally:
        store.close()


def test_deleted_database_is_refused_not_rescanned_from_zero(
    mailbox: Path, reference: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "state" / "kept.json"
    config = write_config(tmp_path / "config.toml", mailbox, database)
    TinyDBStore(database).close()
    database.unlink()
    for command in (["scan", "-q"], ["run", "--once"], ["digest", "--preview"]):
        assert main(["--config", str(config), "--now", NOW, *command]) == 4
        error = capsys.readouterr().err
        assert "missing, but kept has used it before" in error and "kept rebuild" in error
        assert not database.exists()
    assert main(["--config", str(config), "--now", NOW, "rebuild", "--yes"]) == 0
    assert comparable(database) == reference


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 4096, b'{"messages": {"x": 1}}', b"not json at all"])
def test_garbage_database_is_refused(
    mailbox: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], garbage: bytes
) -> None:
    database = tmp_path / "state" / "kept.json"
    config = write_config(tmp_path / "config.toml", mailbox, database)
    TinyDBStore(database).close()
    database.write_bytes(garbage)
    assert main(["--config", str(config), "--now", NOW, "run", "--once"]) == 4
    error = capsys.readouterr().err
    assert "damaged" in error and "kept rebuild" in error
    assert database.read_bytes() == garbage


def test_rebuild_sets_garbage_aside_and_rescans(
    mailbox: Path, reference: dict[str, Any], tmp_path: Path
) -> None:
    database = tmp_path / "state" / "kept.json"
    config = write_config(tmp_path / "config.toml", mailbox, database)
    TinyDBStore(database).close()
    database.write_bytes(b"\x00" * 4096)
    assert main(["--config", str(config), "--now", NOW, "rebuild", "--yes"]) == 0
    assert comparable(database) == reference
    assert [p.read_bytes() for p in database.parent.glob("kept.json.broken-*")] == [b"\x00" * 4096]
    assert main(["--config", str(config), "--now", NOW, "scan", "-q"]) == 0
