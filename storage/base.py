"""The interface every store implements.

Vocabulary
----------
store
    kept's memory: everything it has read and found, in one place (for the
    TinyDB store, a main file and a file of older message records beside
    it). It never holds a mail body, only metadata and the promise
    sentences.
transaction
    ``with store.transaction(): ...`` groups reads and writes. Inside, the
    store is locked against other processes (the daemon and a CLI command
    may run at the same time); on a clean exit everything written inside is
    made durable at once (atomically: all of it or, after a crash, none of
    it); on an exception nothing written inside is kept. Transactions nest
    (inner ones join the outer one). Calls made outside any transaction run
    in a transaction of their own.
message record
    A `MailMessage` without its body, keyed by (account, message_id).
parties
    A message's From, To and Cc (`Parties`).
party index
    Each account's distinct parties with the number of its messages that
    have them (`Store.party_counts`): what the people of the mail are
    built from (`kept.extractors.people`). The store keeps it: every write
    that stores, replaces or removes a message record changes it in the
    same transaction.
thread
    A `Thread` keyed by its key; also found by any of its message ids and by
    (account, normalized subject).
promise
    A `Promise` keyed by its id.
introduction, lead
    An `Introduction` the user made and a `Lead` someone gave the user,
    each keyed by its id (relationship nudges).
cursor
    A source's position in a folder, keyed by (account, folder name).
meta
    Small named JSON values: schema version, last scan time, account health,
    dismissed promise sentences, digest bookkeeping, each account's
    history cutoff (`history_cutoff`), the messages scans had to skip
    (`scan_problems`) and the promise revision (`promise_revision`). They
    are read through the typed readers of `kept.storage.meta`: a
    hand-edited value of the wrong type is treated as absent.

Every ``put_*`` replaces the record with the same key, so storing the same
thing twice changes nothing (scans are idempotent).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from kept.models import Address, Introduction, Lead, MailMessage, Promise, ScanProblem, Thread
# The history cutoff's key and typed reader live with the other typed meta
# reads; imported here too, where the store's vocabulary is.
from kept.storage.meta import history_cutoff as history_cutoff, history_key as history_key
from kept.storage.serialize import from_json, to_json

#: 2: the TinyDB store moves message records to a second file (schema 1
#: files still open, and take the new layout at their first write).
#: 3: it keeps the party index (`Store.party_counts`), built from the
#: stored messages at the first write to an older file.
SCHEMA_VERSION = 3


#: A message's From (None when unreadable), To and Cc: `Store.message_parties`, `Store.party_counts`.
Parties = tuple[Address | None, tuple[Address, ...], tuple[Address, ...]]


@runtime_checkable
class Store(Protocol):
    """kept's persistent memory. See the module docstring for the terms."""

    def transaction(self) -> AbstractContextManager[None]:
        """Lock, batch all writes inside, commit them atomically on success."""

    # -- messages ---------------------------------------------------------
    def has_message(self, account: str, message_id: str) -> bool:
        """True if this message was stored before."""

    def put_message(self, message: MailMessage) -> bool:
        """Store the message's metadata (its body is dropped). True if it was new."""

    def get_message(self, account: str, message_id: str) -> MailMessage | None:
        """The stored message (with an empty body), or None."""

    def count_messages(self, account: str | None = None) -> dict[str, int]:
        """Number of stored messages by role (``{"sent": n, "received": m}``)."""

    def message_parties(self, account: str | None = None) -> Iterator[Parties]:
        """From, To and Cc of every stored message (of `account`), each message once, in no set order.

        What the people of the mail are made from (`kept.extractors.people`),
        without decoding whole records: on a big mailbox the digest reads it
        for every message. It is read in one transaction, held until the
        iteration ends: read it to the end and write nothing meanwhile (a
        write made before an early stop is undone with the transaction).
        Where the multiset is enough, `party_counts` reads far less.
        """

    def party_counts(self, account: str | None = None) -> Iterator[tuple[Parties, int]]:
        """The party index: each distinct From, To and Cc of the stored messages (of `account`), with how many have it.

        The multiset of `message_parties`: each parties once, in no set
        order, with a count of at least 1 (parties found in several
        accounts come once, their counts added up). Read when this is
        called, so the caller may store messages while iterating.
        """

    # -- threads ----------------------------------------------------------
    def get_thread(self, key: str) -> Thread | None:
        """The thread with this key, or None."""

    def put_thread(self, thread: Thread) -> None:
        """Store or replace a thread and update its indexes."""

    def thread_key_for_message(self, account: str, message_id: str) -> str | None:
        """Key of the thread containing this message id, or None."""

    def threads_with_subject(self, account: str, subject: str) -> list[Thread]:
        """Threads of the account whose normalized subject equals `subject`."""

    def threads(self, account: str | None = None) -> Iterator[Thread]:
        """All threads (of one account, if given)."""

    # -- promises ---------------------------------------------------------
    def get_promise(self, promise_id: str) -> Promise | None:
        """The promise with this id, or None."""

    def put_promise(self, promise: Promise) -> bool:
        """Store or replace a promise. True if it was new.

        A put that changes what is stored also gives meta `PROMISE_REVISION`
        a new value, in the same transaction.
        """

    def promises(self, account: str | None = None) -> Iterator[Promise]:
        """All promises (of one account, if given), oldest first."""

    # -- introductions and leads ------------------------------------------
    def get_introduction(self, introduction_id: str) -> Introduction | None:
        """The introduction with this id, or None."""

    def put_introduction(self, introduction: Introduction) -> bool:
        """Store or replace an introduction. True if it was new."""

    def introductions(self, account: str | None = None) -> Iterator[Introduction]:
        """All introductions (of one account, if given), oldest first."""

    def get_lead(self, lead_id: str) -> Lead | None:
        """The lead with this id, or None."""

    def put_lead(self, lead: Lead) -> bool:
        """Store or replace a lead. True if it was new."""

    def leads(self, account: str | None = None) -> Iterator[Lead]:
        """All leads (of one account, if given), oldest first."""

    # -- cursors ----------------------------------------------------------
    def get_cursor(self, account: str, folder: str) -> dict[str, Any] | None:
        """The cursor stored for this folder, or None."""

    def set_cursor(self, account: str, folder: str, cursor: dict[str, Any]) -> None:
        """Store the cursor for this folder."""

    # -- meta -------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        """A named JSON value, or `default`."""

    def set_meta(self, key: str, value: Any) -> None:
        """Store a named JSON value."""

    def close(self) -> None:
        """Release files and locks. The store must not be used afterwards."""


#: Meta key of a random token that every change to the stored promises
#: replaces (see `promise_revision`).
PROMISE_REVISION = "promise_revision"


def promise_revision(store: Store) -> str | None:
    """A token that changes whenever any process stores, changes or removes a promise.

    Whoever keeps a copy of promises across transactions (the scanner's
    index of open promises) reads this inside the transaction that uses the
    copy, and reads the promises again when it differs from the token seen
    when the copy was made. The token is random, not a count, so a database
    replaced by another (``kept rebuild``) never repeats one. None: no
    promise was ever stored.
    """
    value = store.get_meta(PROMISE_REVISION)
    return value if isinstance(value, str) else None


def new_promise_revision() -> str:
    """A fresh value for meta `PROMISE_REVISION` (the stores call this)."""
    return uuid.uuid4().hex


#: Meta key of the list of messages scans skipped (`record_scan_problems`).
SCAN_PROBLEMS_KEY = "scan_problems"
#: The list keeps the newest this many; older ones have been shown for long enough.
MAX_SCAN_PROBLEMS = 200


def record_scan_problems(store: Store, problems: Iterable[ScanProblem]) -> None:
    """Add `problems` to the store's list of skipped messages, newest last.

    One entry per message (account, folder, uid): meeting it again (a
    ``kept rebuild``) replaces its entry. At most `MAX_SCAN_PROBLEMS` are
    kept. Call inside the transaction that stores the rest of the batch,
    so the list and the cursor that moved past the message agree.
    """
    new = list(problems)
    if not new:
        return
    with store.transaction():
        entries = {_problem_key(p): p for p in scan_problems(store)}
        for problem in new:
            key = _problem_key(problem)
            entries.pop(key, None)  # re-inserted last: newest last
            entries[key] = problem
        kept = list(entries.values())[-MAX_SCAN_PROBLEMS:]
        store.set_meta(SCAN_PROBLEMS_KEY, [to_json(p) for p in kept])


def scan_problems(store: Store) -> list[ScanProblem]:
    """The messages scans skipped and why, oldest first (see `ScanProblem`).

    Entries that do not read as a problem (a hand-edited value) are left out.
    """
    value = store.get_meta(SCAN_PROBLEMS_KEY)
    if not isinstance(value, list):
        return []
    found = []
    for entry in value:
        if not isinstance(entry, dict):
            continue
        try:
            problem = from_json(ScanProblem, entry)
        except (KeyError, TypeError, ValueError):
            continue
        texts = (problem.account, problem.folder, problem.uid, problem.message_id, problem.step, problem.reason)
        if all(isinstance(text, str) for text in texts):
            found.append(problem)
    return found


def _problem_key(problem: ScanProblem) -> tuple[str, str, str]:
    return problem.account, problem.folder, problem.uid
