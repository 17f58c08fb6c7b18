"""Several accounts in one daemon, against two real Dovecot users: one with a
wrong password keeps failing, the other keeps scanning, and the digest (one
for all accounts, or one per account) reports the failing one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from kept.daemon.replies import DIGEST_ID_MARKER
from kept.daemon.run import send_digest_if_due
from kept.daemon.scan import Scanner
from kept.settings import DigestSettings, Settings
from kept.storage.memory import MemoryStore
from tests.helpers import ME, raw_mail
from tests.test_scan import SendPromises

NOW = datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def two_accounts(dovecot_server, monkeypatch):
    good, bad = dovecot_server.new_user(), dovecot_server.new_user()
    for user in (good, bad):
        dovecot_server.create_folder(user, "Sent")
    monkeypatch.setenv("KEPT_TEST_GOOD_PASSWORD", good.password)
    monkeypatch.setenv("KEPT_TEST_BAD_PASSWORD", "wrong-" + bad.password)
    accounts = (
        dovecot_server.account(good, name="personal", password_env="KEPT_TEST_GOOD_PASSWORD"),
        dovecot_server.account(bad, name="work", password_env="KEPT_TEST_BAD_PASSWORD"),
    )
    return good, bad, accounts


def settings_for(accounts, per_account: bool) -> Settings:
    return Settings(
        path=Path("/dev/null"), addresses=(ME,), database=Path("/dev/null"), accounts=accounts,
        digest=DigestSettings(delivery="imap", append_account="personal", per_account=per_account, send_at="07:00"),
    )


def digests_in(dovecot_server, user) -> list:
    """The digests kept appended to the user's INBOX (recognised by their Message-ID)."""
    with dovecot_server.client(user) as client:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"])
    messages = [message_from_bytes(item[b"BODY[]"], policy=policy.default) for item in fetched.values()]
    return [m for m in messages if DIGEST_ID_MARKER in str(m.get("Message-ID", ""))]


@pytest.mark.dovecot
@pytest.mark.parametrize("per_account", [False, True])
def test_failing_account_does_not_stop_the_healthy_one(dovecot_server, two_accounts, per_account) -> None:
    good, bad, accounts = two_accounts
    settings = settings_for(accounts, per_account)
    store = MemoryStore()
    clock = [NOW - timedelta(hours=30)]
    scanner = Scanner(settings, store, extractor_factory=SendPromises, now=lambda: clock[0])
    dovecot_server.append(good, "Sent", raw_mail(
        "p1", sender=ME, to="anna@x.org", date=NOW - timedelta(days=3), subject="Slides",
        body="I'll send you the slides on Monday.\n"))
    personal, work = scanner.scan_all()
    assert personal.error is None and personal.messages == 1 and personal.promises == 1
    assert work.error and "refused" in work.error

    # Later: new mail arrives for the healthy account; it is still read.
    dovecot_server.append(good, "INBOX", raw_mail(
        "q1", sender="anna@x.org", date=NOW - timedelta(days=1), subject="Question",
        body="Can you send me the budget?"))
    clock[0] = NOW - timedelta(hours=2)
    personal, work = scanner.scan_all()
    assert personal.error is None and personal.messages == 1
    assert work.error
    assert store.get_meta("health:work")["ok"] is False
    assert store.get_meta("health:personal")["ok"] is True

    clock[0] = NOW
    assert send_digest_if_due(store, settings, NOW) is not None
    # Never two on one day.
    assert send_digest_if_due(store, settings, NOW + timedelta(hours=3)) is None
    digests = digests_in(dovecot_server, good)
    text = {str(m["Subject"]): m.get_body(("plain",)).get_content() for m in digests}
    if per_account:
        assert len(digests) == 2
        (personal_subject,) = [s for s in text if s.startswith("personal: ")]
        (work_subject,) = [s for s in text if s.startswith("work: ")]
        assert "promise" in personal_subject and "could not reach" not in text[personal_subject]
        assert "could not reach work" in text[work_subject]
        assert "account needs attention" in work_subject
    else:
        assert len(digests) == 1
        (body,) = text.values()
        assert "could not reach work" in body
        assert "(personal)" in body  # items carry their account
