"""No single message stops a scan, message dates are sane, and the scan says what it saved.

Each hostile message here fails a different step of the scan (parse,
extract, thread, store, or the date arithmetic of a year-9999 Date); the
rest of its batch must be stored, the cursor must move past it and the
problem must be recorded for ``kept status``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import kept.daemon.prepare as prepare_module
import kept.daemon.scan as scan_module
from kept.cli import main
from kept.daemon.scan import Scanner
from kept.daemon.scan_pool import pool_supported
from kept.errors import StorageWriteError
from kept.daemon.threader import Threader
from kept.mailboxes.base import Folder
from kept.mailboxes.factory import source_for
from kept.mailboxes.memory import MemorySource
from kept.models import PromiseCandidate
from kept.settings import MaildirAccount, Settings
from kept.storage import tinydb_store
from kept.storage.base import scan_problems
from kept.storage.memory import MemoryStore
from kept.storage.tinydb_store import TinyDBStore

from tests.helpers import ME, raw_mail, utc

INBOX = Folder("INBOX", "received")
SENT = Folder("Sent", "sent")
NOW = utc(2026, 3, 20)
FAR_FUTURE = b"Fri, 31 Dec 9999 23:59:59 +0000"


class BombExtractor:
    """Every "I'll send ..." sentence is a promise; a text saying EXTRACT-BOMB breaks the extractor."""

    def extract_many(self, items):
        for text, _sent_at in items:
            if "EXTRACT-BOMB" in text:
                raise RuntimeError("the model choked")
            yield [
                PromiseCandidate(sentence=m.group(0), action=m.group(1), kind="deliver", due=None,
                                 due_text=None, confidence=0.9, rule_id="test-send")
                for m in re.finditer(r"I'll (send [^.]*)\.", text)
            ]


def settings_for(*accounts: MaildirAccount, database: Path = Path("/dev/null"), tz: str = "UTC") -> Settings:
    return Settings(path=Path("/dev/null"), addresses=(ME,), database=database, timezone=tz,
                    accounts=accounts or (MaildirAccount(name="acct", path=Path("/nonexistent")),))


def with_date(data: bytes, date: bytes) -> bytes:
    return re.sub(rb"^Date: [^\r\n]*", b"Date: " + date, data, count=1, flags=re.MULTILINE)


@pytest.fixture(params=["memory", "tinydb"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryStore()
    else:
        store = TinyDBStore(tmp_path / "db" / "kept.json")
        yield store
        store.close()


def test_a_sent_message_dated_in_year_9999_is_stored_with_a_sane_date(store):
    # Berlin is ahead of UTC: 9999-12-31 23:59:59 UTC has no local date at all.
    source = MemorySource("acct")
    source.add(SENT, with_date(raw_mail("far", sender=ME, to="anna@x.org", date=utc(2026, 3, 1),
                                        body="I'll send you the report.\n"), FAR_FUTURE),
               internal_date=utc(2026, 3, 2, 9, 0))
    source.add(SENT, raw_mail("ok", sender=ME, to="ben@x.org", date=utc(2026, 3, 3),
                              body="I'll send you the notes.\n"))
    scanner = Scanner(settings_for(tz="Europe/Berlin"), store, extractor_factory=BombExtractor,
                      source_factory=lambda account: source, now=lambda: NOW)
    [result] = scanner.scan_all()
    assert result.error is None and (result.messages, result.promises, result.skipped) == (2, 2, 0)
    far = store.get_message("acct", "<far@test>")
    assert far.date == utc(2026, 3, 2, 9, 0)  # when it arrived
    assert "implausible Date header (9999-12-31)" in far.problems
    assert scan_problems(store) == []
    # A later scan runs as usual (the batch and its cursor were committed).
    source.add(SENT, raw_mail("later", sender=ME, to="anna@x.org", date=utc(2026, 3, 4)))
    assert scanner.scan_all()[0].messages == 1


# The pool case: one message per batch, and the rest of each folder after
# its first message goes to two worker processes, where parsing and
# extraction fail; the scanning process must record and log each failure
# exactly as when it does the work itself.
ALONE_AND_POOLED = [
    pytest.param({}, id="one-process"),
    pytest.param({"workers": 2, "pool_after": 1, "batch_size": 1}, id="workers",
                 marks=pytest.mark.skipif(not pool_supported(), reason="worker processes need fork")),
]


@pytest.mark.parametrize("scanning", ALONE_AND_POOLED)
def test_messages_failing_each_step_are_skipped_and_recorded_and_the_rest_is_stored(
    store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, scanning: dict[str, int]
):
    source = MemorySource("acct")
    add = source.add
    add(INBOX, raw_mail("q", sender="anna@x.org", date=utc(2026, 3, 1), subject="Report?",
                        body="Could you send me the report?\n"))
    parse_uid = add(INBOX, raw_mail("parse-bomb", sender="eve@x.org", date=utc(2026, 3, 2), body="PARSE-BOMB\n"))
    thread_uid = add(INBOX, raw_mail("thread-bomb", sender="eve@x.org", date=utc(2026, 3, 3)))
    store_uid = add(INBOX, raw_mail("store-bomb", sender="anna@x.org", date=utc(2026, 3, 4), subject="Report?"))
    add(INBOX, raw_mail("r", sender="ben@x.org", date=utc(2026, 3, 5), subject="Lunch"))
    add(SENT, raw_mail("p", sender=ME, to="anna@x.org", date=utc(2026, 3, 6), subject="Re: Report?",
                       in_reply_to="q", body="I'll send you the report on Monday.\n"))
    extract_uid = add(SENT, raw_mail("extract-bomb", sender=ME, to="ben@x.org", date=utc(2026, 3, 7),
                                     body="EXTRACT-BOMB. I'll send you nothing.\n"))
    add(SENT, with_date(raw_mail("far", sender=ME, to="ben@x.org", date=utc(2026, 3, 8),
                                 body="I'll send you the slides.\n"), FAR_FUTURE))

    real_parse = prepare_module.parse_message

    def parse(raw, **kwargs):
        if b"PARSE-BOMB" in raw.data:
            raise MemoryError("a parser bug")
        return real_parse(raw, **kwargs)

    real_add = Threader.add

    def thread(self, message, *args, **kwargs):
        if message.message_id == "<thread-bomb@test>":
            raise RecursionError("threads all the way down")
        return real_add(self, message, *args, **kwargs)

    def on_new_message(message):
        # Runs after the message's thread and record were written: both must be taken back.
        if message.message_id == "<store-bomb@test>":
            raise KeyError("reply handler")

    monkeypatch.setattr(prepare_module, "parse_message", parse)
    monkeypatch.setattr(Threader, "add", thread)
    pools = []
    real_pool = scan_module.OrderedPool
    monkeypatch.setattr(scan_module, "OrderedPool", lambda *args, **kw: pools.append(1) or real_pool(*args, **kw))
    scanner = Scanner(settings_for(tz="Europe/Berlin"), store, extractor_factory=BombExtractor,
                      source_factory=lambda account: source, now=lambda: NOW, **scanning)
    scanner.on_new_message = on_new_message
    caplog.set_level(logging.WARNING, logger="kept.daemon.scan")

    [result] = scanner.scan_all()
    assert len(pools) == (1 if scanning else 0) and not scanner.pool_broken  # one for INBOX and Sent

    assert result.error is None
    assert (result.messages, result.skipped, result.promises) == (4, 4, 2)
    stored = {m for m in ("q", "r", "p", "far") if store.has_message("acct", f"<{m}@test>")}
    assert stored == {"q", "r", "p", "far"}
    for bomb in ("thread-bomb", "store-bomb", "extract-bomb"):
        assert not store.has_message("acct", f"<{bomb}@test>")
    threaded = {item.message_id for t in store.threads() for item in t.messages}
    assert threaded == {"<q@test>", "<r@test>", "<p@test>", "<far@test>"}
    assert sorted(p.sentence for p in store.promises()) == [
        "I'll send you the report on Monday.", "I'll send you the slides."]
    problems = {(p.folder, p.uid): p for p in scan_problems(store)}
    assert {key: (p.step, p.message_id) for key, p in problems.items()} == {
        ("INBOX", parse_uid): ("parse", ""),
        ("INBOX", thread_uid): ("thread", "<thread-bomb@test>"),
        ("INBOX", store_uid): ("store", "<store-bomb@test>"),
        ("Sent", extract_uid): ("extract", "<extract-bomb@test>"),
    }
    assert problems[("INBOX", parse_uid)].reason == "MemoryError: a parser bug"
    assert problems[("INBOX", thread_uid)].reason == "RecursionError: threads all the way down"
    assert problems[("Sent", extract_uid)].reason == "RuntimeError: the model choked"
    assert all(p.at == NOW and p.account == "acct" for p in problems.values())
    skipped_lines = [r for r in caplog.records if "skipped message" in r.getMessage()]
    assert len(skipped_lines) == 4

    # The cursor moved past them: the next scan reads nothing and logs nothing.
    caplog.clear()
    again = scanner.scan_all()[0]
    assert (again.messages, again.skipped, again.seen) == (0, 0, 0)
    assert not [r for r in caplog.records if "skipped message" in r.getMessage()]
    assert len(scan_problems(store)) == 4


def test_a_failing_database_still_fails_the_batch(monkeypatch: pytest.MonkeyPatch):
    store = MemoryStore()
    source = MemorySource("acct")
    source.add(INBOX, raw_mail("a", sender="anna@x.org", date=utc(2026, 3, 1)))
    real_put = store.put_message

    def put_message(message):
        real_put(message)
        raise StorageWriteError("could not write the database: the disk is full")

    monkeypatch.setattr(store, "put_message", put_message)
    scanner = Scanner(settings_for(), store, extractor_factory=BombExtractor,
                      source_factory=lambda account: source, now=lambda: NOW)
    [result] = scanner.scan_all()
    assert result.error and "disk is full" in result.error
    assert (result.messages, result.skipped) == (0, 0)
    assert store.get_cursor("acct", "INBOX") is None and scan_problems(store) == []


def test_a_broken_date_takes_the_arrival_time_never_the_wall_clock(tmp_path: Path):
    """A Maildir copied today, scanned with the clock of a day in 2002 (``--now``)."""
    maildir = tmp_path / "Maildir"
    for folder in (maildir, maildir / ".Sent"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True)

    def deliver(name: str, date: bytes | None, mtime: float | None = None) -> None:
        data = raw_mail(name, sender="anna@x.org", date=utc(2001, 12, 1))
        data = with_date(data, date) if date else re.sub(rb"^Date: [^\r\n]*\r?\n", b"", data, flags=re.MULTILINE)
        path = maildir / "cur" / f"{name}:2,S"
        path.write_bytes(data)  # the file's time is now: the real clock
        if mtime is not None:
            os.utime(path, (mtime, mtime))

    replay_now = utc(2002, 1, 10, 8, 0)
    # Delivered 2001-09-11 17:12:32 UTC, by its name.
    deliver("1000228352.M1P1.host", b"yesterday-ish")
    deliver("garbled", b"yesterday-ish")
    deliver("future", FAR_FUTURE)
    deliver("undated", None, mtime=utc(2001, 12, 24, 12, 0).timestamp())
    deliver("fine", b"Sat, 15 Dec 2001 10:00:00 +0000")
    account = MaildirAccount(name="local", path=maildir)
    store = MemoryStore()
    scanner = Scanner(settings_for(account), store, extractor_factory=BombExtractor,
                      source_factory=source_for, now=lambda: replay_now)
    [result] = scanner.scan_all()
    assert result.error is None and result.messages == 5

    def date_of(name: str) -> datetime:
        return store.get_message("local", f"<{name}@test>").date

    assert date_of("1000228352.M1P1.host") == datetime.fromtimestamp(1000228352, tz=timezone.utc)
    assert date_of("garbled") == replay_now  # its file is from today: not after the clock
    assert date_of("future") == replay_now
    assert date_of("undated") == utc(2001, 12, 24, 12, 0)
    assert date_of("fine") == utc(2001, 12, 15, 10, 0)


# -- what `kept scan` reports ---------------------------------------------------


def write_config(folder: Path, accounts: int = 1) -> tuple[Path, Path]:
    maildir = folder / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
        (maildir / ".Sent" / sub).mkdir(parents=True, exist_ok=True)
    lines = [f'[kept]\naddresses = ["{ME}"]\ndatabase = "{folder / "db" / "kept.json"}"\n']
    lines += [f'[accounts.a{n}]\ntype = "maildir"\npath = "{maildir}"\n' for n in range(accounts)]
    config = folder / "config.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    config.chmod(0o600)
    folder.chmod(0o700)
    return config, maildir


def test_a_scan_that_could_not_save_does_not_report_new_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
):
    config, maildir = write_config(tmp_path)
    assert main(["--config", str(config), "--now", "2026-03-20T08:00:00+00:00", "scan"]) == 0
    (maildir / "cur" / "one:2,S").write_bytes(raw_mail("one", sender="anna@x.org", date=utc(2026, 3, 19)))

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    # The database folder turned read-only (a remount; root ignores chmod).
    monkeypatch.setattr(tinydb_store.os, "replace", read_only)
    capsys.readouterr()
    assert main(["--config", str(config), "--now", "2026-03-20T09:00:00+00:00", "scan"]) == 5
    out, err = capsys.readouterr()
    # The warning goes through logging; which stream its handler holds depends on the tests run before.
    assert "nothing from this run was saved" in err + caplog.text
    assert "0 new messages" in out and "1 new messages" not in out
    monkeypatch.undo()
    assert main(["--config", str(config), "--now", "2026-03-20T10:00:00+00:00", "scan"]) == 0
    assert "1 new messages" in capsys.readouterr().out


def test_the_reported_scan_time_is_the_real_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    config, _maildir = write_config(tmp_path, accounts=3)
    real_record = Scanner._record_health

    def slow_record(self, account, result):
        time.sleep(0.4)  # writing the account's health: after its own time was taken
        return real_record(self, account, result)

    monkeypatch.setattr(Scanner, "_record_health", slow_record)
    started = time.monotonic()
    assert main(["--config", str(config), "--now", "2026-03-20T08:00:00+00:00", "scan"]) == 0
    elapsed = time.monotonic() - started
    reported = float(re.search(r"in ([\d.]+) s", capsys.readouterr().out).group(1))
    assert 1.2 <= reported <= elapsed + 0.05


def test_empty_accounts_cost_one_database_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Writing each account's health and history cutoff on its own made 10,000 empty accounts take 110 s."""
    config, _maildir = write_config(tmp_path, accounts=40)
    TinyDBStore(tmp_path / "db" / "kept.json").close()  # created, empty
    writes = []
    real_write = tinydb_store._write_atomically

    def counting(path, payload, mtime_ns):
        writes.append(path)
        return real_write(path, payload, mtime_ns)

    monkeypatch.setattr(tinydb_store, "_write_atomically", counting)
    for hour, written in ((8, ["kept.pass.json", "kept.json"]), (9, ["kept.pass.json"])):
        writes.clear()
        assert main(["--config", str(config), "--now", f"2026-03-20T{hour:02}:00:00+00:00", "scan"]) == 0
        # The first scan writes the history cutoffs (main file) and the health (pass file); the next only the health.
        assert [path.name for path in writes] == written
    store = TinyDBStore(tmp_path / "db" / "kept.json")
    try:
        assert all(store.get_meta(f"history_before:a{n}") == "2026-03-06T08:00:00+00:00" for n in range(40))
        assert all(store.get_meta(f"health:a{n}")["last_ok"] == "2026-03-20T09:00:00+00:00" for n in range(40))
    finally:
        store.close()


def test_kept_status_lists_the_skipped_messages_as_plain_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    config, maildir = write_config(tmp_path)
    # A file name is the message's id in a Maildir, and may hold a terminal escape (an OSC 8 link).
    hostile_name = "1773900000.\x1b]8;;evil.example\x07x\x1b]8;;\x07.host:2,S"
    (maildir / "cur" / hostile_name).write_bytes(
        raw_mail("bomb", sender="eve@x.org", date=utc(2026, 3, 19), subject="\x1b[5mblink"))
    (maildir / "cur" / "fine:2,S").write_bytes(raw_mail("fine", sender="anna@x.org", date=utc(2026, 3, 19)))
    real_add = Threader.add

    def thread(self, message, *args, **kwargs):
        if message.message_id == "<bomb@test>":
            raise ValueError("bad \x1b[31mthread\x1b[0m\nsecond line")
        return real_add(self, message, *args, **kwargs)

    monkeypatch.setattr(Threader, "add", thread)
    now = ["--now", "2026-03-20T08:00:00+00:00"]
    assert main(["--config", str(config), *now, "scan"]) == 0
    assert "1 new messages" in capsys.readouterr().out
    monkeypatch.undo()
    assert main(["--config", str(config), *now, "status"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    [line] = [line for line in out.splitlines() if "<bomb@test>" in line]
    # Controls are shown as escapes (`kept.terminal`): the file can still be found by its name.
    assert line == ("  2026-03-20 08:00 a0 INBOX 1773900000.\\x1b]8;;evil.example\\x07x\\x1b]8;;\\x07.host <bomb@test>: "
                    "thread failed: ValueError: bad [31mthread[0m second line")
    assert "skipped       1 messages a scan could not read" in out
    assert main(["--config", str(config), *now, "status", "--json"]) == 0
    [problem] = json.loads(capsys.readouterr().out)["skipped_messages"]
    assert (problem["step"], problem["message_id"], problem["folder"]) == ("thread", "<bomb@test>", "INBOX")
