"""The store kept uses: `TinyDBStore`, two TinyDB JSON files, ``kept.json`` and ``kept.messages.json``.

TinyDB keeps a whole database in one JSON object and rewrites it on every
change; it is neither crash-safe nor safe for two processes, and at 200,000
messages one such file is too big to parse at every start and rewrite at
every batch. The store wraps it so that it is all three. This module holds
the store's records API (messages, threads, promises, introductions, leads,
cursors, meta, ``export`` and ``forget``) and its transactions; the parts
it is made of are modules of their own:

==============================  ==============================================
`kept.storage.main_file`        the main file (``kept.json``), held in memory
                                between commits, journaled, written once per
                                commit, and the pass file (``kept.pass.json``):
                                the meta values every scan pass writes
`kept.storage.message_file`     the message file (``kept.messages.json``):
                                older messages, read a line at a time through
                                its index, and the crash-safe move into it
`kept.storage.lines`            the one-document-per-line layout both share
`kept.storage.index`            the thread index, and matching a person's
                                address
`kept.storage.parties`          the party index: the distinct From, To and
                                Cc of the messages, with their counts
`kept.storage.transaction_lock` the lock every transaction holds
                                (``kept.json.lock``), and `set_aside`
`kept.storage.migration`        schema versions and older layouts
`kept.storage.files`            the files' names, atomic writes
==============================  ==============================================

A transaction (`TinyDBStore.transaction`) holds the lock from start to end,
so the daemon and a CLI command take turns; it reads the main file when it
starts (unless nobody wrote it since), and writes what changed at its end,
atomically. An exception undoes the writes made inside it.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from kept.errors import StorageError
from kept.models import Introduction, Lead, MailMessage, Promise, Thread
from kept.storage import parties
from kept.storage.base import PROMISE_REVISION, Parties, new_promise_revision
from kept.storage.files import Signature, damaged, marker_path, messages_path, pass_path, write_atomically
from kept.storage.index import Person, names_for
from kept.storage.lines import Stored, as_document, member_document, member_line, pair_key
from kept.storage.main_file import HOT_MESSAGES, TABLES, Database, KeyedTable, MainFile
from kept.storage.memory import dated_order, json_copy, promise_order
from kept.storage.message_file import MessageFile
from kept.storage.serialize import from_json, thread_document_in_full, to_json
from kept.storage.transaction_lock import DEFAULT_LOCK_TIMEOUT, acquire_lock, database_lock, set_aside

# What code (the CLI, benchmarks, tests) imports from here: the store and
# the helpers that name and move its files.
__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "HOT_MESSAGES",
    "TABLES",
    "TinyDBStore",
    "marker_path",
    "messages_path",
    "set_aside",
]

logger = logging.getLogger(__name__)

_R = TypeVar("_R")

# The names these parts had here before the store was split into modules;
# tests reach them through this module (and replace `_write_atomically`).
_AtomicJSONStorage = MainFile
_MessageFile = MessageFile
_write_atomically = write_atomically


def _write_file(path: Path, payload: bytes | Iterable[bytes], mtime_ns: int) -> Signature:
    """How every store writes its main file, pass file and marker: `_write_atomically`, looked up here at each call.

    So one place sees every such write, to count it or make it fail (the
    crash and disk-full tests replace `_write_atomically`).
    """
    return _write_atomically(path, payload, mtime_ns)


class TinyDBStore:
    """A `kept.storage.base.Store` in two TinyDB JSON files (see the module docstring).

    :param path: the main file; it and its directory (mode 0700) are
        created when missing. The message file is `messages_path(path)`.
    :param lock_timeout: seconds to wait for another kept process holding
        the lock before giving up with `StorageError`.
    :param hot_messages: messages the main file holds before a commit moves
        them to the message file (`HOT_MESSAGES`).
    :raises StorageError: if a file is damaged, from a newer kept, cannot
        be created, or stays locked.
    """

    def __init__(
        self, path: Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT, hot_messages: int = HOT_MESSAGES
    ) -> None:
        self.path = Path(path)
        self.messages_path = messages_path(self.path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout = lock_timeout
        self._closed = False
        self._depth = 0
        # One thread at a time; the file lock keeps other processes out.
        self._thread_lock = threading.RLock()
        self._make_directory()
        self._db = Database(self.path, storage=MainFile, hot_messages=hot_messages, write_file=_write_file)
        self._storage = cast(MainFile, self._db.storage)
        self._tables: dict[str, KeyedTable] = {name: cast(KeyedTable, self._db.table(name)) for name in TABLES}
        self._file_lock = database_lock(self.path, lock_timeout)
        with self.transaction():
            self._remove_stale_temporaries()
        self._warn_about_permissions()

    def __repr__(self) -> str:
        return f"TinyDBStore({str(self.path)!r})"

    # -- opening ----------------------------------------------------------

    def _make_directory(self) -> None:
        directory = self.path.parent
        if directory.is_dir():
            return
        try:
            directory.mkdir(mode=0o700, parents=True)
            # mkdir's mode is filtered through the umask; make sure.
            directory.chmod(0o700)
        except FileExistsError:
            pass
        except OSError as error:
            raise StorageError(f"cannot create the directory {directory} for the database: {error.strerror}") from error

    def _remove_stale_temporaries(self) -> None:
        """Delete temporary files left by a writer that was killed mid-commit.

        Called with the file lock held: no live writer can own one. (An
        unfinished message file, ``.next``, is dealt with when it is loaded.)
        """
        # The main file's and the marker's, and the pass file's (kept.pass.json).
        leftovers = [*self.path.parent.glob(f".{self.path.name}.*.tmp"),
                     *self.path.parent.glob(f".{pass_path(self.path).name}.*.tmp")]
        for leftover in leftovers:
            logger.info("Removing %s, left by an interrupted write", leftover)
            try:
                leftover.unlink()
            except OSError as error:
                logger.warning("Cannot remove %s: %s", leftover, error.strerror or error)

    def _warn_about_permissions(self) -> None:
        checked = ((self.path, 0o600), (self.messages_path, 0o600), (pass_path(self.path), 0o600),
                   (self.path.parent, 0o700))
        for target, allowed in checked:
            try:
                mode = stat.S_IMODE(os.stat(target).st_mode)
            except OSError:
                continue
            if mode & ~allowed & 0o777:
                logger.warning(
                    "%s has permissions %04o, so other users may read what kept knows of your mail; "
                    "run `chmod %o %s`",
                    target,
                    mode,
                    allowed,
                    target,
                )

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")

    # -- transactions -----------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Lock the files, batch all writes inside, commit them atomically on success.

        An exception undoes the writes made inside this transaction (for an
        inner one, only its own) and propagates.
        """
        with self._thread_lock:
            self._check_open()
            if self._depth:
                savepoint = len(self._storage.journal)
                self._depth += 1
                try:
                    yield
                except BaseException:
                    self._storage.undo(savepoint)
                    raise
                finally:
                    self._depth -= 1
                return

            self._acquire_file_lock()
            self._depth = 1
            try:
                self._storage.refresh()
                yield
                self._storage.commit()
            except BaseException:
                # Drop everything not yet on disk; the next transaction
                # reads the files again.
                self._storage.forget()
                raise
            finally:
                self._depth = 0
                self._file_lock.release()

    def _acquire_file_lock(self) -> None:
        acquire_lock(self._file_lock, self.lock_timeout)

    def _decode(self, cls: type[_R], document: Stored | None) -> _R | None:
        if document is None:
            return None
        try:
            return from_json(cls, as_document(document))
        except ValueError as error:
            raise damaged(self.path, str(error)) from error

    def _document(self, stored: Stored, table: str, key: str) -> dict[str, Any]:
        """`as_document`, a line that holds no document reported as damage (with its table and key)."""
        try:
            return as_document(stored)
        except ValueError as error:
            raise damaged(self.path, f"the {table} document {key[:80]!r} is not readable ({error})") from error

    # -- messages ---------------------------------------------------------

    def has_message(self, account: str, message_id: str) -> bool:
        """True if this message was stored before."""
        with self.transaction():
            return (
                self._tables["messages"].raw(pair_key(account, message_id)) is not None
                or self._storage.archive.entry(account, message_id) is not None
            )

    def put_message(self, message: MailMessage) -> bool:
        """Store the message's metadata (its body is dropped). True if it was new.

        The party index counts a new message, and moves a replaced one's
        count when its From, To or Cc changed.
        """
        key = pair_key(message.account, message.message_id)
        document = to_json(message)
        member = member_line(key, document)
        with self.transaction():
            table = self._tables["messages"]
            # A message stored anew since it moved to the message file is in both; the main file's is current.
            previous = table.raw(key)
            if previous is None:
                previous = self._storage.archive.read(message.account, message.message_id)
            if previous == member:
                return False  # stored already
            table.put(key, member)
            if self._storage.parties_indexed:
                now = parties.parties_of(document)
                before = None if previous is None else self._parties_of_stored(previous)
                if before != now:
                    if before is not None:
                        self._count_parties(message.account, before, -1)
                    self._count_parties(message.account, now, 1)
            return previous is None

    def _parties_of_stored(self, stored: Stored) -> Parties:
        try:
            return parties.parties_of(as_document(stored))
        except ValueError as error:
            raise damaged(self.path, f"a stored message is damaged ({error})") from error

    def _count_parties(self, account: str, found: Parties, change: int) -> None:
        """Add `change` to the party index's count of `account`'s `found` (call with the index built)."""
        parties.add(self._tables[parties.TABLE], account, found, change, self.path)

    def get_message(self, account: str, message_id: str) -> MailMessage | None:
        """The stored message (with an empty body), or None."""
        with self.transaction():
            stored = self._tables["messages"].raw(pair_key(account, message_id))
            if stored is None:
                stored = self._storage.archive.read(account, message_id)
            return self._decode(MailMessage, stored)

    def message_parties(self, account: str | None = None) -> Iterator[Parties]:
        """From, To and Cc of every stored message (of `account`), each message once, in no set order.

        Read inside one transaction, the message file a line at a time; only
        the address fields of each document are decoded.
        """
        with self.transaction():
            hot = self._storage.table("messages")
            for _, found in parties.stored_parties(self._storage.archive, hot, self.path, account):
                yield found

    def party_counts(self, account: str | None = None) -> Iterator[tuple[Parties, int]]:
        """Each distinct From, To and Cc of the stored messages (of `account`), with how many have it.

        Read from the main file's table of it; a file of schema 2 or older,
        which has none until its first commit, has its messages counted
        instead (`message_parties`), which writes nothing.
        """
        with self.transaction():
            if self._storage.parties_indexed:
                return iter(list(parties.counts(self._storage.table(parties.TABLE), self.path, account)))
            return iter(Counter(self.message_parties(account)).items())

    def count_messages(self, account: str | None = None) -> dict[str, int]:
        """Number of stored messages by role (``{"sent": n, "received": m}``)."""
        counts = {"sent": 0, "received": 0}
        with self.transaction():
            archive = self._storage.archive
            by_role = archive.role_counts()
            for stored in self._tables["messages"].raw_documents():
                document = as_document(stored)
                message_account, message_id = document["account"], document["message_id"]
                by_role[message_account, document["role"]] += 1
                entry = archive.entry(message_account, message_id)
                if entry is not None:  # a newer version of an archived message
                    by_role[message_account, "sent" if entry & 1 else "received"] -= 1
            for (message_account, role), count in by_role.items():
                if count and (account is None or message_account == account):
                    counts[role] = counts.get(role, 0) + count
        return counts

    # -- threads ----------------------------------------------------------

    def get_thread(self, key: str) -> Thread | None:
        """The thread with this key, or None."""
        with self.transaction():
            return self._decode(Thread, self._tables["threads"].raw(key))

    def put_thread(self, thread: Thread) -> None:
        """Store or replace a thread and update its indexes."""
        document = to_json(thread)
        member = member_line(thread.key, document)
        with self.transaction():
            self._tables["threads"].put(thread.key, member)
            self._storage.index_thread(document)

    def thread_key_for_message(self, account: str, message_id: str) -> str | None:
        """Key of the thread containing this message id, or None."""
        with self.transaction():
            return self._storage.thread_index().key_for_message(account, message_id)

    def threads_with_subject(self, account: str, subject: str) -> list[Thread]:
        """Threads of the account whose normalized subject equals `subject`."""
        with self.transaction():
            table = self._tables["threads"]
            found = (
                self._decode(Thread, table.raw(key))
                for key in self._storage.thread_index().keys_with_subject(account, subject)
            )
            return [thread for thread in found if thread is not None]

    def threads(self, account: str | None = None) -> Iterator[Thread]:
        """All threads (of one account, if given).

        The threads are read when this is called, so the caller may store
        threads while iterating.
        """
        with self.transaction():
            selected = self._select(Thread, "threads", account)
        return iter(selected)

    # -- promises ---------------------------------------------------------

    def get_promise(self, promise_id: str) -> Promise | None:
        """The promise with this id, or None."""
        with self.transaction():
            return self._decode(Promise, self._tables["promises"].raw(promise_id))

    def put_promise(self, promise: Promise) -> bool:
        """Store or replace a promise. True if it was new."""
        document = to_json(promise)
        member = member_line(promise.id, document)
        with self.transaction():
            table = self._tables["promises"]
            previous = table.raw(promise.id)
            if previous is not None and previous != member and self._document(previous, "promises", promise.id) == document:
                return False  # the same promise, written another way (by hand, or an older kept): nothing changes
            table.put(promise.id, member)
            if previous != member:
                self._tables["meta"].put(PROMISE_REVISION, {"value": new_promise_revision()})
            return previous is None

    def promises(self, account: str | None = None) -> Iterator[Promise]:
        """All promises (of one account, if given), oldest first."""
        with self.transaction():
            selected = self._select(Promise, "promises", account)
        return iter(sorted(selected, key=promise_order))

    def _select(self, cls: type[_R], table: str, account: str | None) -> list[_R]:
        """Every record of a table, of one account if given."""
        documents = (self._document(stored, table, key) for key, stored in self._tables[table].raw_items())
        return [
            cast(_R, self._decode(cls, document))
            for document in documents
            if account is None or document.get("account") == account
        ]

    # -- introductions and leads ------------------------------------------

    def get_introduction(self, introduction_id: str) -> Introduction | None:
        """The introduction with this id, or None."""
        with self.transaction():
            return self._decode(Introduction, self._tables["introductions"].raw(introduction_id))

    def put_introduction(self, introduction: Introduction) -> bool:
        """Store or replace an introduction. True if it was new."""
        document = to_json(introduction)
        with self.transaction():
            return self._tables["introductions"].put(introduction.id, document) is None

    def introductions(self, account: str | None = None) -> Iterator[Introduction]:
        """All introductions (of one account, if given), oldest first."""
        with self.transaction():
            selected = self._select(Introduction, "introductions", account)
        return iter(sorted(selected, key=lambda i: dated_order(i.made_at, i.id)))

    def get_lead(self, lead_id: str) -> Lead | None:
        """The lead with this id, or None."""
        with self.transaction():
            return self._decode(Lead, self._tables["leads"].raw(lead_id))

    def put_lead(self, lead: Lead) -> bool:
        """Store or replace a lead. True if it was new."""
        document = to_json(lead)
        with self.transaction():
            return self._tables["leads"].put(lead.id, document) is None

    def leads(self, account: str | None = None) -> Iterator[Lead]:
        """All leads (of one account, if given), oldest first."""
        with self.transaction():
            selected = self._select(Lead, "leads", account)
        return iter(sorted(selected, key=lambda lead: dated_order(lead.received_at, lead.id)))

    # -- cursors ----------------------------------------------------------

    def get_cursor(self, account: str, folder: str) -> dict[str, Any] | None:
        """The cursor stored for this folder, or None."""
        with self.transaction():
            document = self._tables["cursors"].raw(pair_key(account, folder))
            return None if document is None else cast(dict[str, Any], json_copy(as_document(document).get("cursor")))

    def set_cursor(self, account: str, folder: str, cursor: dict[str, Any]) -> None:
        """Store the cursor for this folder."""
        document = {"account": account, "folder": folder, "cursor": json_copy(cursor)}
        with self.transaction():
            self._tables["cursors"].put(pair_key(account, folder), document)

    # -- meta -------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        """A named JSON value, or `default`."""
        with self.transaction():
            document = self._tables["meta"].raw(key)
            return default if document is None else json_copy(as_document(document).get("value"))

    def set_meta(self, key: str, value: Any) -> None:
        """Store a named JSON value."""
        document = {"value": json_copy(value)}
        with self.transaction():
            self._tables["meta"].put(key, document)

    # -- everything at once -------------------------------------------------

    def _all_messages(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every stored message as (document id, document): the message file's, then the hot ones.

        The message file is read a line at a time; a message stored anew
        since it moved there comes from the main file instead.
        """
        hot = self._tables["messages"]
        for account, message_id, member in self._storage.archive.members():
            key = pair_key(account, message_id)
            if hot.raw(key) is None:
                try:
                    yield key, member_document(member)
                except ValueError as error:
                    raise damaged(self.path, f"{self.messages_path} holds a damaged line ({error})") from error
        for key, stored in hot.raw_items():
            yield key, as_document(stored)

    def export_tables(self) -> Generator[tuple[str, Iterator[dict[str, Any]] | dict[str, Any]], None, None]:
        """Everything stored, table by table, as JSON values (``kept export``).

        Each table but meta comes as an iterator of its documents, read as it
        is consumed (the message file a line at a time), so the whole
        database is never held at once; meta comes as a mapping of its names
        to values. All of it is read inside one transaction: a consistent
        snapshot, with the files locked until the iteration ends (or the
        generator is closed: a caller that stops early must close it before
        closing the store).
        """
        with self.transaction():
            for name, table in self._tables.items():
                if name == parties.TABLE:
                    # Its keys hold the names and addresses: spelled out, as everything kept holds is.
                    yield name, parties.exported(table.raw_items(), self.path)
                elif name == "messages":
                    yield name, (document for _, document in self._all_messages())
                elif name == "meta":
                    yield name, {key: json_copy(self._document(d, name, key).get("value")) for key, d in table.raw_items()}
                else:
                    yield name, self._exported(name, table.raw_items())

    def _exported(self, table: str, items: list[tuple[str, Stored]]) -> Iterator[dict[str, Any]]:
        """The documents of `table` as `export_tables` gives them: copies, threads with every field."""
        for key, stored in items:
            document = self._document(stored, table, key)
            yield json_copy(thread_document_in_full(document) if table == "threads" else document)

    def export(self) -> dict[str, Any]:
        """`export_tables`, all of it in memory: ``{table: [document, ...], "meta": {name: value}}``."""
        tables = self.export_tables()
        try:
            return {name: value if isinstance(value, dict) else list(value) for name, value in tables}
        finally:
            tables.close()  # ends its transaction, also when a damaged document stopped the reading

    def meta_keys(self) -> list[str]:
        """The names of every meta value stored, in the order they were first stored."""
        with self.transaction():
            return [key for key, _ in self._tables["meta"].raw_items()]

    def person(self, address: str) -> Person:
        """The person at `address`, with every name the stored records give them (for `forget`).

        Read from the From, To and Cc of every message, leads and introductions.
        """
        names: set[str] = set()
        with self.transaction():
            for _, document in self._all_messages():
                names.update(names_for(address, document))
            for name in ("introductions", "leads"):
                for stored in self._tables[name].raw_documents():
                    names.update(names_for(address, as_document(stored)))
        return Person(address, names)

    def forget(self, address: str | Person) -> dict[str, int]:
        """Erase everything stored about a person (``kept forget``): their address, and the names their mail gives them.

        Removed, in one transaction, where the address or one of the names
        (see `Person`) appears:

        * every thread that names them (any of its messages from, to or cc
          them, its subject), with all its message records and its promises;
        * every other message record, promise, introduction or lead that
          names them anywhere (a promise to someone else naming them too);
        * in meta: the entries of lists that name them (muted contacts,
          notes for the next digest, scan problems, digest replies), the
          entries of tables keyed by address or id that do (keep-in-touch
          decisions), and any other value that does, whole (a planned
          digest, an account's health).

        The party index counts the removed messages no more. Both files
        are rewritten without them. Cursors are kept, so the
        next scan does not read that mail again. Mail still in the mailbox
        comes back after a ``kept rebuild``. Copies ``kept rebuild`` set
        aside are `kept.storage.transaction_lock.forget_in_set_aside_copies`'s.

        :returns: how many records were removed, by table (meta: entries and values).
        """
        removed: Counter[str] = Counter()
        with self.transaction():
            person = address if isinstance(address, Person) else self.person(address)
            threads = self._tables["threads"]
            gone_threads = {
                key for key, stored in threads.raw_items() if person.mentioned_in(self._document(stored, "threads", key))
            }

            def named(document: Mapping[str, Any]) -> bool:
                return document.get("thread_key") in gone_threads or person.mentioned_in(document)

            # Messages: a match in either file removes the message from both.
            gone_messages = {key: document for key, document in self._all_messages() if named(document)}
            archive = self._storage.archive
            # A message stored anew since it moved to the message file has an
            # older copy there that `_all_messages` passes by: it may name them too.
            hot = self._tables["messages"]
            for account, message_id, member in archive.members():
                key = pair_key(account, message_id)
                current = hot.raw(key)
                if current is None or key in gone_messages:
                    continue
                try:
                    older = member_document(member)
                except ValueError as error:
                    raise damaged(self.path, f"{self.messages_path} holds a damaged line ({error})") from error
                if named(older):
                    gone_messages[key] = self._document(current, "messages", key)
            indexed = self._storage.parties_indexed
            for key, document in gone_messages.items():
                account, message_id = json.loads(key)
                entry = archive.remove(account, message_id)
                if entry is not None:
                    self._storage.journal.append(("archive", key, entry))
                self._tables["messages"].delete(key)
                if indexed:
                    self._count_parties(account, self._parties_of_stored(document), -1)
            removed["messages"] = len(gone_messages)
            if indexed:
                self._forget_in_party_index(person)
            for name, table in self._tables.items():
                if name in ("messages", "cursors", "meta", parties.TABLE):
                    continue
                for key, stored in table.raw_items():
                    document = self._document(stored, name, key)
                    if (name == "threads" and key in gone_threads) or (name != "threads" and named(document)):
                        table.delete(key)
                        removed[name] += 1
                        if name == "threads":
                            self._storage.thread_index().discard(key)
            meta = self._tables["meta"]
            if removed["promises"]:
                meta.put(PROMISE_REVISION, {"value": new_promise_revision()})
            for key, stored in meta.raw_items():
                value = as_document(stored).get("value")
                if not person.mentioned_in(value):
                    continue
                if isinstance(value, list):
                    left: Any = [item for item in value if not person.mentioned_in(item)]
                elif isinstance(value, dict) and all(isinstance(item, (dict, list)) for item in value.values()):
                    # A table of records by key (keep-in-touch decisions by address): their entries go.
                    left = {k: v for k, v in value.items() if not (person.mentions(k) or person.mentioned_in(v))}
                else:
                    # One record or one value (a planned digest, an account's health): it goes whole.
                    meta.delete(key)
                    removed["meta"] += 1
                    continue
                meta.put(key, {"value": left})
                removed["meta"] += len(value) - len(left)
        removed = +removed  # drop zero counts
        logger.info("Forgot a contact: %s", ", ".join(f"{n} {name}" for name, n in sorted(removed.items())))
        return dict(removed)

    def _forget_in_party_index(self, person: Person) -> None:
        """Delete what the party index still holds of `person`, after their messages' counts were taken away.

        Nothing, unless the index disagreed with the messages: every
        message whose From, To or Cc names them was removed.
        """
        table = self._tables[parties.TABLE]
        left = [key for key, _ in table.raw_items() if person.mentions(key)]
        for key in left:
            table.delete(key)
        if left:
            logger.warning("The party index still named a forgotten contact in %d entries; removed", len(left))

    def close(self) -> None:
        """Drop the in-memory copy. The store must not be used afterwards."""
        with self._thread_lock:
            if self._closed:
                return
            if self._depth:
                raise RuntimeError("cannot close the store inside a transaction")
            self._closed = True
            self._db.close()

