"""The main file of a TinyDB store, ``kept.json``: everything but the older messages, in memory between commits.

TinyDB keeps a whole database in one JSON object and rewrites it on every
change; it is neither crash-safe nor safe for two processes, and at 200,000
messages one such file is too big to parse at every start and rewrite at
every batch. `MainFile` is the TinyDB storage that makes it all three:

* The file is read once when a transaction starts (`MainFile.refresh`),
  and not even that when its inode, size and modification time show nobody
  else wrote it since we last read or wrote it. Changes are made to that
  in-memory copy, journaled, and the file is written once, at commit, and
  only if something changed.
* Writing goes through `kept.storage.files.write_atomically`: after a
  crash the file holds either the old or the new state, never half of one.
* Documents are keyed by their records' natural keys (`KeyedTable`:
  TinyDB tables with string document ids); a thread index
  (`kept.storage.index`) answers "which thread holds this message id" and
  "which threads have this subject" without a scan.

The file holds threads, promises, introductions, leads, cursors, meta, the
party index (`kept.storage.parties`) and only the messages stored since
the last move (the *hot* messages); once `HOT_MESSAGES` of them have
gathered, a commit moves them to the message file
(`kept.storage.message_file`, which also describes the crash-safe order of
that move). Its layout is `kept.storage.lines`'; older layouts are
`kept.storage.migration`'s.

What every scan pass writes, the time of the last scan and each account's
health (`kept.storage.meta.is_pass_meta`), is not in the main file but in
the pass file beside it (`kept.storage.files.pass_path`: the database's id
and those meta documents, one small JSON object), laid over the main
file's meta when the files are read. A commit that changes only those
writes only the pass file, so a pass that finds nothing new does not
rewrite the main file. A commit that changes both writes the pass file
first: if that fails, nothing is written; a crash between the two writes
leaves the pass file a commit ahead (the time and health of a pass whose
batch is read again), never a value the commit removed (``kept forget``).
A main file that holds pass values was written by a kept from before the
pass file, after this one: its values are the newer, and the pass file is
ignored until the next commit writes both. A pass file that is damaged or
names another database (a restored backup) is ignored with a warning;
nothing else depends on it.

In memory, thread, promise, hot message and party index documents are
kept as the JSON text of their lines and decoded when read; commits
stream the file out in chunks instead of building it as one string,
encoding again only the documents changed since the last commit.
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, cast

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from kept.errors import StorageError, StorageWriteError
from kept.storage import migration, parties
from kept.storage.base import SCHEMA_VERSION
from kept.storage.files import (
    REBUILD_HINT,
    Signature,
    damaged,
    marker_path,
    messages_path,
    pass_path,
    rebuild_note_path,
    write_atomically,
)
from kept.storage.index import LazyThreadIndex, thread_entry
from kept.storage.lines import (
    COMPACT_TABLES,
    ENCODER,
    Change,
    Stored,
    Tables,
    as_document,
    member_document,
    member_line,
    meta_value,
    parse_line,
    split_line,
    table_name,
)
from kept.storage.memory import ThreadIndex
from kept.storage.message_file import ARCHIVE_META, MessageFile
from kept.storage.meta import is_pass_meta

__all__ = ["HOT_MESSAGES", "TABLES", "Database", "KeyedTable", "MainFile", "WriteFile", "read_tables"]

logger = logging.getLogger(__name__)

#: How the main file, the pass file and the marker are written: `write_atomically`, or what the store passes instead.
WriteFile = Callable[[Path, "bytes | Iterable[bytes]", int], Signature]


def _hot_messages_default() -> int:
    """`HOT_MESSAGES`: 5,000, or ``$KEPT_HOT_MESSAGES`` if set (the crash tests set it low)."""
    value = os.environ.get("KEPT_HOT_MESSAGES", "")
    return int(value) if value.isdigit() and int(value) > 0 else 5000


#: Messages the main file holds before a commit moves them to the message
#: file. Each move copies the message file, so fewer moves of more messages
#: cost less; the main file (rewritten at every commit) carries at most this
#: many, about 3 MB at 5,000.
HOT_MESSAGES = _hot_messages_default()

#: The tables of the main file.
TABLES = ("messages", "threads", "promises", "cursors", "meta", "introductions", "leads", parties.TABLE)

#: Tables whose lines are kept as read at load and split into document id
#: and member line when the table is first used (`MainFile.table`); their
#: documents are parsed later still, when read. A scan that finds nothing
#: new never uses the threads, the promises or the party index, and
#: splitting the 68,000 thread lines of a 200,000-message mailbox took
#: half of opening it. A damaged line is reported when its table is used.
_LAZY_TABLES = frozenset({"threads", "promises", parties.TABLE})

#: Documents per chunk written at commit: big enough for few writes, small
#: enough that no copy of the whole file is ever built in memory.
_CHUNK_DOCUMENTS = 2000


class KeyedTable(Table):
    """A TinyDB table whose document ids are the records' natural keys.

    TinyDB's own `Table._update_table` copies the whole table twice on every
    write (to convert ids between int and str). Our ids are strings already,
    so the table is changed in place: a put costs O(1), not O(n).
    """

    # TinyDB types this as int; its methods we use never convert ids.
    document_id_class = str  # type: ignore[assignment]

    @property
    def _atomic(self) -> MainFile:
        return cast(MainFile, self.storage)

    def _documents(self) -> dict[str, Stored]:
        return self._atomic.table(self.name)

    def raw(self, key: str) -> Stored | None:
        """The stored document itself (not a copy; do not change it; a member line in a compact table), or None."""
        return self._documents().get(key)

    def raw_items(self) -> list[tuple[str, Stored]]:
        """All (document id, stored document) pairs (not copies), in file order."""
        return list(self._documents().items())

    def raw_documents(self) -> list[Stored]:
        """All stored documents (not copies), in file order."""
        return list(self._documents().values())

    def delete(self, key: str) -> Stored | None:
        """Remove the document stored under `key`; return it (None if there was none)."""
        documents = self._documents()
        previous = documents.pop(key, None)
        if previous is not None:
            self._atomic.journal.append((self.name, key, previous))
        return previous

    def put(self, key: str, document: Stored) -> Stored | None:
        """Store `document` under `key`; return what it replaced (None if new).

        Storing a document equal to the current one changes nothing, so the
        transaction stays clean and no write happens.
        """
        documents = self._documents()
        previous = documents.get(key)
        if previous is not None and previous == document:
            return previous
        self._atomic.journal.append((self.name, key, previous))
        documents[key] = document
        return previous


class Database(TinyDB):
    table_class = KeyedTable


class MainFile(Storage):
    """TinyDB storage holding the main file in memory between commits, and the message file's index.

    `read` and `write` only touch the in-memory copy; `refresh` and `commit`
    move it to and from the disk. `table` gives one table of it: the lazy
    ones (`_LAZY_TABLES`) stay the lines read until first used, and a commit
    writes an unused one out as it was read. `journal` lists the changes
    since the last commit as (table, key, previous document or None), oldest
    first; the store uses it to undo an inner transaction and to know
    whether anything needs writing. `thread_index` indexes the threads of
    the copy, `archive` is the message file.

    Encoding the whole database anew at every commit would cost as much as
    the database is large; instead the JSON text of every document is kept
    from the last commit (compact tables hold nothing else), and only
    documents the journal names are encoded again.
    """

    def __init__(self, path: Path, hot_messages: int = HOT_MESSAGES, write_file: WriteFile = write_atomically) -> None:
        super().__init__()
        self.path = path
        self.hot_messages = hot_messages
        self._write_file = write_file
        self.data: Tables | None = None
        # Lazy tables not used since the load: name -> (line number of its
        # first document, its document lines as read); `data` holds an empty
        # table in their place until `table` splits them.
        self._unsplit: dict[str, tuple[int, list[bytes]]] = {}
        self.signature: Signature | None = None
        self.journal: list[Change] = []
        # Built from the thread lines on first use (`thread_index`): a scan
        # with nothing new, and a command that only reads promises, never
        # needs it, and it is most of the cost of reading a large file.
        self._threads = LazyThreadIndex()
        self.archive = MessageFile(messages_path(path), path)
        # table -> document id -> member line as last written (tables other than compact ones).
        self._encoded: dict[str, dict[str, str]] = {}
        self.pass_path = pass_path(path)
        # The pass file as last read or written: its signature (None: none
        # was there) and its meta documents, if it is this database's.
        self.pass_signature: Signature | None = None
        self._pass_on_disk = "{}"
        # The main file as read still holds pass values (written by a kept
        # before the pass file): its next commit rewrites it without them.
        self._main_holds_pass = False

    def read(self) -> Tables:
        """The whole in-memory copy, every table split (see `table`).

        :raises StorageError: if a line of a lazy table is damaged.
        """
        data = self._loaded()
        while self._unsplit:
            self._split(next(iter(self._unsplit)))
        return data

    def table(self, name: str) -> dict[str, Stored]:
        """One table of the in-memory copy (made empty if missing), split if it was not yet.

        :raises StorageError: if one of its lines is damaged.
        """
        data = self._loaded()
        if name in self._unsplit:
            self._split(name)
        return data.setdefault(name, {})

    def _loaded(self) -> Tables:
        if self.data is None:
            raise RuntimeError("the database is only readable inside a transaction")
        return self.data

    def _split(self, name: str) -> None:
        """Enter the lines of the lazy table `name` as read at load into its table, as (id, member line).

        :raises StorageError: if a line is not a document line; the table
            stays unsplit, so every use of it reports the damage.
        """
        number, lines = self._unsplit[name]
        table = self._loaded()[name]  # empty until split: nothing enters it before
        members: list[str] = []
        offset = 0
        try:
            for offset, raw in enumerate(lines):
                key, member = split_line(raw.decode("utf-8"), first=not offset)
                table[key] = member
                members.append(member)
                # Each line leaves memory as its member line enters: the table
                # is never held twice (46 MB of thread lines at 200k messages).
                lines[offset] = b""
        except ValueError as error:
            table.clear()
            for done, member in enumerate(members):  # the lines as they were (UTF-8 round-trips)
                lines[done] = f"{',' if done else ''}{member}\n".encode("utf-8")
            raise damaged(self.path, f"line {number + offset} is not a document ({error})") from error
        del self._unsplit[name]

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self.data = data
        self._unsplit.clear()  # `data` came from `read`, every table split

    def close(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Drop the in-memory copy; the next `refresh` reads the files."""
        self.data = None
        self._unsplit.clear()
        self.signature = None
        self.pass_signature = None
        self._pass_on_disk = ""
        self._main_holds_pass = False
        self.journal.clear()
        self._encoded.clear()
        self._threads.clear()
        self.archive.reset()

    def refresh(self) -> bool:
        """Make the in-memory copy match the files, creating the database if missing.

        :returns: True if the copy was (re)loaded, False if it was current.
        :raises StorageError: if a file is unreadable, damaged or too new.
        """
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            self._refuse_if_used_before()
            self._create()
            return True
        except OSError as error:
            raise StorageError(f"cannot read the database {self.path}: {error.strerror}") from error
        signature = (status.st_ino, status.st_size, status.st_mtime_ns)
        pass_signature = self._pass_status()
        if self.data is not None and signature == self.signature:
            if pass_signature == self.pass_signature:
                return False
            if not self._main_holds_pass:
                # Another process wrote only the pass file (its pass found
                # nothing new): read that, not the main file again.
                meta = self.data["meta"]
                for key in [key for key in meta if is_pass_meta(key)]:
                    del meta[key]
                self._read_pass(pass_signature)
                return True
        self.forget()
        try:
            self.data = self._load()
            self.signature = signature
            self._sync_marker()
            self._main_holds_pass = any(is_pass_meta(key) for key in self.data["meta"])
            self._read_pass(pass_signature)
            meta = self.data["meta"]
            self.archive.load(self._database_id(), meta_value(meta.get(ARCHIVE_META)))
        except BaseException:
            self.forget()
            raise
        return True

    def _pass_status(self) -> Signature | None:
        """The pass file's signature, or None when there is none (or it cannot be looked at)."""
        try:
            status = os.stat(self.pass_path)
        except OSError:
            return None
        return (status.st_ino, status.st_size, status.st_mtime_ns)

    def _read_pass(self, signature: Signature | None) -> None:
        """Lay the pass file's meta documents over the main file's (see the module docstring).

        Remembers what the file holds (`_pass_on_disk`): "{}" when there is
        none, "" when it is not this database's to keep (damaged, foreign,
        older than the main file), so the next commit writes it over.
        """
        self.pass_signature = signature
        self._pass_on_disk = "{}" if signature is None else ""
        if signature is None or self._main_holds_pass:
            return
        try:
            document = json.loads(self.pass_path.read_bytes())
            if not isinstance(document, dict) or not isinstance(document.get("meta"), dict):
                raise ValueError("it is not an object with a meta table")
        except (OSError, ValueError, RecursionError) as error:
            logger.warning(
                "Ignoring %s (%s): the time of the last scan and the accounts' health are missing until the next scan",
                self.pass_path, getattr(error, "strerror", None) or error,
            )
            return
        if document.get("database_id") != self._database_id():
            logger.warning("Ignoring %s: it belongs to another database (a restored backup?)", self.pass_path)
            return
        meta = self.table("meta")
        for key, value in document["meta"].items():
            if isinstance(key, str) and is_pass_meta(key) and isinstance(value, dict) and "value" in value:
                meta[key] = value
        self._pass_on_disk = self._pass_text()

    def _pass_text(self) -> str:
        """The pass meta documents of the in-memory copy, as the pass file's meta holds them."""
        documents = {key: document for key, document in self.table("meta").items() if is_pass_meta(key)}
        return json.dumps(documents, ensure_ascii=True, sort_keys=True)

    def _write_pass(self, text: str) -> None:
        """Replace the pass file with the pass meta documents `text` (`_pass_text`), atomically as the main file.

        :raises OSError: if writing failed; the file is left as it was.
        """
        payload = f'{{"database_id": {json.dumps(self._database_id())}, "meta": {text}}}\n'.encode("ascii")
        previous_mtime = self.pass_signature[2] if self.pass_signature else 0
        self.pass_signature = self._write_file(self.pass_path, payload, max(time.time_ns(), previous_mtime + 1))
        self._pass_on_disk = text

    def _refuse_if_used_before(self) -> None:
        """Refuse to start from zero where a database existed (its marker says so).

        An empty database looks like a first run: every old message would be
        read again and every old promise nudged again, even those the user
        closed. Only `kept rebuild` (which sets the marker aside) may do that.
        """
        marker = marker_path(self.path)
        if not marker.exists():
            return
        self.forget()
        if rebuild_note_path(self.path).exists():
            raise StorageError(
                f"the database {self.path} is being set aside by a kept rebuild that was interrupted",
                hint="run `kept scan` (or any command that writes): it finishes the rebuild, keeping your corrections",
            )
        raise StorageError(
            f"the database {self.path} is missing, but kept has used it before ({marker} exists); "
            "kept will not start from zero, which would raise every old promise again",
            hint=f"restore the file from a backup, or {REBUILD_HINT}",
        )

    def _create(self) -> None:
        logger.info("Creating the database %s", self.path)
        self.forget()
        self.data = {name: {} for name in TABLES}
        self._threads.mark_built()
        self.data["meta"]["schema_version"] = {"value": SCHEMA_VERSION}
        self.journal.append(("meta", "schema_version", None))
        self.data["meta"]["database_id"] = {"value": uuid.uuid4().hex}
        self.journal.append(("meta", "database_id", None))
        # No pass file yet; one left by another database is written over.
        self.pass_signature = self._pass_status()
        self._pass_on_disk = "" if self.pass_signature else "{}"
        # A message file of a database that was deleted (or set aside
        # without it) must not pass for this one's.
        self.archive.load(self._database_id(), None)
        self.commit()
        self._sync_marker()

    def _database_id(self) -> str:
        return cast(str, meta_value(self.table("meta").get("database_id")))

    def _sync_marker(self) -> None:
        """Make the marker next to the file name this database (see `marker_path`).

        A database from before markers existed gets an id here; the next
        commit stores it.
        """
        meta = self.table("meta")
        database_id = meta_value(meta.get("database_id"))
        if not isinstance(database_id, str):
            database_id = uuid.uuid4().hex
            self.journal.append(("meta", "database_id", meta.get("database_id")))
            meta["database_id"] = {"value": database_id}
        marker = marker_path(self.path)
        try:
            current = json.loads(marker.read_text(encoding="utf-8")).get("database_id")
        except (OSError, ValueError, AttributeError):
            current = None
        if current == database_id:
            return
        if current is not None:
            logger.warning("The database %s was replaced by another kept database (a restored backup?)", self.path)
        payload = json.dumps({"database_id": database_id, "database": self.path.name}).encode("ascii") + b"\n"
        try:
            self._write_file(marker, payload, time.time_ns())
        except OSError as error:
            # The database itself is fine; only the protection against its
            # deletion is missing until the next successful open.
            logger.warning("Cannot write %s: %s", marker, error.strerror or error)

    # -- loading ----------------------------------------------------------

    def _load(self) -> Tables:
        """Read the main file, indexing its threads on the way.

        :raises StorageError: if it is unreadable, damaged or too new.
        """
        try:
            with open(self.path, "rb") as file:
                first = file.readline()
                if table_name(first, first=True) is not None:
                    data = self._load_lines(file, first)
                else:
                    # One JSON object on one line: a file written by an older kept, or by hand.
                    file.seek(0)
                    data = migration.load_one_object(file.read(), self.path, TABLES, self._check)
                    self._threads.mark_built()  # on the way, since every thread was decoded anyway
        except OSError as error:
            raise StorageError(f"cannot read the database {self.path}: {error.strerror}") from error
        for name in TABLES:
            data.setdefault(name, {})
        migration.check_version(data["meta"], self.path)
        logger.debug("Read the database %s", self.path)
        return data

    def _load_lines(self, file: IO[bytes], line: bytes) -> Tables:
        """The tables of a file in the line layout (`kept.storage.lines`: one document per line)."""
        data: Tables = {}
        number = 1
        while True:
            name = table_name(line, first=not data)
            if name is None or name in data:
                raise damaged(self.path, f"line {number} is not the start of a table")
            table: dict[str, Stored] = {}
            data[name] = table
            if name in _LAZY_TABLES:  # split when first used (`table`)
                lines: list[bytes] = []
                for raw in file:
                    if raw == b"}\n":
                        break
                    if raw.startswith(b"}") or raw.endswith(b":{\n"):
                        # A closing line damaged, or lost before the next
                        # table's opening line: that table must not hide in this one.
                        raise damaged(self.path, f"line {number + len(lines) + 1} is not a document")
                    lines.append(raw)
                else:
                    raise damaged(self.path, f"it ends in the middle of the table {name!r}")
                if lines:
                    self._unsplit[name] = (number + 1, lines)
                number += len(lines) + 1
            else:
                number = self._parse_table(file, name, table, number)
            line = file.readline()
            number += 1
            if line == b"}\n" and not file.read(1):
                return data

    def _parse_table(self, file: IO[bytes], name: str, table: dict[str, Stored], number: int) -> int:
        """Read the document lines of table `name` into `table`, through its closing line; return that line's number."""
        fragments = None if name in COMPACT_TABLES else self._encoded.setdefault(name, {})
        for raw in file:
            number += 1
            if raw == b"}\n":
                return number
            try:
                key, document, member = parse_line(raw.decode("utf-8"), first=not table)
                self._check(name, document)
            except (ValueError, RecursionError) as error:
                raise damaged(self.path, f"line {number} is not a document ({error})") from error
            except (KeyError, TypeError) as error:
                raise damaged(self.path, f"a document lacks a field ({error!r})") from error
            if fragments is None:
                table[key] = member
            else:
                table[key] = document
                fragments[key] = member
        raise damaged(self.path, f"it ends in the middle of the table {name!r}")

    @property
    def parties_indexed(self) -> bool:
        """True if the in-memory copy holds the party index (schema 2 and older have none until their first commit)."""
        return migration.has_party_index(self.table("meta"))

    def _index_parties(self) -> dict[str, Stored]:
        """The party index of every message of the in-memory copy (`migration.upgrade` builds it once).

        :raises StorageError: if a message is damaged.
        """
        started = time.perf_counter()
        logger.info("Indexing the From, To and Cc of the stored messages, once (the database takes schema %d)",
                    SCHEMA_VERSION)
        index = parties.build(parties.stored_parties(self.archive, self.table("messages"), self.path))
        logger.info("Indexed %d distinct From, To and Cc in %.1f s", len(index), time.perf_counter() - started)
        return index

    @property
    def threads_indexed(self) -> bool:
        """True once `thread_index` has been built for the in-memory copy."""
        return self._threads.built

    def thread_index(self) -> ThreadIndex:
        """The index of the in-memory copy's threads, built from their lines on first use.

        :raises StorageError: if a thread line is damaged.
        """
        return self._threads.get(self.table("threads"), self.path)

    def _check(self, table: str, document: dict[str, Any]) -> None:
        """Check a document the store relies on at once, and index it if it is a thread.

        :raises KeyError, TypeError: if it lacks a field.
        """
        if table == "threads":
            self._threads.add(document)
        elif table == "messages":
            if not (isinstance(document["account"], str) and isinstance(document["message_id"], str)):
                raise TypeError("account and message_id must be strings")
            document["role"]  # noqa: B018 - a missing role fails here, not at the next move

    def index_thread(self, document: Mapping[str, Any]) -> None:
        """Enter a thread document being stored into the thread index.

        :raises StorageError: if it lacks a field.
        """
        try:
            key, account, subject, message_ids = thread_entry(document)
        except (KeyError, TypeError) as error:
            raise damaged(self.path, f"a thread lacks a field ({error!r})") from error
        self.thread_index().add(key, account, subject, message_ids)

    # -- undoing ----------------------------------------------------------

    def undo(self, savepoint: int) -> None:
        """Take back the changes journaled after `savepoint` (an inner transaction failed)."""
        journal = self.journal
        data = self._loaded()  # what the journal names is split already
        threads = set()
        while len(journal) > savepoint:
            name, key, previous = journal.pop()
            if name == "archive":
                account, message_id = json.loads(key)
                self.archive.restore(account, message_id, cast(int, previous))
                continue
            if name == "threads":
                threads.add(key)
            if previous is None:
                data[name].pop(key, None)
            else:
                data[name][key] = cast(Stored, previous)
        if not threads or not self.threads_indexed:
            return  # an index built later reads what is stored now
        index = self.thread_index()
        for key in threads:
            # Thread documents are keyed by their own key; re-enter what is stored now.
            index.discard(key)
            stored = data["threads"].get(key)
            if stored is not None:
                self.index_thread(as_document(stored))

    # -- writing ----------------------------------------------------------

    def _encode(self) -> Iterator[bytes]:
        """The whole main file as chunks, encoding only what changed since the last commit.

        Kept fragments stay in the order of their tables (replacing a dict
        value keeps its place, new documents are appended to both), so the
        file lists documents in the order they were first stored.
        """
        data = self._loaded()
        for name, key in dict.fromkeys((name, key) for name, key, _ in self.journal):
            fragments = self._encoded.get(name)
            if fragments is None:
                continue  # compact, or not encoded yet: done whole below
            document = data.get(name, {}).get(key)
            if document is None:
                # A deleted document, or an undone insert.
                fragments.pop(key, None)
            else:
                fragments[key] = member_line(key, as_document(document))
        for number, (name, table) in enumerate(data.items()):
            yield f"{',' if number else '{'}{ENCODER.encode(name)}:{{\n".encode("ascii")
            if name in self._unsplit:
                # Unused since the load, so unchanged: its lines go out as they came in.
                lines = self._unsplit[name][1]
                for start in range(0, len(lines), _CHUNK_DOCUMENTS):
                    yield b"".join(lines[start : start + _CHUNK_DOCUMENTS])
                yield b"}\n"
                continue
            values: Iterator[str]
            if name in COMPACT_TABLES:
                values = cast(Iterator[str], iter(table.values()))
            else:
                fragments = self._encoded.get(name)
                if fragments is None or len(fragments) != len(table):
                    fragments = self._encoded[name] = {
                        key: member_line(key, as_document(document)) for key, document in table.items()
                    }
                values = iter(fragments.values())
                if name == "meta":  # what every pass writes is in the pass file
                    values = (line for key, line in fragments.items() if not is_pass_meta(key))
            first = True
            while chunk := "\n,".join(itertools.islice(values, _CHUNK_DOCUMENTS)):
                # ensure_ascii (in ENCODER) keeps lone surrogates from broken charsets writable.
                yield (chunk if first else f"\n,{chunk}").encode("utf-8")
                first = False
            yield b"}\n" if first else b"\n}\n"
        yield b"}\n"

    def decoded(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The in-memory copy with every document a dict, as the main file holds it."""
        return {
            name: {key: as_document(document) for key, document in table.items()}
            for name, table in self.read().items()
        }

    def commit(self) -> None:
        """Write the in-memory copy to the files atomically, if anything changed.

        Moves the hot messages to the message file first when there are
        `hot_messages` of them or messages were removed from that file.

        :raises StorageError: if writing failed; the files are left as they
            were and the in-memory copy is dropped.
        """
        if not self.journal:
            return
        data = self._loaded()
        if self._unsplit and meta_value(data["meta"].get("schema_version")) != SCHEMA_VERSION:
            data = self.read()  # the upgrade may replace a table
        # Make every commit's mtime differ from the last one even on
        # filesystems with coarse timestamps, so `refresh` never mistakes a
        # new file (which may even reuse a freed inode) for the one it read.
        previous_mtime = self.signature[2] if self.signature else 0
        mtime_ns = max(time.time_ns(), previous_mtime + 1)
        moved = 0
        main_changed = False
        try:
            migration.upgrade(data, self.journal, self._index_parties)
            main_changed = self._main_holds_pass or any(
                name != "meta" or not is_pass_meta(key) for name, key, _ in self.journal
            )
            move = main_changed and (self.archive.dirty or len(data["messages"]) >= self.hot_messages)
            if move:
                self.archive.decode_index()  # damaged, it stops the commit before anything is written
            pass_text = self._pass_text()
            if pass_text != self._pass_on_disk:
                self._write_pass(pass_text)
            if main_changed:
                if move:
                    moved = self._move_hot_messages()
                self.signature = self._write_file(self.path, self._encode(), mtime_ns)
        except OSError as error:
            self.forget()
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                reason = "the disk is full"
            else:
                reason = error.strerror or str(error)
            raise StorageWriteError(
                f"could not write the database {self.path}: {reason}; "
                "nothing from this run was saved and the previous version is intact",
                hint="free some disk space or fix the directory's permissions, then retry",
            ) from error
        if main_changed:
            self._main_holds_pass = False
        self.journal.clear()
        self.archive.promote()
        if main_changed:
            written = cast(Signature, self.signature)[1]
            logger.debug("Wrote the database %s (%d bytes; %d messages moved)", self.path, written, moved)
        else:
            logger.debug("Wrote %s", self.pass_path)

    def _move_hot_messages(self) -> int:
        """Write the next message file with the hot messages in it, and empty the hot table.

        :returns: how many messages moved.
        :raises OSError: if writing failed.
        """
        data = self._loaded()
        hot = data["messages"]
        outgoing = []
        for stored in hot.values():
            member = cast(str, stored)
            document = member_document(member)
            outgoing.append((document["account"], document["message_id"], document["role"], member))
        pointer = self.archive.write_next(outgoing, self._database_id())
        data["messages"] = {}
        meta = data["meta"]
        self.journal.append(("meta", ARCHIVE_META, meta.get(ARCHIVE_META)))
        meta[ARCHIVE_META] = {"value": pointer}
        logger.info("Moved %d messages to %s", len(outgoing), self.archive.path)
        return len(outgoing)


def read_tables(path: Path) -> dict[str, dict[str, Any]]:
    """The tables of the main database file `path`, read as plain JSON, not opened as a database.

    Table name -> document key -> document, a meta document reduced to its
    value; tables that are not objects are left out. For ``kept rebuild``,
    which carries over what the user told kept from the file it set aside
    (`kept.storage.aside`); that file may be damaged elsewhere, or have no
    message file.

    :raises StorageError: when the file cannot be read or holds no meta table.
    """
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise StorageError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error
    meta = data.get("meta") if isinstance(data, dict) else None
    if not isinstance(meta, dict):
        raise StorageError(f"{path} holds no meta table")
    tables = {name: table for name, table in data.items() if isinstance(table, dict)}
    tables["meta"] = {key: document["value"] for key, document in meta.items()
                      if isinstance(document, dict) and "value" in document}
    return tables

