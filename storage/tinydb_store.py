"""The store kept uses: one TinyDB JSON file.

TinyDB keeps a whole database in one JSON object and rewrites it on every
change; it is neither crash-safe nor safe for two processes. This module
wraps it so that it is both, and fast enough for tens of thousands of
records:

* A transaction holds a `filelock.FileLock` on ``PATH.lock`` from start to
  end, so the daemon and a CLI command take turns.
* The file is read once when a transaction starts, and not even that when
  its inode, size and modification time show nobody else wrote it since we
  last read or wrote it. Changes are made to that in-memory copy and the
  file is written once, at commit, and only if something changed.
* Writing goes to a temporary file in the same directory, which is flushed,
  fsynced and renamed over the database, and then the directory is fsynced:
  after a crash the file holds either the old or the new state, never half
  of one.
* Documents are keyed by their records' natural keys (TinyDB tables with
  string document ids), and a thread index answers "which thread holds this
  message id" and "which threads have this subject" without a scan.
* Message records and threads are nearly all of the file, and a scan only
  asks whether a message exists and reads the few threads the thread index
  points it to; so in memory each is kept as its JSON text, not as a dict (a
  dict of strings costs about four times its JSON), and decoded when read.
  Commits stream the file out in chunks instead of building it as one
  string (and once more as bytes).

File layout (TinyDB's own: table name -> document id -> document)::

    {"messages": {"[\\"work\\", \\"<id@host>\\"]": {...MailMessage without body...}},
     "threads":  {"<thread key>": {...Thread...}},
     "promises": {"<promise id>": {...Promise...}},
     "introductions": {"<id>": {...Introduction...}}, "leads": {"<id>": {...Lead...}},
     "cursors":  {"[\\"work\\", \\"INBOX\\"]": {"account": ..., "folder": ..., "cursor": {...}}},
     "meta":     {"schema_version": {"value": 1}, ...}}
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import re
import stat
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import filelock
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from kept.errors import StorageError, StorageWriteError
from kept.models import Introduction, Lead, MailMessage, Promise, Thread
from kept.storage.base import SCHEMA_VERSION
from kept.storage.memory import ThreadIndex, dated_order, json_copy, promise_order
from kept.storage.serialize import from_json, to_json

__all__ = ["DEFAULT_LOCK_TIMEOUT", "TABLES", "TinyDBStore", "marker_path", "set_aside"]

logger = logging.getLogger(__name__)

#: Seconds to wait for another kept process to finish its transaction.
DEFAULT_LOCK_TIMEOUT = 30.0

#: The tables of the file.
TABLES = ("messages", "threads", "promises", "cursors", "meta", "introductions", "leads")

_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))

#: The tables held in memory as JSON text per document (see the module docstring).
_COMPACT_TABLES = frozenset({"messages", "threads"})

#: Documents per chunk written at commit: big enough for few writes, small
#: enough that no copy of the whole file is ever built in memory.
_CHUNK_DOCUMENTS = 2000

_REBUILD_HINT = "run `kept rebuild` to rebuild it from your mail"

#: Signature of the file as last read or written: (inode, size, mtime in ns).
_Signature = tuple[int, int, int]


def _pair_key(first: str, second: str) -> str:
    """A document id for a two-part natural key; JSON keeps it unambiguous."""
    return json.dumps([first, second])


class _KeyedTable(Table):
    """A TinyDB table whose document ids are the records' natural keys.

    TinyDB's own `Table._update_table` copies the whole table twice on every
    write (to convert ids between int and str). Our ids are strings already,
    so the table is changed in place: a put costs O(1), not O(n).
    """

    document_id_class = str

    def _update_table(self, updater: Callable[[dict], None]) -> None:
        tables = self._storage.read()
        updater(tables.setdefault(self.name, {}))
        self._storage.write(tables)
        self.clear_cache()

    def raw(self, key: str) -> dict | None:
        """The stored document itself (not a copy; do not change it; JSON text in a compact table), or None."""
        return self._read_table().get(key)

    def raw_documents(self) -> list[dict]:
        """All stored documents (not copies), in file order."""
        return list(self._read_table().values())

    def raw_keys(self) -> list[str]:
        """All document ids, in file order."""
        return list(self._read_table())

    def delete(self, key: str) -> dict | None:
        """Remove the document stored under `key`; return it (None if there was none)."""
        previous = self.raw(key)
        if previous is None:
            return None
        self._storage.journal.append((self.name, key, previous))

        def remove(table: dict) -> None:
            table.pop(key, None)

        self._update_table(remove)
        return previous

    def put(self, key: str, document: dict) -> dict | None:
        """Store `document` under `key`; return what it replaced (None if new).

        Storing a document equal to the current one changes nothing, so the
        transaction stays clean and no write happens.
        """
        previous = self.raw(key)
        if previous is not None and previous == document:
            return previous
        self._storage.journal.append((self.name, key, previous))

        def replace(table: dict) -> None:
            table[key] = document

        self._update_table(replace)
        return previous


class _Database(TinyDB):
    table_class = _KeyedTable


class _AtomicJSONStorage(Storage):
    """TinyDB storage holding the whole file in memory between commits.

    `read` and `write` only touch the in-memory copy; `refresh` and `commit`
    move it to and from the disk. `journal` lists the changes since the last
    commit as (table, key, previous document or None), oldest first; the
    store uses it to undo an inner transaction and to know whether anything
    needs writing.

    Encoding the whole database anew at every commit would cost as much as
    the database is large; instead the JSON text of every document is kept
    from the last commit, and only documents the journal names are encoded
    again.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.data: dict[str, dict[str, dict]] | None = None
        self.signature: _Signature | None = None
        self.journal: list[tuple[str, str, dict | None]] = []
        # table -> document id -> '"id":{...}' as last written.
        self._encoded: dict[str, dict[str, str]] = {}
        # (account, role) -> stored messages, counted while loading the file,
        # when the message documents are at hand as dicts for the last time.
        self.loaded_counts: Counter[tuple[str, str]] = Counter()

    def read(self) -> dict[str, dict[str, dict]]:
        if self.data is None:
            raise RuntimeError("the database is only readable inside a transaction")
        return self.data

    def write(self, data: dict[str, dict[str, dict]]) -> None:
        self.data = data

    def close(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Drop the in-memory copy; the next `refresh` reads the file."""
        self.data = None
        self.signature = None
        self.journal.clear()
        self._encoded.clear()
        self.loaded_counts = Counter()

    def refresh(self) -> bool:
        """Make the in-memory copy match the file, creating the file if missing.

        :returns: True if the copy was (re)loaded, False if it was current.
        :raises StorageError: if the file is unreadable, damaged or too new.
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
        if self.data is not None and signature == self.signature:
            return False
        self.forget()
        self.data = self._load()
        self.signature = signature
        self._sync_marker()
        return True

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
        raise StorageError(
            f"the database {self.path} is missing, but kept has used it before ({marker} exists); "
            "kept will not start from zero, which would raise every old promise again",
            hint=f"restore the file from a backup, or {_REBUILD_HINT}",
        )

    def _create(self) -> None:
        logger.info("Creating the database %s", self.path)
        self.forget()
        self.data = {name: {} for name in TABLES}
        self.data["meta"]["schema_version"] = {"value": SCHEMA_VERSION}
        self.journal.append(("meta", "schema_version", None))
        self.data["meta"]["database_id"] = {"value": uuid.uuid4().hex}
        self.journal.append(("meta", "database_id", None))
        self.commit()
        self._sync_marker()

    def _sync_marker(self) -> None:
        """Make the marker next to the file name this database (see `marker_path`).

        A database from before markers existed gets an id here; the next
        commit stores it.
        """
        assert self.data is not None
        meta = self.data["meta"]
        database_id = meta.get("database_id", {}).get("value")
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
            _write_atomically(marker, payload, time.time_ns())
        except OSError as error:
            # The database itself is fine; only the protection against its
            # deletion is missing until the next successful open.
            logger.warning("Cannot write %s: %s", marker, error.strerror or error)

    def _load(self) -> dict[str, dict[str, dict]]:
        try:
            with open(self.path, "rb") as file:
                text = file.read()
        except OSError as error:
            raise StorageError(f"cannot read the database {self.path}: {error.strerror}") from error
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise _damaged(self.path, f"it is not valid JSON ({error})") from error
        if not isinstance(data, dict):
            raise _damaged(self.path, "it does not hold a JSON object")
        for name in TABLES:
            table = data.setdefault(name, {})
            if not isinstance(table, dict) or not all(isinstance(doc, dict) for doc in table.values()):
                raise _damaged(self.path, f"its table {name!r} is not a table of documents")
        version = data["meta"].get("schema_version", {}).get("value")
        if type(version) is not int or version < 1:
            raise _damaged(self.path, "it has no schema version")
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"the database {self.path} was written by a newer kept "
                f"(schema {version}; this kept understands up to {SCHEMA_VERSION})",
                hint="upgrade kept, or point it at another database",
            )
        counts: Counter[tuple[str, str]] = Counter()
        messages = data["messages"]
        try:
            for key, document in messages.items():
                counts[document["account"], document["role"]] += 1
                # Replacing values keeps the keys (and the file's order).
                messages[key] = _ENCODER.encode(document)
        except (KeyError, TypeError) as error:
            raise _damaged(self.path, f"a document lacks a field ({error!r})") from error
        self.loaded_counts = counts
        # Threads are made compact by `compact_threads`, once the store has
        # indexed them as dicts.
        logger.debug("Read the database %s (%d bytes)", self.path, len(text))
        return data

    def _encode(self) -> Iterator[bytes]:
        """The whole database as JSON chunks, encoding only what changed since the last commit.

        Kept fragments stay in the order of their tables (replacing a dict
        value keeps its place, new documents are appended to both), so the
        file lists documents in the order they were first stored. The
        compact table's values are JSON text already and are not cached a
        second time.
        """
        assert self.data is not None
        for name, key in dict.fromkeys((name, key) for name, key, _ in self.journal):
            fragments = self._encoded.get(name)
            if fragments is None:
                continue  # not encoded yet: done whole below
            document = self.data[name].get(key)
            if document is None:
                # Only an undone insert leaves a journaled key missing.
                fragments.pop(key, None)
            else:
                fragments[key] = _encode_document(key, document)
        yield b"{"
        for number, (name, table) in enumerate(self.data.items()):
            values: Iterator[str]
            if name in _COMPACT_TABLES:
                # Built chunk by chunk below, so no second copy of the table exists.
                values = (
                    f"{_ENCODER.encode(key)}:{_compact_text(document)}" for key, document in table.items()
                )
            else:
                fragments = self._encoded.get(name)
                if fragments is None or len(fragments) != len(table):
                    fragments = self._encoded[name] = {key: _encode_document(key, doc) for key, doc in table.items()}
                values = iter(fragments.values())
            yield f"{',' if number else ''}{_ENCODER.encode(name)}:{{".encode("ascii")
            first = True
            while chunk := ",".join(itertools.islice(values, _CHUNK_DOCUMENTS)):
                # ensure_ascii (in _ENCODER) keeps lone surrogates from broken charsets writable.
                yield (chunk if first else f",{chunk}").encode("ascii")
                first = False
            yield b"}"
        yield b"}"

    def compact_threads(self) -> None:
        """Replace every thread dict by its JSON text (after the store indexed them)."""
        threads = self.read()["threads"]
        for key, document in threads.items():
            if isinstance(document, dict):
                threads[key] = _ENCODER.encode(document)

    def decoded(self) -> dict[str, dict[str, dict]]:
        """The in-memory copy with every document a dict, as the file holds it."""
        return {
            name: {key: _as_document(document) for key, document in table.items()}
            for name, table in self.read().items()
        }

    def commit(self) -> None:
        """Write the in-memory copy to the file atomically, if anything changed.

        :raises StorageError: if writing failed; the file is left as it was
            and the in-memory copy is dropped.
        """
        if not self.journal:
            return
        assert self.data is not None
        payload = self._encode()
        # Make every commit's mtime differ from the last one even on
        # filesystems with coarse timestamps, so `refresh` never mistakes a
        # new file (which may even reuse a freed inode) for the one it read.
        previous_mtime = self.signature[2] if self.signature else 0
        mtime_ns = max(time.time_ns(), previous_mtime + 1)
        try:
            self.signature = _write_atomically(self.path, payload, mtime_ns)
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
        self.journal.clear()
        logger.debug("Wrote the database %s (%d bytes)", self.path, self.signature[1])


def _address_pattern(address: str) -> re.Pattern[str]:
    """Matches `address` as a whole address (any case), not inside a longer one."""
    return re.compile(rf"(?<![\w.+-]){re.escape(address.strip().lower())}(?![\w-]|\.\w)", re.IGNORECASE)


def _text_of(document: dict) -> str:
    return json.dumps(document, ensure_ascii=False)


def marker_path(path: Path) -> Path:
    """The marker file that records a database existed: ``kept.json.id`` next to ``kept.json``.

    It holds the database's id (also in meta ``database_id``). While it
    exists, a missing database is an error rather than a first run.
    """
    return path.with_name(path.name + ".id")


def set_aside(path: Path, suffix: str) -> Path | None:
    """Move the database and its marker aside (``PATH.SUFFIX``) so a new one can be built.

    :returns: where the database went, or None if there was none.
    """
    moved = None
    if path.exists():
        moved = path.with_name(f"{path.name}.{suffix}")
        path.rename(moved)
    marker = marker_path(path)
    if marker.exists():
        marker.rename(marker.with_name(f"{marker.name}.{suffix}"))
    return moved


def _as_document(stored: dict | str) -> dict:
    """A stored document as a dict (compact-table documents are JSON text)."""
    return json.loads(stored) if isinstance(stored, str) else stored


def _compact_text(stored: dict | str) -> str:
    """A compact-table document as JSON text (a thread may still be a dict just after loading)."""
    return stored if isinstance(stored, str) else _ENCODER.encode(stored)


def _encode_document(key: str, document: dict) -> str:
    """One table member as JSON text: ``"key":{...}``."""
    return f"{_ENCODER.encode(key)}:{_ENCODER.encode(document)}"


def _damaged(path: Path, reason: str) -> StorageError:
    return StorageError(f"the database {path} is damaged: {reason}", hint=_REBUILD_HINT)


def _write_atomically(path: Path, payload: bytes | Iterable[bytes], mtime_ns: int) -> _Signature:
    """Replace `path` with `payload` (bytes, or chunks of them) so that a crash leaves the old or the new file.

    :returns: the new file's (inode, size, mtime_ns).
    """
    directory = path.parent
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        # mkstemp creates the file 0600, the mode the database must have.
        with os.fdopen(descriptor, "wb") as file:
            if isinstance(payload, bytes):
                file.write(payload)
            else:
                file.writelines(payload)
            file.flush()
            os.fsync(file.fileno())
        os.utime(temporary, ns=(mtime_ns, mtime_ns))
        status = os.stat(temporary)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _fsync_directory(directory)
    return status.st_ino, status.st_size, status.st_mtime_ns


def _fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError as error:
        logger.warning("Cannot open %s to make the database write durable: %s", directory, error)
        return
    try:
        os.fsync(descriptor)
    except OSError as error:
        # Some filesystems refuse fsync on directories; the rename has
        # happened, it may just not survive a power cut.
        logger.warning("Cannot fsync %s: %s", directory, error)
    finally:
        os.close(descriptor)


class TinyDBStore:
    """A `kept.storage.base.Store` in one TinyDB JSON file.

    :param path: the database file; it and its directory (mode 0700) are
        created when missing.
    :param lock_timeout: seconds to wait for another kept process holding
        the lock before giving up with `StorageError`.
    :raises StorageError: if the file is damaged, from a newer kept, cannot
        be created, or stays locked.
    """

    def __init__(self, path: Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout = lock_timeout
        self._closed = False
        self._depth = 0
        # One thread at a time; the file lock keeps other processes out.
        self._thread_lock = threading.RLock()
        self._thread_index = ThreadIndex()
        self._message_counts: Counter[tuple[str, str]] = Counter()
        self._make_directory()
        self._db = _Database(self.path, storage=_AtomicJSONStorage)
        self._storage: _AtomicJSONStorage = self._db.storage
        self._tables: dict[str, _KeyedTable] = {name: self._db.table(name) for name in TABLES}
        self._file_lock = filelock.FileLock(str(self.lock_path), timeout=lock_timeout, mode=0o600, thread_local=False)
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

        Called with the file lock held: no live writer can own one.
        """
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            logger.info("Removing %s, left by an interrupted write", leftover)
            try:
                leftover.unlink()
            except OSError as error:
                logger.warning("Cannot remove %s: %s", leftover, error.strerror or error)

    def export(self) -> dict[str, Any]:
        """Everything stored, as JSON values: ``{table: [document, ...]}`` (``kept export``).

        Meta is a mapping of its names to values.
        """
        with self.transaction():
            exported: dict[str, Any] = {}
            for name, table in self._tables.items():
                documents = json_copy([_as_document(d) for d in table.raw_documents()])
                if name == "meta":
                    exported[name] = dict(zip(table.raw_keys(), (d.get("value") for d in documents)))
                else:
                    exported[name] = documents
            return exported

    def forget(self, address: str) -> dict[str, int]:
        """Erase everything stored about the person at `address` (``kept forget``).

        Removed, in one transaction:

        * every thread any of whose messages is from, to or cc `address`,
          with all its message records and its promises;
        * every other message record and promise that names the address
          (sender, recipient, counterparty), and every record of any other
          table (introductions, leads, ...) that names it anywhere;
        * the address in meta lists (muted contacts).

        Cursors are kept, so the next scan does not read that mail again.
        Mail still in the mailbox comes back after a ``kept rebuild``.

        :returns: how many records were removed, by table.
        """
        pattern = _address_pattern(address)
        removed: Counter[str] = Counter()
        with self.transaction():
            threads = self._tables["threads"]
            gone_threads = {key for key, document in zip(threads.raw_keys(), threads.raw_documents())
                            if pattern.search(_text_of(_as_document(document)))}
            for name, table in self._tables.items():
                if name in ("cursors", "meta"):
                    continue
                for key, stored in list(zip(table.raw_keys(), table.raw_documents())):
                    document = _as_document(stored)
                    in_gone_thread = name != "threads" and document.get("thread_key") in gone_threads
                    if key in gone_threads and name == "threads" or in_gone_thread or pattern.search(
                        _text_of(document)
                    ):
                        table.delete(key)
                        removed[name] += 1
            meta = self._tables["meta"]
            for key, document in list(zip(meta.raw_keys(), meta.raw_documents())):
                value = document.get("value")
                if isinstance(value, list) and any(isinstance(v, str) and pattern.fullmatch(v) for v in value):
                    kept_values = [v for v in value if not (isinstance(v, str) and pattern.fullmatch(v))]
                    meta.put(key, {"value": kept_values})
                    removed["meta"] += len(value) - len(kept_values)
            self._rebuild_indexes()
        logger.info("Forgot a contact: %s", ", ".join(f"{n} {name}" for name, n in sorted(removed.items())))
        return dict(removed)

    def _warn_about_permissions(self) -> None:
        for target, allowed in ((self.path, 0o600), (self.path.parent, 0o700)):
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
        """Lock the file, batch all writes inside, commit them atomically on success.

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
                    self._undo(savepoint)
                    raise
                finally:
                    self._depth -= 1
                return

            self._acquire_file_lock()
            self._depth = 1
            try:
                if self._storage.refresh():
                    self._rebuild_indexes(self._storage.loaded_counts)
                    self._storage.compact_threads()
                yield
                self._storage.commit()
            except BaseException:
                # Drop everything not yet on disk; the next transaction
                # reads the file again.
                self._storage.forget()
                raise
            finally:
                self._depth = 0
                self._file_lock.release()

    def _acquire_file_lock(self) -> None:
        try:
            self._file_lock.acquire()
        except filelock.Timeout as error:
            raise StorageError(
                f"the database is locked: another kept process has held {self.lock_path} "
                f"for more than {self.lock_timeout:g} s",
                hint="wait for the other kept command or the daemon to finish, then retry",
            ) from error
        except OSError as error:
            raise StorageError(f"cannot lock {self.lock_path}: {error.strerror or error}") from error

    def _undo(self, savepoint: int) -> None:
        """Take back the changes journaled after `savepoint`."""
        journal = self._storage.journal
        data = self._storage.read()
        touched = set()
        while len(journal) > savepoint:
            name, key, previous = journal.pop()
            touched.add(name)
            if name == "messages":
                # Count the undo here: recounting would decode every message.
                for stored, change in ((data[name].get(key), -1), (previous, 1)):
                    if stored is not None:
                        document = _as_document(stored)
                        self._message_counts[document["account"], document["role"]] += change
            if previous is None:
                data[name].pop(key, None)
            else:
                data[name][key] = previous
        for name in touched:
            self._tables[name].clear_cache()
        if "threads" in touched:
            self._rebuild_indexes(Counter(self._message_counts))

    def _rebuild_indexes(self, counts: Counter[tuple[str, str]] | None = None) -> None:
        """Index the threads and count the messages (or take `counts`, made while loading)."""
        self._thread_index.clear()
        self._message_counts.clear()
        try:
            for document in self._tables["threads"].raw_documents():
                self._index_thread(_as_document(document))
            if counts is not None:
                self._message_counts.update(counts)
                return
            for stored in self._tables["messages"].raw_documents():
                document = _as_document(stored)
                self._message_counts[document["account"], document["role"]] += 1
        except (KeyError, TypeError) as error:
            self._thread_index.clear()
            self._message_counts.clear()
            raise _damaged(self.path, f"a document lacks a field ({error!r})") from error

    def _index_thread(self, document: Mapping[str, Any]) -> None:
        self._thread_index.add(
            document["key"],
            document["account"],
            document["subject"],
            (message["message_id"] for message in document["messages"]),
        )

    def _decode(self, cls: type, document: dict | str | None) -> Any:
        if document is None:
            return None
        try:
            return from_json(cls, _as_document(document))
        except ValueError as error:
            raise _damaged(self.path, str(error)) from error

    # -- messages ---------------------------------------------------------

    def has_message(self, account: str, message_id: str) -> bool:
        """True if this message was stored before."""
        with self.transaction():
            return self._tables["messages"].raw(_pair_key(account, message_id)) is not None

    def put_message(self, message: MailMessage) -> bool:
        """Store the message's metadata (its body is dropped). True if it was new."""
        document = _ENCODER.encode(to_json(message))
        with self.transaction():
            stored = self._tables["messages"].put(_pair_key(message.account, message.message_id), document)
            if stored is not None:
                previous = _as_document(stored)
                self._message_counts[previous["account"], previous["role"]] -= 1
            self._message_counts[message.account, message.role] += 1
            return stored is None

    def get_message(self, account: str, message_id: str) -> MailMessage | None:
        """The stored message (with an empty body), or None."""
        with self.transaction():
            return self._decode(MailMessage, self._tables["messages"].raw(_pair_key(account, message_id)))

    def count_messages(self, account: str | None = None) -> dict[str, int]:
        """Number of stored messages by role (``{"sent": n, "received": m}``)."""
        counts = {"sent": 0, "received": 0}
        with self.transaction():
            for (message_account, role), count in self._message_counts.items():
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
        with self.transaction():
            self._tables["threads"].put(thread.key, _ENCODER.encode(document))
            self._index_thread(document)

    def thread_key_for_message(self, account: str, message_id: str) -> str | None:
        """Key of the thread containing this message id, or None."""
        with self.transaction():
            return self._thread_index.key_for_message(account, message_id)

    def threads_with_subject(self, account: str, subject: str) -> list[Thread]:
        """Threads of the account whose normalized subject equals `subject`."""
        with self.transaction():
            table = self._tables["threads"]
            return [
                self._decode(Thread, table.raw(key)) for key in self._thread_index.keys_with_subject(account, subject)
            ]

    def threads(self, account: str | None = None) -> Iterator[Thread]:
        """All threads (of one account, if given).

        The threads are read when this is called, so the caller may store
        threads while iterating.
        """
        with self.transaction():
            decoded = (_as_document(document) for document in self._tables["threads"].raw_documents())
            selected = [
                self._decode(Thread, document)
                for document in decoded
                if account is None or document.get("account") == account
            ]
        return iter(selected)

    # -- promises ---------------------------------------------------------

    def get_promise(self, promise_id: str) -> Promise | None:
        """The promise with this id, or None."""
        with self.transaction():
            return self._decode(Promise, self._tables["promises"].raw(promise_id))

    def put_promise(self, promise: Promise) -> bool:
        """Store or replace a promise. True if it was new."""
        document = to_json(promise)
        with self.transaction():
            return self._tables["promises"].put(promise.id, document) is None

    def promises(self, account: str | None = None) -> Iterator[Promise]:
        """All promises (of one account, if given), oldest first."""
        with self.transaction():
            selected = [
                self._decode(Promise, document)
                for document in self._tables["promises"].raw_documents()
                if account is None or document.get("account") == account
            ]
        return iter(sorted(selected, key=promise_order))

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
            selected = [
                self._decode(Introduction, document)
                for document in self._tables["introductions"].raw_documents()
                if account is None or document.get("account") == account
            ]
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
            selected = [
                self._decode(Lead, document)
                for document in self._tables["leads"].raw_documents()
                if account is None or document.get("account") == account
            ]
        return iter(sorted(selected, key=lambda lead: dated_order(lead.received_at, lead.id)))

    # -- cursors ----------------------------------------------------------

    def get_cursor(self, account: str, folder: str) -> dict[str, Any] | None:
        """The cursor stored for this folder, or None."""
        with self.transaction():
            document = self._tables["cursors"].raw(_pair_key(account, folder))
            return None if document is None else json_copy(document.get("cursor"))

    def set_cursor(self, account: str, folder: str, cursor: dict[str, Any]) -> None:
        """Store the cursor for this folder."""
        document = {"account": account, "folder": folder, "cursor": json_copy(cursor)}
        with self.transaction():
            self._tables["cursors"].put(_pair_key(account, folder), document)

    # -- meta -------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        """A named JSON value, or `default`."""
        with self.transaction():
            document = self._tables["meta"].raw(key)
            return default if document is None else json_copy(document.get("value"))

    def set_meta(self, key: str, value: Any) -> None:
        """Store a named JSON value."""
        document = {"value": json_copy(value)}
        with self.transaction():
            self._tables["meta"].put(key, document)

    def close(self) -> None:
        """Drop the in-memory copy. The store must not be used afterwards."""
        with self._thread_lock:
            if self._closed:
                return
            if self._depth:
                raise RuntimeError("cannot close the store inside a transaction")
            self._closed = True
            self._db.close()
