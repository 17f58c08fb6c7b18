"""The in-memory store: the TinyDB store's twin for tests and dry runs.

It keeps records in plain dicts and follows the same contract as
`kept.storage.tinydb_store.TinyDBStore` (see `kept.storage.base`): bodies are
dropped, puts are idempotent, transactions nest and roll back on an
exception, JSON values come back as JSON round trips of what was stored.

`ThreadIndex` and `promise_order` live here because both stores use them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from kept.models import Introduction, Lead, MailMessage, Promise, Thread
from kept.storage.base import PROMISE_REVISION, SCHEMA_VERSION, Parties, new_promise_revision

__all__ = ["MemoryStore", "ThreadIndex", "dated_order", "json_copy", "promise_order"]

logger = logging.getLogger(__name__)

_MISSING = object()


def json_copy(value: Any) -> Any:
    """A deep copy of `value` as it comes back from a JSON file.

    Both stores pass cursors and meta values through this, so a value that
    could not be saved fails at once (``TypeError``) rather than at commit,
    and callers see the same types (lists, not tuples) from either store.
    """
    return json.loads(json.dumps(value))


def promise_order(promise: Promise) -> tuple[datetime, str]:
    """Sort key for "oldest first": made_at (naive counts as UTC), then id."""
    made_at = promise.made_at
    if made_at.tzinfo is None:
        made_at = made_at.replace(tzinfo=timezone.utc)
    return made_at, promise.id


def dated_order(moment: datetime, record_id: str) -> tuple[datetime, str]:
    """Sort key for "oldest first" of introductions and leads: time (naive counts as UTC), then id."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment, record_id


#: One thread key, or several in the order they were entered (a dict used as an ordered set).
_Keys = str | dict[str, None]


class ThreadIndex:
    """Finds threads by message id and by subject without scanning them.

    Each thread is entered with its account, subject and message ids;
    entering a key again replaces what was known of it. A message id that
    (wrongly) belongs to two threads maps to the one entered last.

    At 200,000 messages this index is one of the larger things a store holds
    in memory, so it is laid out for size: per account, a message id or a
    subject maps straight to its thread key, and only the rare id or subject
    shared by several threads maps to an insertion-ordered dict of keys.
    """

    def __init__(self) -> None:
        # key -> (account, subject, message ids) as last entered, so a thread
        # can be taken out without its old record at hand.
        self._entries: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        # account -> message id -> thread key(s); with several keys, the last entered is last.
        self._by_message: dict[str, dict[str, _Keys]] = {}
        # account -> subject -> thread key(s), in the order threads were first entered.
        self._by_subject: dict[str, dict[str, _Keys]] = {}

    def add(self, key: str, account: str, subject: str, message_ids: Iterable[str]) -> None:
        """Enter (or re-enter) the thread `key`."""
        message_ids = tuple(message_ids)
        previous = self._entries.get(key)
        if previous == (account, subject, message_ids):
            return
        if previous is not None:
            old_account, old_subject, old_ids = previous
            if (old_account, old_subject) != (account, subject):
                _discard_key(self._by_subject.get(old_account), old_subject, key)
            old_by_message = self._by_message.get(old_account)
            for message_id in old_ids:
                _discard_key(old_by_message, message_id, key)
        self._entries[key] = (account, subject, message_ids)
        by_subject = self._by_subject.setdefault(account, {})
        if previous is None or (previous[0], previous[1]) != (account, subject):
            _append_key(by_subject, subject, key)
        by_message = self._by_message.setdefault(account, {})
        for message_id in message_ids:
            # Nearly always a first entry: one dict operation (this runs for every
            # message of every thread when a store opens).
            if by_message.setdefault(message_id, key) is not key:
                _append_key(by_message, message_id, key)  # re-entered at the end: "entered last" wins

    def discard(self, key: str) -> None:
        """Forget the thread `key` (nothing happens if it was never entered)."""
        previous = self._entries.pop(key, None)
        if previous is None:
            return
        account, subject, message_ids = previous
        _discard_key(self._by_subject.get(account), subject, key)
        by_message = self._by_message.get(account)
        for message_id in message_ids:
            _discard_key(by_message, message_id, key)

    def clear(self) -> None:
        """Forget every thread."""
        self._entries.clear()
        self._by_message.clear()
        self._by_subject.clear()

    def key_for_message(self, account: str, message_id: str) -> str | None:
        """Key of the thread holding this message id, or None."""
        keys = self._by_message.get(account, {}).get(message_id)
        if keys is None or isinstance(keys, str):
            return keys
        return next(reversed(keys))

    def keys_with_subject(self, account: str, subject: str) -> list[str]:
        """Keys of the account's threads with exactly this subject."""
        keys = self._by_subject.get(account, {}).get(subject)
        if keys is None:
            return []
        return [keys] if isinstance(keys, str) else list(keys)


def _parties(message: MailMessage) -> Parties:
    """The message's From, To and Cc, as tuples whatever sequences it was given."""
    return message.from_addr, tuple(message.to), tuple(message.cc)


def _append_key(index: dict[str, _Keys], name: str, key: str) -> None:
    """Enter `key` under `name`, last (moved to the end if it was there already)."""
    current = index.get(name)
    if current is None:
        index[name] = key
    elif isinstance(current, str):
        if current != key:
            index[name] = {current: None, key: None}
    else:
        current.pop(key, None)
        current[key] = None


def _discard_key(index: dict[str, _Keys] | None, name: str, key: str) -> None:
    """Take `key` out from under `name`."""
    if index is None:
        return
    current = index.get(name)
    if current is None:
        return
    if isinstance(current, str):
        if current == key:
            del index[name]
        return
    current.pop(key, None)
    if len(current) == 1:
        index[name] = next(iter(current))
    elif not current:
        del index[name]


class MemoryStore:
    """A `kept.storage.base.Store` that lives in memory only.

    Transactions are guarded by a re-entrant lock (one thread at a time) and
    undone with a journal of the values they replaced, so an inner
    transaction that fails takes back only its own writes.
    """

    def __init__(self) -> None:
        self._messages: dict[tuple[str, str], MailMessage] = {}
        # The party index: (account, parties) -> how many messages have them (at least 1).
        self._party_counts: dict[tuple[str, Parties], int] = {}
        self._threads: dict[str, Thread] = {}
        self._promises: dict[str, Promise] = {}
        self._introductions: dict[str, Introduction] = {}
        self._leads: dict[str, Lead] = {}
        self._cursors: dict[tuple[str, str], Any] = {}
        self._meta: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        self._thread_index = ThreadIndex()
        self._lock = threading.RLock()
        # (table, key, previous value or _MISSING), oldest first; only kept
        # while a transaction is open.
        self._journal: list[tuple[dict[Any, Any], Any, Any]] = []
        self._depth = 0
        self._closed = False

    # -- transactions ----------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes; on an exception undo the ones made inside."""
        with self._lock:
            self._check_open()
            savepoint = len(self._journal)
            self._depth += 1
            try:
                yield
            except BaseException:
                self._undo(savepoint)
                raise
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._journal.clear()

    def _undo(self, savepoint: int) -> None:
        threads_touched = False
        while len(self._journal) > savepoint:
            table, key, previous = self._journal.pop()
            threads_touched = threads_touched or table is self._threads
            if previous is _MISSING:
                table.pop(key, None)
            else:
                table[key] = previous
        if threads_touched:
            self._rebuild_thread_index()

    def _rebuild_thread_index(self) -> None:
        self._thread_index.clear()
        for thread in self._threads.values():
            self._index_thread(thread)

    def _index_thread(self, thread: Thread) -> None:
        self._thread_index.add(
            thread.key, thread.account, thread.subject, (m.message_id for m in thread.messages)
        )

    def _put(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        """Store `value` under `key`, journaled (call inside a transaction)."""
        previous = table.get(key, _MISSING)
        if previous is not _MISSING and previous == value:
            return
        self._journal.append((table, key, previous))
        table[key] = value

    def _count_parties(self, account: str, parties: Parties, change: int) -> None:
        """Add `change` to the party index's count, journaled; an entry that reaches 0 goes."""
        key = (account, parties)
        count = self._party_counts.get(key, 0) + change
        if count > 0:
            self._put(self._party_counts, key, count)
        elif key in self._party_counts:
            self._journal.append((self._party_counts, key, self._party_counts.pop(key)))

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the store is closed")

    # -- messages ---------------------------------------------------------

    def has_message(self, account: str, message_id: str) -> bool:
        """True if this message was stored before."""
        with self.transaction():
            return (account, message_id) in self._messages

    def put_message(self, message: MailMessage) -> bool:
        """Store the message's metadata (its body is dropped). True if it was new."""
        if message.body_text:
            message = dataclasses.replace(message, body_text="")
        with self.transaction():
            key = (message.account, message.message_id)
            previous = self._messages.get(key)
            self._put(self._messages, key, message)
            now = _parties(message)
            before = None if previous is None else _parties(previous)
            if before != now:
                if before is not None:
                    self._count_parties(message.account, before, -1)
                self._count_parties(message.account, now, 1)
            return previous is None

    def get_message(self, account: str, message_id: str) -> MailMessage | None:
        """The stored message (with an empty body), or None."""
        with self.transaction():
            return self._messages.get((account, message_id))

    def message_parties(self, account: str | None = None) -> Iterator[Parties]:
        """From, To and Cc of every stored message (of `account`), each message once, in no set order."""
        with self.transaction():
            found = [_parties(m) for m in self._messages.values() if account in (None, m.account)]
        yield from found

    def party_counts(self, account: str | None = None) -> Iterator[tuple[Parties, int]]:
        """Each distinct From, To and Cc of the stored messages (of `account`), with how many have it."""
        counted: Counter[Parties] = Counter()
        with self.transaction():
            for (entry_account, parties), count in self._party_counts.items():
                if account in (None, entry_account):
                    counted[parties] += count
        return iter(counted.items())

    def count_messages(self, account: str | None = None) -> dict[str, int]:
        """Number of stored messages by role (``{"sent": n, "received": m}``)."""
        counts = {"sent": 0, "received": 0}
        with self.transaction():
            for message in self._messages.values():
                if account is None or message.account == account:
                    counts[message.role] = counts.get(message.role, 0) + 1
        return counts

    # -- threads ----------------------------------------------------------

    def get_thread(self, key: str) -> Thread | None:
        """The thread with this key, or None."""
        with self.transaction():
            return self._threads.get(key)

    def put_thread(self, thread: Thread) -> None:
        """Store or replace a thread and update its indexes."""
        with self.transaction():
            self._put(self._threads, thread.key, thread)
            self._index_thread(thread)

    def thread_key_for_message(self, account: str, message_id: str) -> str | None:
        """Key of the thread containing this message id, or None."""
        with self.transaction():
            return self._thread_index.key_for_message(account, message_id)

    def threads_with_subject(self, account: str, subject: str) -> list[Thread]:
        """Threads of the account whose normalized subject equals `subject`."""
        with self.transaction():
            return [self._threads[key] for key in self._thread_index.keys_with_subject(account, subject)]

    def threads(self, account: str | None = None) -> Iterator[Thread]:
        """All threads (of one account, if given)."""
        with self.transaction():
            selected = [t for t in self._threads.values() if account is None or t.account == account]
        return iter(selected)

    # -- promises ---------------------------------------------------------

    def get_promise(self, promise_id: str) -> Promise | None:
        """The promise with this id, or None."""
        with self.transaction():
            return self._promises.get(promise_id)

    def put_promise(self, promise: Promise) -> bool:
        """Store or replace a promise. True if it was new."""
        with self.transaction():
            previous = self._promises.get(promise.id)
            if previous != promise:
                self._put(self._promises, promise.id, promise)
                self._put(self._meta, PROMISE_REVISION, new_promise_revision())
            return previous is None

    def promises(self, account: str | None = None) -> Iterator[Promise]:
        """All promises (of one account, if given), oldest first."""
        with self.transaction():
            selected = [p for p in self._promises.values() if account is None or p.account == account]
        return iter(sorted(selected, key=promise_order))

    # -- introductions and leads ------------------------------------------

    def get_introduction(self, introduction_id: str) -> Introduction | None:
        """The introduction with this id, or None."""
        with self.transaction():
            return self._introductions.get(introduction_id)

    def put_introduction(self, introduction: Introduction) -> bool:
        """Store or replace an introduction. True if it was new."""
        with self.transaction():
            is_new = introduction.id not in self._introductions
            self._put(self._introductions, introduction.id, introduction)
            return is_new

    def introductions(self, account: str | None = None) -> Iterator[Introduction]:
        """All introductions (of one account, if given), oldest first."""
        with self.transaction():
            selected = [i for i in self._introductions.values() if account is None or i.account == account]
        return iter(sorted(selected, key=lambda i: dated_order(i.made_at, i.id)))

    def get_lead(self, lead_id: str) -> Lead | None:
        """The lead with this id, or None."""
        with self.transaction():
            return self._leads.get(lead_id)

    def put_lead(self, lead: Lead) -> bool:
        """Store or replace a lead. True if it was new."""
        with self.transaction():
            is_new = lead.id not in self._leads
            self._put(self._leads, lead.id, lead)
            return is_new

    def leads(self, account: str | None = None) -> Iterator[Lead]:
        """All leads (of one account, if given), oldest first."""
        with self.transaction():
            selected = [lead for lead in self._leads.values() if account is None or lead.account == account]
        return iter(sorted(selected, key=lambda lead: dated_order(lead.received_at, lead.id)))

    # -- cursors ----------------------------------------------------------

    def get_cursor(self, account: str, folder: str) -> dict[str, Any] | None:
        """The cursor stored for this folder, or None."""
        with self.transaction():
            cursor = self._cursors.get((account, folder))
        return None if cursor is None else json_copy(cursor)

    def set_cursor(self, account: str, folder: str, cursor: dict[str, Any]) -> None:
        """Store the cursor for this folder."""
        cursor = json_copy(cursor)
        with self.transaction():
            self._put(self._cursors, (account, folder), cursor)

    # -- meta -------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        """A named JSON value, or `default`."""
        with self.transaction():
            value = self._meta.get(key, _MISSING)
        return default if value is _MISSING else json_copy(value)

    def set_meta(self, key: str, value: Any) -> None:
        """Store a named JSON value."""
        value = json_copy(value)
        with self.transaction():
            self._put(self._meta, key, value)

    def close(self) -> None:
        """Forget everything; the store must not be used afterwards."""
        with self._lock:
            if self._depth:
                raise RuntimeError("cannot close the store inside a transaction")
            self._closed = True
