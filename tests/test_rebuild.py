"""``kept rebuild`` keeps what the user told kept.

A rebuild reads all mail again; it used to forget every correction the user
had made: promises done, snoozed or dismissed, conversations done or
snoozed, nudges dismissed or done, and, because a rebuilt database
starts a new history, which old mail is history. Replies to the digest were
carried out a second time, closing again a conversation that new mail had
reopened.

The end-to-end test scans the sample mailbox, sends a digest, applies each
kind of correction from the command line and by a reply to the digest,
lets new mail reopen a conversation, and compares everything the command
line lists before and after ``kept rebuild --yes``: it must be identical.
A reply to the digest sent before the rebuild still resolves after it.

The other tests take the carrying over apart on memory stores: conversations
whose key changed (the rebuild reads mail in another order), promises whose
id changed, a dismissed sentence the scan never raises again, mail after a
conversation was closed, an interrupted rebuild, a pass that did not read
every account.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from kept.cli import main
from kept.clock import parse_now
from kept.config import load_settings
from kept.daemon.rebuild import CARRIED_KEY, apply_carried, carried_waiting, carry_over
from kept.daemon.run import send_digest_if_due
from kept.models import Introduction, Lead, MailMessage, Promise, Thread, ThreadMessage
from kept.storage.aside import SetAside, read_set_aside
from kept.storage.memory import MemoryStore
from kept.storage.tinydb_store import TinyDBStore
from tests.helpers import demo_config, raw_mail, utc

NOW = "2026-11-20T07:30:00+01:00"  # the digest goes out; corrections by command and by reply
LATER = "2026-11-20T10:00:00+01:00"  # new mail reopens a conversation the reply closed
# A week on: the rebuild's own first scan would put history's end a week later.
REBUILT = "2026-11-27T09:00:00+01:00"
SAM = "sam@rivera-consulting.example"
MAILDIR = Path(__file__).resolve().parent.parent / "examples" / "sample-maildir"


class Outbox:
    """Where the digest goes instead of an SMTP server."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


def kept(config: Path, capsys: pytest.CaptureFixture[str], now: str, *args: str) -> str:
    capsys.readouterr()
    assert main(["--config", str(config), "--now", now, *args]) == 0, args
    return capsys.readouterr().out


def listed(config: Path, capsys: pytest.CaptureFixture[str], now: str, *args: str) -> Any:
    return json.loads(kept(config, capsys, now, *args, "--json"))


def send_digest(config: Path) -> tuple[str, dict[int, str]]:
    """Send the digest as the daemon does; return its Message-ID and its items: number -> first line."""
    settings = load_settings(config)
    outbox = Outbox()
    store = TinyDBStore(settings.database)
    try:
        message_id = send_digest_if_due(store, settings, parse_now(NOW), force=True,
                                        sender_factory=lambda _: outbox)
    finally:
        store.close()
    assert message_id
    body = outbox.sent[0].get_body(("plain",))
    assert body is not None
    text = str(body.get_content())
    return message_id, {int(m.group(1)): m.group(2) for m in re.finditer(r"^\[(\d+)\] (.*)$", text, re.MULTILINE)}


def number_of(items: dict[int, str], words: str) -> int:
    [number] = [n for n, line in items.items() if words in line]
    return number


def deliver(folder: Path, name: str, data: bytes) -> None:
    """Add a message to the inbox of the test's copy of the sample mailbox."""
    (folder / "mail" / "new" / f"{name}.eml").write_bytes(data)


def reply_to_digest(digest_id: str, body: str, name: str, when: datetime) -> bytes:
    return raw_mail(name, sender=SAM, to=SAM, date=when, subject="Re: your digest", body=body,
                    headers={"In-Reply-To": digest_id, "References": digest_id})


def everything_listed(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """What the command line lists, and the records and meta behind it (without what a scan stamps)."""
    state = {
        " ".join(args): listed(config, capsys, REBUILT, *args)
        for args in (("promises", "--all"), ("promises", "--stale"), ("promises", "--overdue"), ("threads",),
                     ("threads", "--waiting-on-them"), ("threads", "--stale"), ("nudges",), ("contacts",))
    }
    digest = listed(config, capsys, REBUILT, "digest", "--preview")
    digest.pop("generated_at")
    state["digest"] = digest
    status = listed(config, capsys, REBUILT, "status")
    state["status"] = {key: status[key] for key in ("messages", "threads", "promises", "waiting_on_me",
                                                     "waiting_on_them", "stale_waiting_on_me", "stale_waiting_on_them")}
    capsys.readouterr()
    assert main(["--config", str(config), "--now", REBUILT, "export"]) == 0
    data = json.loads(capsys.readouterr().out)
    for table in ("promises", "threads", "introductions", "leads"):
        state[f"export {table}"] = sorted(data[table], key=lambda record: json.dumps(record, sort_keys=True))
    stamped = ("last_scan", "promise_revision", "message_archive", "schema_version", "health:sample",
               "scan_problems", "database_id")
    state["meta"] = {key: value for key, value in data["meta"].items() if key not in stamped and value is not None}
    return state


@pytest.fixture()
def mailbox(tmp_path: Path) -> Path:
    """A config over a private copy of the sample mailbox (the test adds mail to it)."""
    config = demo_config(tmp_path)
    copy = tmp_path / "mail"
    for source in MAILDIR.rglob("*"):
        if source.is_file():
            target = copy / source.relative_to(MAILDIR)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    for sub in ("cur", "new", "tmp"):
        (copy / sub).mkdir(exist_ok=True)
    config.write_text(config.read_text(encoding="utf-8").replace(f'path = "{MAILDIR}"', f'path = "{copy}"'),
                      encoding="utf-8")
    return config


def test_kept_rebuild_lists_the_same_before_and_after(
    mailbox: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config = mailbox
    kept(config, capsys, NOW, "scan", "-q")
    digest_id, items = send_digest(config)
    promises = {p["sentence"]: p["id"] for p in listed(config, capsys, NOW, "promises", "--all")}
    threads = {t["subject"]: t["thread"] for t in listed(config, capsys, NOW, "threads")}

    def promise(words: str) -> str:
        [found] = [pid for sentence, pid in promises.items() if words in sentence]
        return found

    # Every kind of correction from the command line.
    kept(config, capsys, NOW, "promises", "done", promise("final copy tomorrow"))
    kept(config, capsys, NOW, "promises", "snooze", promise("call you next week"), "2026-12-15")
    kept(config, capsys, NOW, "promises", "dismiss", promise("lunch together soon"))
    kept(config, capsys, NOW, "threads", "done", threads["Feedback from the October workshop"])
    kept(config, capsys, NOW, "threads", "snooze", threads["AW: Schulung für unser Vertriebsteam"], "2026-12-10")
    kept(config, capsys, NOW, "threads", "mute", "hannah.schulz@stadtwerk-media.example")
    nudges = {n["kind"]: n["id"] for n in listed(config, capsys, NOW, "nudges")}
    kept(config, capsys, NOW, "nudges", "dismiss", nudges["introduction"])
    kept(config, capsys, NOW, "nudges", "done", nudges["lead"])  # thanked: now "report back"
    kept(config, capsys, NOW, "nudges", "snooze", nudges["keep-in-touch"], "2026-12-20")

    # And by a reply to the digest.
    kenji = number_of(items, "Kenji Watanabe")
    deliver(tmp_path, "reply1", reply_to_digest(digest_id, (
        f"done {number_of(items, 'article on pricing')}\n"
        f"snooze {number_of(items, 'agenda on Thursday')} 2026-12-12\n"
        f"done {kenji}\n"
        f"done {number_of(items, 'Q3 survey export')}\n"
    ), "reply1", utc(2026, 11, 20, 6, 40)))
    kept(config, capsys, NOW, "scan", "-q")
    assert "Kenji" not in json.dumps(listed(config, capsys, NOW, "threads"))
    # Kenji writes again: the conversation the reply closed is open again.
    deliver(tmp_path, "kenji2", raw_mail(
        "kenji2", sender="kenji@watanabe-ceramics.example", to=SAM, date=utc(2026, 11, 20, 8, 30),
        subject="Re: Rate card for 2027", body="Any news on the rate card? I need it for the printer.\n",
        headers={"In-Reply-To": "<20261113004000.kenji-rates@watanabe-ceramics.example>"}))
    kept(config, capsys, LATER, "scan", "-q")

    before = everything_listed(config, capsys)
    # The corrections are there to be lost.
    statuses = {p["sentence"][:20]: p["status"] for p in before["promises --all"]}
    assert sorted(statuses.values()).count("done") >= 2 and "dismissed" in statuses.values()
    assert "snoozed" in statuses.values()
    waiting = json.dumps(before["threads"])
    assert "Kenji" in waiting and "Isabel" not in waiting and "Hannah" not in waiting
    assert [i["status"] for i in before["export introductions"]] == ["dismissed"]
    assert [bool(lead["thanked_at"]) for lead in before["export leads"]] == [True]
    assert before["meta"]["keep_in_touch"] and before["meta"]["muted_contacts"]

    output = kept(config, capsys, REBUILT, "rebuild", "--yes")
    assert "Moved the old database to" in output
    assert "Carried over from the old database: what you said about" in output
    after = everything_listed(config, capsys)
    for name in before:
        assert after[name] == before[name], name

    # A reply to the digest sent before the rebuild still resolves.
    hugo = number_of(items, "Services agreement")
    subjects = [t["subject"] for t in listed(config, capsys, REBUILT, "threads", "--waiting-on-them")]
    assert "Re: Services agreement – draft" in subjects
    deliver(tmp_path, "reply2", reply_to_digest(digest_id, f"done {hugo}\n", "reply2", utc(2026, 11, 27, 7, 0)))
    kept(config, capsys, REBUILT, "scan", "-q")
    subjects = [t["subject"] for t in listed(config, capsys, REBUILT, "threads", "--waiting-on-them")]
    assert "Re: Services agreement – draft" not in subjects
    notes = json.loads(kept(config, capsys, REBUILT, "export"))["meta"]["pending_notes"]
    assert [note for note in notes if note.startswith(f"Marked #{hugo} done")], notes


# -- a rebuild killed while it moves the database aside ---------------------------------

# Run as its own process: kept rebuild, killed (SIGKILL) right after it renamed the file named in argv[1].
KILLED_REBUILD = """
import os, signal, sys
from pathlib import Path
from kept.cli import main

rename = Path.rename

def rename_then_die(self, target):
    result = rename(self, target)
    if self.name == sys.argv[1]:
        os.kill(os.getpid(), signal.SIGKILL)
    return result

Path.rename = rename_then_die
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("killed_after", ["kept.json", "kept.json.id"])
@pytest.mark.parametrize("next_command", [("scan", "-q"), ("run", "--once"), ("rebuild", "--yes"),
                                          ("threads", "mute", "someone@example.org")])
def test_a_rebuild_killed_while_it_moves_the_database_aside_loses_no_correction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], killed_after: str, next_command: tuple[str, ...],
) -> None:
    """Found by the model-based test: the corrections were in the copy set aside, and nothing read it.

    Killed after the main file moved (the marker still in place), every
    command refused to start and `kept rebuild` then had nothing to carry
    over; killed after the marker moved too (before the new database held
    what it carries over), the next scan started from zero. Either way
    every promise done, contact muted and digest sent was gone for good.
    """
    config = demo_config(tmp_path)
    kept(config, capsys, NOW, "scan", "-q")
    promise = next(p["id"] for p in listed(config, capsys, NOW, "promises") if p["status"] == "open")
    kept(config, capsys, NOW, "promises", "done", promise)
    kept(config, capsys, NOW, "threads", "mute", "hannah.schulz@stadtwerk-media.example")
    send_digest(config)
    before = json.loads(kept(config, capsys, NOW, "export"))

    child = subprocess.run(
        [sys.executable, "-c", KILLED_REBUILD, killed_after, "--config", str(config), "--now", NOW, "rebuild", "--yes"],
        capture_output=True, timeout=120, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert child.returncode == -9, child.stderr.decode(errors="replace")
    assert list(tmp_path.glob("kept.json.broken-*")), "the kill came before the move"

    if killed_after == "kept.json":
        # Between two renames: a reader says what happened and what finishes it.
        assert main(["--config", str(config), "--now", NOW, "status"]) == 4
        assert "kept rebuild that was interrupted" in capsys.readouterr().err
    kept(config, capsys, NOW, *next_command)
    if next_command[0] != "scan":
        kept(config, capsys, NOW, "scan", "-q")
    after = json.loads(kept(config, capsys, NOW, "export"))
    statuses = {p["id"]: p["status"] for p in after["promises"]}
    assert statuses == {p["id"]: p["status"] for p in before["promises"]}
    assert statuses[promise] == "done"
    assert "hannah.schulz@stadtwerk-media.example" in after["meta"]["muted_contacts"]
    assert after["meta"]["sent_digests"] == before["meta"]["sent_digests"]
    assert after["meta"]["last_digest_date"] == before["meta"]["last_digest_date"]
    assert not list(tmp_path.glob("kept.json.rebuilding*")), "the rebuild's note was left"


# -- the parts, on memory stores ------------------------------------------------------

T0 = utc(2026, 3, 2, 9, 0)
NOW_DT = utc(2026, 3, 20, 9, 0)


def a_promise(pid: str, message: str, sentence: str = "I'll send you the report.", **fields: Any) -> Promise:
    values: dict[str, Any] = dict(
        id=pid, account="home", message_id=message, thread_key="t-old", sentence=sentence,
        action="send you the report", kind="deliver", counterparties=("anna@example.org",), made_at=T0,
        due=date(2026, 3, 6), due_is_default=False, confidence=0.9, rule_id="test",
    )
    values.update(fields)
    return Promise(**values)


def a_thread(key: str, *message_ids: str, **fields: Any) -> Thread:
    messages = tuple(
        ThreadMessage(message_id=m, role="received", date=T0 + timedelta(hours=n), sender="anna@example.org",
                      to=("me@home.example",))
        for n, m in enumerate(message_ids)
    )
    return Thread(key=key, account="home", subject="report", messages=messages, **fields)


def store_message(store: MemoryStore, message_id: str, role: str = "sent") -> None:
    store.put_message(MailMessage(
        account="home", role=role, folder="Sent", message_id=message_id, in_reply_to=None, references=(),
        from_addr=None, to=(), cc=(), date=T0, subject="report", body_text="",
    ))


def rebuilt(old: SetAside) -> MemoryStore:
    store = MemoryStore()
    carry_over(store, old)
    return store


def test_a_conversation_found_under_a_new_key_keeps_its_word_and_its_digest_number() -> None:
    """The rebuild read Anna's reply before the message that started the conversation: a new key."""
    old = SetAside(
        meta={"sent_digests": {"<kept-digest-1@x>": {"date": "2026-03-19", "index": [
            [1, "thread", "old-key"], [2, "thread", "other-old"], [3, "promise", "p-old"]]}}},
        threads=[a_thread("old-key", "<m1@x>", "<m2@x>", status="snoozed", snoozed_until=date(2026, 4, 1)),
                 a_thread("other-old", "<m5@x>")],
        promises=[a_promise("p-old", "<m1@x>", status="done", closed_at=T0)],
    )
    store = rebuilt(old)
    # What the scan stores again: the same mail under other keys and ids.
    store.put_thread(a_thread("new-key", "<m1@x>", "<m2@x>"))
    store.put_thread(a_thread("other-new", "<m5@x>"))
    store.put_promise(a_promise("p-new", "<m1@x>", sentence="I'll  send you the REPORT."))
    assert apply_carried(store, complete=True).total == 0

    thread = store.get_thread("new-key")
    assert thread is not None and (thread.status, thread.snoozed_until) == ("snoozed", date(2026, 4, 1))
    promise = store.get_promise("p-new")
    assert promise is not None and (promise.status, promise.closed_at) == ("done", T0)
    index = store.get_meta("sent_digests")["<kept-digest-1@x>"]["index"]
    assert index == [[1, "thread", "new-key"], [2, "thread", "other-new"], [3, "promise", "p-new"]]
    assert store.get_meta(CARRIED_KEY) is None


def test_a_dismissed_sentence_is_restored_as_it_was_when_its_message_was_read_again() -> None:
    """The scan never raises a dismissed sentence again, so the rebuild restores the record."""
    dismissed = a_promise("p-1", "<m1@x>", status="dismissed", closed_at=T0)
    gone = a_promise("p-2", "<deleted@x>", status="done", closed_at=T0)
    store = rebuilt(SetAside(promises=[dismissed, gone],
                             threads=[a_thread("t-old", "<m1@x>")]))
    store.put_thread(a_thread("t-new", "<m1@x>"))
    store_message(store, "<m1@x>")
    assert apply_carried(store, complete=True).total == 0
    assert store.get_promise("p-1") == replace(dismissed, thread_key="t-new")
    assert store.get_promise("p-2") is None  # its mail is gone: nothing to restore it from


def test_the_users_word_wins_but_new_mail_and_the_scan_still_count() -> None:
    old = SetAside(
        threads=[a_thread("t-done", "<a1@x>", status="done", done_at=T0 + timedelta(days=1)),
                 a_thread("t-reopened", "<b1@x>", status="done", done_at=T0 + timedelta(days=1))],
        promises=[a_promise("p-done", "<p1@x>", status="done", closed_at=T0),
                  a_promise("p-snoozed", "<p2@x>", status="snoozed", snoozed_until=date(2026, 4, 1))],
        introductions=[Introduction(id="i-1", account="home", message_id="<i1@x>", thread_key="t", made_at=T0,
                                    people=("a@x.org", "b@x.org"), status="dismissed", closed_at=T0)],
        leads=[Lead(id="l-1", account="home", message_id="<l1@x>", thread_key="t", received_at=T0,
                    from_email="felix@x.org", thanked_at=T0 + timedelta(days=2))],
    )
    store = rebuilt(old)
    store.put_thread(a_thread("t-done", "<a1@x>"))
    # Mail the old database had not read yet: after the user closed the conversation.
    reopened = a_thread("t-reopened", "<b1@x>")
    late = replace(reopened.messages[0], message_id="<b2@x>", date=T0 + timedelta(days=3))
    store.put_thread(replace(reopened, messages=(*reopened.messages, late)))
    # The rebuilt scan finds the done promise kept, and the snoozed one kept too.
    store.put_promise(a_promise("p-done", "<p1@x>", status="kept", evidence="reply", closed_at=T0))
    store.put_promise(a_promise("p-snoozed", "<p2@x>", status="kept", evidence="reply", closed_at=T0))
    store.put_introduction(replace(old.introductions[0], status="open", closed_at=None))
    store.put_lead(replace(old.leads[0], thanked_at=None))
    apply_carried(store, complete=True)

    assert store.get_thread("t-done").status == "done"  # type: ignore[union-attr]
    assert store.get_thread("t-reopened").status == "open"  # type: ignore[union-attr]
    assert store.get_promise("p-done").status == "done"  # type: ignore[union-attr]  # the user's word
    assert store.get_promise("p-snoozed").status == "kept"  # type: ignore[union-attr]  # a snooze is for open ones
    assert store.get_introduction("i-1").status == "dismissed"  # type: ignore[union-attr]
    assert store.get_lead("l-1").thanked_at == T0 + timedelta(days=2)  # type: ignore[union-attr]


def test_what_an_incomplete_pass_did_not_find_waits_and_an_interrupted_rebuild_keeps_it() -> None:
    old = SetAside(promises=[a_promise("p-1", "<m1@x>", status="done", closed_at=T0),
                             a_promise("p-2", "<m2@x>", status="snoozed", snoozed_until=date(2026, 4, 1))])
    store = rebuilt(old)
    store.put_promise(a_promise("p-1", "<m1@x>"))  # the other account failed: p-2's mail was not read
    assert apply_carried(store, complete=False).promises == 1
    assert carried_waiting(store).promises == 1
    assert store.get_promise("p-1").status == "done"  # type: ignore[union-attr]

    # Rebuilt again before it was found: the queue is carried over with the records' own word.
    second = SetAside(meta={CARRIED_KEY: store.get_meta(CARRIED_KEY)}, promises=list(store.promises()))
    store = rebuilt(second)
    store.put_promise(a_promise("p-1", "<m1@x>"))
    store.put_promise(a_promise("p-2", "<m2@x>"))
    assert apply_carried(store, complete=True).total == 0
    assert store.get_promise("p-1").status == "done"  # type: ignore[union-attr]
    assert store.get_promise("p-2").snoozed_until == date(2026, 4, 1)  # type: ignore[union-attr]


def test_what_a_complete_pass_did_not_find_is_dropped_and_said(caplog: pytest.LogCaptureFixture) -> None:
    store = rebuilt(SetAside(promises=[a_promise("p-1", "<m1@x>", status="snoozed", snoozed_until=date(2026, 4, 1))]))
    assert apply_carried(store, complete=True).total == 0
    assert store.get_meta(CARRIED_KEY) is None
    assert "what you said before kept rebuild about 1 promise was left out" in caplog.text


@pytest.mark.parametrize("damaged", [5, "x", [1], {"promises": [{"id": "p-1"}]}, [{"carried_as": "nope"}],
                                     [{"carried_as": "promises", "id": "p-1"}], [{"carried_as": "threads"}]])
def test_a_damaged_queue_is_left_out_not_a_traceback(damaged: object) -> None:
    store = MemoryStore()
    store.set_meta(CARRIED_KEY, damaged)
    apply_carried(store, complete=True)
    assert store.get_meta(CARRIED_KEY) is None


def test_the_set_aside_file_is_read_as_json_and_damaged_records_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "kept.json.broken-1"
    good = TinyDBStore(tmp_path / "kept.json")
    try:
        good.put_promise(a_promise("p-1", "<m1@x>", status="done", closed_at=T0))
        good.put_thread(a_thread("t-1", "<m1@x>", status="done", done_at=T0))
        good.set_meta("muted_contacts", ["anna@example.org"])
    finally:
        good.close()
    data = json.loads((tmp_path / "kept.json").read_text(encoding="utf-8"))
    data["promises"]["p-2"] = {"id": "p-2", "made_at": "not a time"}
    data["leads"] = {"l-1": "not a record"}
    path.write_text(json.dumps(data), encoding="utf-8")
    old = read_set_aside(path)
    assert [p.id for p in old.promises] == ["p-1"] and [t.key for t in old.threads] == ["t-1"]
    assert old.meta["muted_contacts"] == ["anna@example.org"]
    assert old.unreadable == 2


def test_kept_forget_takes_the_person_out_of_the_queue_and_nobody_else(tmp_path: Path) -> None:
    """The queue is one list, so forgetting Anna drops her entries and keeps Bob's."""
    store = TinyDBStore(tmp_path / "kept.json")
    try:
        carry_over(store, SetAside(promises=[
            a_promise("p-anna", "<m1@x>", status="done", closed_at=T0),
            a_promise("p-bob", "<m2@x>", status="done", closed_at=T0, counterparties=("bob@example.org",)),
        ]))
        store.forget("anna@example.org")
        assert [entry["id"] for entry in store.get_meta(CARRIED_KEY)] == ["p-bob"]
        assert "anna@example.org" not in json.dumps(store.export())
    finally:
        store.close()
