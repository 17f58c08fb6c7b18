"""Two scans of one database at once: a promise one of them stores is kept by a message the other stores.

Each scanner keeps an index of open promises for its pass. Built once per
pass, it missed promises another scan stored meanwhile, and the message that
kept such a promise left it open for good (issue 18, defect 2: 135-146 kept
instead of 148 on a real mailbox). Here scan B runs one batch in the middle
of scan A's pass (the moment scan A checks for a stop between batches),
the interleaving that lost them; the stores are real, and with the TinyDB
store each scan has a store of its own over the same files, as two
processes do.

Scan A's batches go to worker processes (a first scan), where batches can
share a commit (`kept.daemon.commit_groups`); scan B, run inside A's stop
check, would then wait for A's open commit group, as another process does
(`tests/test_commit_groups.py`). Here every batch commits, so that B runs
where another process could: between two of A's commits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import ME, raw_mail, utc

import kept.daemon.scan as scan_module
from kept.daemon.commit_groups import CommitGroups
from kept.daemon.scan import Scanner
from kept.mailboxes.base import Folder
from kept.mailboxes.memory import MemorySource
from kept.models import PromiseCandidate
from kept.settings import MaildirAccount, Settings
from kept.storage.base import Store
from kept.storage.memory import MemoryStore
from kept.storage.tinydb_store import TinyDBStore

SENT = Folder("Sent", "sent")
SENTENCE = "I shall forward your message to Ms. Patrick."
FORWARD = (
    "FYI\n\n-----Original Message-----\nFrom: Anna\nSent: Monday\nTo: me\n"
    "Subject: Storage tour\n\nCould we visit the storage field?\n"
)


class ForwardPromises:
    """Stand-in extractor: the one sentence above is a promise naming Ms. Patrick."""

    def extract_many(self, items):
        for text, _sent_at in items:
            yield [
                PromiseCandidate(sentence=SENTENCE, action="forward your message", kind="deliver", due=None,
                                 due_text=None, confidence=0.9, rule_id="test", named_person="Ms. Patrick")
            ] if SENTENCE in text else []


def mailbox() -> MemorySource:
    """An unrelated sent message, the promise, and the forward that keeps it, in that order."""
    source = MemorySource("acct")
    source.add(SENT, raw_mail("first", sender=ME, to="carl@x.org", date=utc(2026, 3, 1, 9, 0),
                              subject="Lunch", body="See you at noon.\n"))
    source.add(SENT, raw_mail("p", sender=ME, to="anna@x.org", date=utc(2026, 3, 2, 9, 0),
                              subject="Re: Storage tour", body=f"Dear Anna, thank you. {SENTENCE}\n"))
    source.add(SENT, raw_mail("f", sender=ME, to="Sue Patrick <sue.patrick@x.org>", date=utc(2026, 3, 2, 9, 1),
                              subject="FW: Storage tour", body=FORWARD))
    return source


@pytest.fixture(autouse=True)
def commit_every_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_module, "CommitGroups", functools.partial(CommitGroups, longest=0.0))


def scanner(store: Store, source: MemorySource) -> Scanner:
    settings = Settings(path=Path("/dev/null"), addresses=(ME,), database=Path("/dev/null"),
                        accounts=(MaildirAccount(name="acct", path=Path("/nonexistent")),))
    return Scanner(settings, store, extractor_factory=ForwardPromises, source_factory=lambda account: source,
                   now=lambda: utc(2026, 3, 20), batch_size=1)


@pytest.fixture(params=["memory", "tinydb"])
def two_stores(request, tmp_path) -> Iterator[tuple[Store, Store]]:
    """What scan A and scan B each use: one memory store shared, or two TinyDB stores over one file."""
    if request.param == "memory":
        shared = MemoryStore()
        yield shared, shared
        shared.close()
        return
    first = TinyDBStore(tmp_path / "kept.json")
    second = TinyDBStore(tmp_path / "kept.json")
    yield first, second
    first.close()
    second.close()


def after_batches(scan: Scanner, count: int, action: Callable[[], None]) -> None:
    """Make `scan` run `action` once, when it has stored `count` batches of the sent folder."""

    def progress(account: str, folder: Folder, done: int, total: int) -> None:
        if folder == SENT and done == count:
            action()

    scan.progress = progress


def stop_after_batches(scan: Scanner, count: int) -> None:
    """Make `scan` stop once it has stored `count` batches of the sent folder."""
    stored = []
    scan.progress = lambda account, folder, done, total: stored.append(done) if folder == SENT else None
    scan.stop_requested = lambda: bool(stored) and stored[-1] >= count


def test_a_promise_stored_by_another_scan_is_kept_by_this_scans_message(two_stores) -> None:
    store_a, store_b = two_stores
    scan_a = scanner(store_a, mailbox())
    scan_b = scanner(store_b, mailbox())
    # B reads one batch (the promise) and stops, as a scan interrupted or
    # slower than A would; A then reads on past it to the forward.
    stop_after_batches(scan_b, 1)
    after_batches(scan_a, 1, lambda: scan_b.scan_all())

    [result_a] = scan_a.scan_all()

    [promise] = list(store_a.promises())
    assert promise.status == "kept"
    assert promise.evidence == "forward to Patrick in <f@test>"
    assert result_a.kept == 1
    assert store_a.count_messages() == {"sent": 3, "received": 0}


def test_a_promise_the_user_closed_meanwhile_stays_as_the_user_left_it(two_stores) -> None:
    """The other way round: the index must not bring back a promise closed by someone else."""
    store_a, store_b = two_stores
    source = mailbox()
    scan_a = scanner(store_a, source)

    def close_it() -> None:
        [promise] = list(store_b.promises())
        from kept.daemon import feedback

        feedback.mark_promise_done(store_b, promise.id, utc(2026, 3, 2, 10, 0))

    # Once the promise is stored (and in A's index), the user marks it done.
    after_batches(scan_a, 2, close_it)

    [result_a] = scan_a.scan_all()

    [promise] = list(store_a.promises())
    assert promise.status == "done"
    assert result_a.kept == 0
