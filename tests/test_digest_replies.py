"""Replies to the digest on every path that reads mail, and a digest whose sending was interrupted.

* ``kept scan``, ``kept run --once`` and ``kept rebuild`` all read replies
  to the digest: each carries them out (or, when the database no longer
  knows the digest, says so), and a reply read twice is obeyed once.
* A digest is planned before it is sent: killed after the SMTP server
  (a real aiosmtpd on 127.0.0.1) accepted it but before the database write,
  the retry sends the same message under the same Message-ID, and a reply
  to the first copy is obeyed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timezone
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from kept.cli import main
from kept.config import load_settings
from kept.daemon.replies import new_digest_message_id
from kept.daemon.run import send_digest_if_due
from kept.models import Promise
from kept.storage.tinydb_store import TinyDBStore
from test_delivery import PASSWORD, certificate, smtp_server  # noqa: F401  (fixtures)

from tests.helpers import ME, raw_mail, utc

NOW = "2026-03-18T07:00:00+00:00"  # before the digest time: `run --once` only scans
DIGEST_DAY = date(2026, 3, 17)
PROMISE_ID = "p000000001"
# These tests run before the digest time: nothing is sent.
NO_SMTP = '[digest.smtp]\nhost = "127.0.0.1"\nport = 9\nsecurity = "starttls"'


def write_config(root: Path, accounts: tuple[str, ...] = ("local",), smtp: str = NO_SMTP) -> Path:
    lines = [
        "[kept]", f'addresses = ["{ME}"]', 'timezone = "UTC"', f'database = "{root / "kept.json"}"', "",
        "[digest]", 'send_at = "07:30"', "", smtp, "",
    ]
    for name in accounts:
        maildir = root / f"mail-{name}"
        for sub in ("cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        lines += [f"[accounts.{name}]", 'type = "maildir"', f'path = "{maildir}"', 'inbox = ""', 'sent = ".Sent"', ""]
    config = root / "config.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    config.chmod(0o600)
    return config


def deliver(root: Path, account: str, name: str, data: bytes) -> None:
    (root / f"mail-{account}" / "new" / f"{name}.eml").write_bytes(data)


def a_promise() -> Promise:
    return Promise(
        id=PROMISE_ID, account="local", message_id="<p1@test>", thread_key="t1",
        sentence="I'll send you the article.", action="send you the article", kind="deliver",
        counterparties=("anna@example.org",), made_at=utc(2026, 3, 10), due=date(2026, 3, 13),
        due_is_default=False, confidence=0.9, rule_id="test", subject="Article",
    )


def database_that_sent_a_digest(root: Path) -> str:
    """A database holding one open promise and yesterday's digest, where it is #1; return the digest's id."""
    settings = load_settings(root / "config.toml")
    digest_id = new_digest_message_id(settings, DIGEST_DAY)
    store = TinyDBStore(settings.database)
    try:
        with store.transaction():
            store.put_promise(a_promise())
            store.set_meta("sent_digests", {digest_id: {
                "date": DIGEST_DAY.isoformat(), "sent_at": "2026-03-17T07:30:00+00:00",
                "index": [[1, "promise", PROMISE_ID]],
            }})
    finally:
        store.close()
    return digest_id


def a_reply(digest_id: str, body: str = "done 1\n", name: str = "reply1") -> bytes:
    return raw_mail(name, sender=ME, date=utc(2026, 3, 17, 9, 0), subject="Re: 1 promise due", body=body,
                    headers={"In-Reply-To": digest_id, "References": digest_id})


def a_reply_id(name: str = "reply1") -> str:
    return f"<{name}@test>"


def state(root: Path) -> tuple[str, list[str]]:
    """The promise's status and the notes waiting for the next digest."""
    store = TinyDBStore(root / "kept.json")
    try:
        with store.transaction():
            promise = store.get_promise(PROMISE_ID)
            notes = list(store.get_meta("pending_notes") or [])
    finally:
        store.close()
    return (promise.status if promise else "(none)"), notes


def kept(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--now", NOW, *args])


# -- every path that reads mail obeys the reply ---------------------------------


@pytest.mark.parametrize("command", [("scan", "-q"), ("run", "--once")])
def test_a_reply_read_by_scan_or_run_is_carried_out_once(tmp_path: Path, command: tuple[str, ...]) -> None:
    config = write_config(tmp_path, accounts=("local", "other"))
    digest_id = database_that_sent_a_digest(tmp_path)
    # The same reply in two accounts (Sent of one, inbox of the other) is one reply.
    deliver(tmp_path, "local", "reply1", a_reply(digest_id))
    deliver(tmp_path, "other", "reply1", a_reply(digest_id))
    assert kept(config, *command) == 0
    status, notes = state(tmp_path)
    assert status == "done"
    assert [n for n in notes if "#1" in n] == ['Marked #1 done: "I\'ll send you the article."']
    # Read again by the other command: nothing more happens.
    assert kept(config, "run", "--once") == 0 and kept(config, "scan", "-q") == 0
    assert state(tmp_path) == (status, notes)


def test_kept_scan_then_kept_run_leaves_no_reply_behind(tmp_path: Path) -> None:
    """The reported bug: `kept scan` stored the reply, so `kept run` never saw it and nobody obeyed it."""
    config = write_config(tmp_path)
    digest_id = database_that_sent_a_digest(tmp_path)
    deliver(tmp_path, "local", "reply1", a_reply(digest_id, "snooze 1 2026-12-01\n"))
    assert kept(config, "scan", "-q") == 0
    assert kept(config, "run", "--once") == 0
    store = TinyDBStore(tmp_path / "kept.json")
    try:
        promise = store.get_promise(PROMISE_ID)
    finally:
        store.close()
    assert promise is not None and (promise.status, promise.snoozed_until) == ("snoozed", date(2026, 12, 1))


def test_kept_rebuild_keeps_a_replys_correction_without_carrying_the_reply_out_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The rebuilt database keeps the digests sent and the replies carried out: the corrections come back once."""
    config = write_config(tmp_path)
    deliver(tmp_path, "local", "ask", raw_mail("ask", sender="anna@example.org", date=utc(2026, 3, 16, 9, 0),
                                                subject="Budget", body="Can you send me the budget?\n"))
    assert kept(config, "scan", "-q") == 0
    store = TinyDBStore(tmp_path / "kept.json")
    try:
        [thread] = list(store.threads())
        digest_id = new_digest_message_id(load_settings(config), DIGEST_DAY)
        with store.transaction():
            store.set_meta("sent_digests", {digest_id: {"date": DIGEST_DAY.isoformat(),
                                                        "index": [[1, "thread", thread.key]]}})
    finally:
        store.close()
    deliver(tmp_path, "local", "reply1", a_reply(digest_id))
    assert kept(config, "scan", "-q") == 0
    store = TinyDBStore(tmp_path / "kept.json")
    try:
        done = store.get_thread(thread.key)
        assert done.status == "done"
        with store.transaction():
            assert store.get_meta("pending_notes") == ['Marked #1 done: conversation "budget"']
            # The next digest told the user, and the user dismissed a sentence from the command line.
            store.set_meta("pending_notes", [])
            store.set_meta("last_digest_date", "2026-03-18")
            store.set_meta("dismissed_sentences", ["0123456789abcdef"])
    finally:
        store.close()

    capsys.readouterr()
    assert kept(config, "rebuild", "--yes") == 0
    assert "Carried over from the old database: what you said about 1 conversation (done" in capsys.readouterr().out
    store = TinyDBStore(tmp_path / "kept.json")
    try:
        assert store.get_thread(thread.key) == done  # closed when the reply said so, not again now
        with store.transaction():
            assert store.get_meta("applied_replies") == [a_reply_id()]
            assert store.get_meta("pending_notes") == []  # told once already
            assert store.get_meta("last_digest_date") == "2026-03-18"  # no second digest today
            assert store.get_meta("dismissed_sentences") == ["0123456789abcdef"]
            assert store.get_meta("pending_replies") == []
    finally:
        store.close()


def test_kept_rebuild_of_an_unreadable_database_counts_old_replies_in_one_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing tells what the old digests' numbers meant: the replies are counted, not dropped, not obeyed."""
    config = write_config(tmp_path)
    digest_id = database_that_sent_a_digest(tmp_path)
    (tmp_path / "kept.json").write_bytes(b"\x00garbage")
    deliver(tmp_path, "local", "reply1", a_reply(digest_id))
    deliver(tmp_path, "local", "reply2", a_reply(digest_id, "done 2\n", name="reply2"))
    capsys.readouterr()
    assert kept(config, "rebuild", "--yes") == 0
    assert "Could not read your corrections" in capsys.readouterr().err
    status, notes = state(tmp_path)
    assert status == "(none)"  # the promise came from no mail of this mailbox
    [note] = notes
    assert note.startswith("Did not carry out 2 of your replies written 2026-03-17 to 2026-03-17")


def test_a_reply_read_before_what_it_names_is_carried_out_at_the_end_of_the_pass(tmp_path: Path) -> None:
    """A first scan (or a rebuild) may read the reply before the conversation it names: it waits for the pass."""
    config = write_config(tmp_path, accounts=("a", "b"))
    settings = load_settings(config)
    digest_id = new_digest_message_id(settings, DIGEST_DAY)
    # Account "a" holds the reply, account "b" (scanned later) the conversation.
    deliver(tmp_path, "a", "reply1", a_reply(digest_id, "snooze 1 12 dec\n"))
    deliver(tmp_path, "b", "ask", raw_mail("ask", sender="anna@example.org", date=utc(2026, 3, 16, 9, 0),
                                           subject="Budget", body="Can you send me the budget?\n"))
    from kept.daemon.threader import _new_key

    thread_key = _new_key("b", "<ask@test>")  # a new conversation's key: a hash of its first message
    store = TinyDBStore(tmp_path / "kept.json")
    try:
        with store.transaction():
            store.set_meta("sent_digests", {digest_id: {"date": DIGEST_DAY.isoformat(),
                                                        "index": [[1, "thread", thread_key]]}})
    finally:
        store.close()
    assert kept(config, "scan", "-q") == 0
    store = TinyDBStore(tmp_path / "kept.json")
    try:
        thread = store.get_thread(thread_key)
        with store.transaction():
            notes = store.get_meta("pending_notes")
    finally:
        store.close()
    assert thread is not None and (thread.status, thread.snoozed_until) == ("snoozed", date(2026, 12, 12))
    assert notes == ['Snoozed #1 until Saturday 12 December: conversation "budget"']


def test_a_pass_stopped_after_reading_a_reply_leaves_it_for_the_next_one(tmp_path: Path) -> None:
    """SIGTERM right after the batch holding the reply: it waits in the database, the next run carries it out."""
    from kept.daemon.scan import Scanner

    config = write_config(tmp_path)
    digest_id = database_that_sent_a_digest(tmp_path)
    deliver(tmp_path, "local", "reply1", a_reply(digest_id))
    settings = load_settings(config)
    store = TinyDBStore(settings.database)
    try:
        stop = []
        scanner = Scanner(settings, store, extractor_factory=lambda: None,  # type: ignore[arg-type, return-value]
                          now=lambda: utc(2026, 3, 18, 7, 0))
        scanner.on_new_message = lambda message: stop.append(message.message_id)
        scanner.stop_requested = lambda: bool(stop)
        scanner.scan_all()
    finally:
        store.close()
    assert stop == ["<reply1@test>"]
    status, notes = state(tmp_path)
    assert (status, notes) == ("open", [])
    store = TinyDBStore(settings.database)
    try:
        with store.transaction():
            [waiting] = store.get_meta("pending_replies")
    finally:
        store.close()
    assert waiting["message_id"] == "<reply1@test>" and waiting["commands"] == [["done", [1], None, "done 1"]]
    assert "body" not in waiting
    assert kept(config, "run", "--once") == 0
    assert state(tmp_path) == ("done", ['Marked #1 done: "I\'ll send you the article."'])


# -- a digest whose sending was interrupted ------------------------------------------

SMTP_SECTION = """\
[digest.smtp]
host = "127.0.0.1"
port = {port}
security = "starttls"
username = "sam"
password_env = "KEPT_TEST_SMTP_PASSWORD"
ca_file = "{ca_file}"
timeout = 10"""

# Run in a child process: the real SMTP sender, then the process dies at
# once, after the server said 250 and before kept wrote anything more.
KILLED_AFTER_ACCEPT = """\
import os, sys
from datetime import datetime
from pathlib import Path
from kept.config import load_settings
from kept.daemon.run import send_digest_if_due
from kept.mailboxes import smtp
from kept.storage.tinydb_store import TinyDBStore

real_send = smtp.SmtpSender.send

def send_then_die(self, message):
    real_send(self, message)
    os._exit(9)

smtp.SmtpSender.send = send_then_die
settings = load_settings(Path(sys.argv[1]))
send_digest_if_due(TinyDBStore(settings.database), settings, datetime.fromisoformat(sys.argv[2]))
"""

SEND_TIME = datetime(2026, 3, 18, 7, 45, tzinfo=timezone.utc)


def smtp_config(root: Path, controller: Any, ca_file: Path) -> Path:
    return write_config(root, smtp=SMTP_SECTION.format(port=controller.port, ca_file=ca_file))


def digest_database(root: Path) -> None:
    store = TinyDBStore(root / "kept.json")
    try:
        with store.transaction():
            store.put_promise(a_promise())
    finally:
        store.close()


def kill_after_accept(config: Path) -> None:
    env = {**os.environ, "KEPT_TEST_SMTP_PASSWORD": PASSWORD}
    child = subprocess.run([sys.executable, "-c", KILLED_AFTER_ACCEPT, str(config), SEND_TIME.isoformat()],
                           env=env, capture_output=True, timeout=120)
    assert child.returncode == 9, child.stderr.decode(errors="replace")


def test_a_kill_after_the_server_accepted_the_digest_sends_the_same_digest_again(
    tmp_path: Path, smtp_server: Any, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    controller, received = smtp_server
    config = smtp_config(tmp_path, controller, certificate[0])
    digest_database(tmp_path)
    kill_after_accept(config)
    [first] = received.messages
    first_id = message_from_bytes(first[2], policy=policy.default)["Message-ID"]
    assert "kept-digest-20260318-" in first_id

    # The retry (the daemon's next turn): the planned message again, same id, same text.
    monkeypatch.setenv("KEPT_TEST_SMTP_PASSWORD", PASSWORD)
    settings = load_settings(config)
    store = TinyDBStore(settings.database)
    try:
        assert send_digest_if_due(store, settings, SEND_TIME.replace(minute=50)) == first_id
        assert send_digest_if_due(store, settings, SEND_TIME.replace(hour=9)) is None  # once a day
        with store.transaction():
            assert store.get_meta("last_digest_date") == "2026-03-18"
            assert store.get_meta("digest_outbox") is None
    finally:
        store.close()
    [_, again] = received.messages
    first_copy = message_from_bytes(first[2], policy=policy.default)
    second_copy = message_from_bytes(again[2], policy=policy.default)
    assert second_copy["Message-ID"] == first_id
    assert second_copy.get_body(("plain",)).get_content() == first_copy.get_body(("plain",)).get_content()
    assert second_copy.get_body(("html",)).get_content() == first_copy.get_body(("html",)).get_content()
    assert second_copy["Subject"] == first_copy["Subject"] and second_copy["Date"] == first_copy["Date"]

    # The user answers the copy that arrived first: obeyed, not "a digest kept never sent".
    deliver(tmp_path, "local", "reply1", raw_mail(
        "reply1", sender=ME, date=SEND_TIME.replace(hour=9), subject="Re: digest", body="done 1\n",
        headers={"In-Reply-To": first_id}))
    assert main(["--config", str(config), "--now", SEND_TIME.replace(hour=10).isoformat(), "scan", "-q"]) == 0
    status, notes = state(tmp_path)
    assert status == "done"
    assert notes == ['Marked #1 done: "I\'ll send you the article."']


def test_a_digest_that_already_arrived_is_not_sent_again(
    tmp_path: Path, smtp_server: Any, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    controller, received = smtp_server
    config = smtp_config(tmp_path, controller, certificate[0])
    digest_database(tmp_path)
    kill_after_accept(config)
    [first] = received.messages
    # The digest reached the inbox, and a scan read it before the retry.
    deliver(tmp_path, "local", "digest", first[2])
    assert main(["--config", str(config), "--now", SEND_TIME.replace(minute=50).isoformat(), "scan", "-q"]) == 0
    monkeypatch.setenv("KEPT_TEST_SMTP_PASSWORD", PASSWORD)
    settings = load_settings(config)
    store = TinyDBStore(settings.database)
    try:
        first_id = message_from_bytes(first[2], policy=policy.default)["Message-ID"]
        assert send_digest_if_due(store, settings, SEND_TIME.replace(minute=55)) == first_id
    finally:
        store.close()
    assert len(received.messages) == 1


def test_a_plan_left_from_an_earlier_day_is_not_sent_but_its_replies_count(
    tmp_path: Path, smtp_server: Any, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    controller, received = smtp_server
    config = smtp_config(tmp_path, controller, certificate[0])
    digest_database(tmp_path)
    kill_after_accept(config)
    [first] = received.messages
    first_id = message_from_bytes(first[2], policy=policy.default)["Message-ID"]
    monkeypatch.setenv("KEPT_TEST_SMTP_PASSWORD", PASSWORD)
    settings = load_settings(config)
    store = TinyDBStore(settings.database)
    try:
        tomorrow = send_digest_if_due(store, settings, SEND_TIME.replace(day=19))
        assert tomorrow and tomorrow != first_id and "kept-digest-20260319-" in tomorrow
        with store.transaction():
            assert set(store.get_meta("sent_digests")) == {first_id, tomorrow}
    finally:
        store.close()
    assert [message_from_bytes(m[2], policy=policy.default)["Message-ID"] for m in received.messages] == [
        first_id, tomorrow]


def test_a_failed_delivery_is_retried_with_the_planned_message() -> None:
    """No server at all: the same Message-ID on every attempt of the day, and the plan survives each failure."""
    from kept.errors import SourceError
    from kept.settings import Settings
    from kept.storage.memory import MemoryStore

    class Refusing:
        def __init__(self) -> None:
            self.ids: list[str] = []
            self.fail = True

        def send(self, message: Any) -> None:
            self.ids.append(message["Message-ID"])
            if self.fail:
                raise SourceError("server down")

    settings = Settings(path=Path("/dev/null"), addresses=(ME,), database=Path("/dev/null"), timezone="UTC")
    store = MemoryStore()
    store.put_promise(a_promise())
    store.set_meta("pending_notes", ["Marked #4 done"])
    sender = Refusing()
    for minute in (31, 33, 40):
        with pytest.raises(SourceError):
            send_digest_if_due(store, settings, SEND_TIME.replace(minute=minute), sender_factory=lambda s: sender)
    store.set_meta("pending_notes", ["Marked #4 done", "a note queued meanwhile"])
    sender.fail = False
    assert send_digest_if_due(store, settings, SEND_TIME.replace(hour=9), sender_factory=lambda s: sender)
    assert len(set(sender.ids)) == 1 and len(sender.ids) == 4
    assert store.get_meta("pending_notes") == ["a note queued meanwhile"]
    assert store.get_meta("last_digest_date") == "2026-03-18"
