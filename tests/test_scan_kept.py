"""The scanner closes promises: on a forward to the person a promise names (found by name, not thread),
and a snoozed one keeps no snooze day once kept."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from helpers import ME, raw_mail, utc

from kept.daemon.feedback import snooze_promise
from kept.daemon.scan import Scanner
from kept.mailboxes.base import Folder
from kept.mailboxes.memory import MemorySource
from kept.models import PromiseCandidate
from kept.settings import MaildirAccount, Settings
from kept.storage.memory import MemoryStore

SENT = Folder("Sent", "sent")
SENTENCE = "I shall forward your message to Ms. Patrick."


class ForwardPromises:
    """Stand-in extractor: the one sentence above is a promise naming Ms. Patrick."""

    def extract_many(self, items):
        for text, _sent_at in items:
            yield [
                PromiseCandidate(sentence=SENTENCE, action="forward your message", kind="deliver", due=None,
                                 due_text=None, confidence=0.9, rule_id="test", named_person="Ms. Patrick")
            ] if SENTENCE in text else []


def test_a_forward_to_the_named_person_in_a_new_thread_keeps_the_promise() -> None:
    settings = Settings(path=Path("/dev/null"), addresses=(ME,), database=Path("/dev/null"),
                        accounts=(MaildirAccount(name="acct", path=Path("/nonexistent")),))
    source = MemorySource("acct")
    store = MemoryStore()
    scanner = Scanner(settings, store, extractor_factory=ForwardPromises, source_factory=lambda account: source,
                      now=lambda: utc(2026, 3, 20))
    source.add(SENT, raw_mail("p", sender=ME, to="anna@x.org", date=utc(2026, 3, 2, 9, 0),
                              subject="Re: Storage tour", body=f"Dear Anna, thank you. {SENTENCE}\n"))
    forward = ("FYI\n\n-----Original Message-----\nFrom: Anna\nSent: Monday\nTo: me\n"
               "Subject: Storage tour\n\nCould we visit the storage field?\n")
    source.add(SENT, raw_mail("f", sender=ME, to="Sue Patrick <sue.patrick@x.org>", date=utc(2026, 3, 2, 9, 1),
                              subject="FW: Storage tour", body=forward))
    [result] = scanner.scan_all()
    assert result.kept == 1
    [promise] = list(store.promises())
    assert promise.status == "kept"
    assert promise.evidence == "forward to Patrick in <f@test>"


def test_a_snoozed_promise_kept_by_later_mail_loses_its_snooze_day() -> None:
    """Found by the model-based test: the day stayed on the kept promise, and `kept rebuild` dropped it."""
    settings = Settings(path=Path("/dev/null"), addresses=(ME,), database=Path("/dev/null"),
                        accounts=(MaildirAccount(name="acct", path=Path("/nonexistent")),))
    source = MemorySource("acct")
    store = MemoryStore()
    scanner = Scanner(settings, store, extractor_factory=ForwardPromises, source_factory=lambda account: source,
                      now=lambda: utc(2026, 3, 20))
    source.add(SENT, raw_mail("p", sender=ME, to="Sue Patrick <sue.patrick@x.org>", date=utc(2026, 3, 2, 9, 0),
                              subject="Storage tour", body=f"Dear Sue, thank you. {SENTENCE}\n"))
    scanner.scan_all()
    [promise] = list(store.promises())
    snooze_promise(store, promise.id, date(2026, 3, 9))
    source.add(SENT, raw_mail("f", sender=ME, to="Sue Patrick <sue.patrick@x.org>", date=utc(2026, 3, 3, 9, 0),
                              subject="FW: Storage tour", in_reply_to="p",
                              body="FYI\n\n-----Original Message-----\nFrom: Anna\nSubject: Storage tour\n\nHello\n"))
    [result] = scanner.scan_all()
    assert result.kept == 1
    [promise] = list(store.promises())
    assert (promise.status, promise.snoozed_until) == ("kept", None)
