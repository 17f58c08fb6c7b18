"""Replies to the digest on every path that reads mail.

``kept scan``, ``kept run --once`` and ``kept rebuild`` all read replies to
the digest: each carries them out (or, when the database no longer knows
the digest, says so), and a reply read twice is obeyed once.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kept.cli import main
from kept.config import load_settings
from kept.daemon.feedback import new_digest_message_id
from kept.models import Promise
from kept.storage.tinydb_store import TinyDBStore

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


def test_kept_rebuild_reads_old_replies_and_says_it_could_not_check_them(tmp_path: Path) -> None:
    """The rebuilt database knows no digest: the replies are counted in one note, not dropped, not obeyed."""
    config = write_config(tmp_path)
    digest_id = database_that_sent_a_digest(tmp_path)
    deliver(tmp_path, "local", "reply1", a_reply(digest_id))
    deliver(tmp_path, "local", "reply2", a_reply(digest_id, "done 2\n", name="reply2"))
    assert kept(config, "rebuild") == 0
    status, notes = state(tmp_path)
    assert status == "(none)"  # the promise came from no mail of this mailbox
    [note] = notes
    assert note.startswith("Did not carry out 2 of your replies written 2026-03-17 to 2026-03-17")
