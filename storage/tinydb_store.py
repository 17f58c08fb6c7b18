"""The store kept uses: two TinyDB JSON files, ``kept.json`` and ``kept.messages.json``.

TinyDB keeps a whole database in one JSON object and rewrites it on every
change; it is neither crash-safe nor safe for two processes, and at 200,000
messages one such file is too big to parse at every start and rewrite at
every batch. This module wraps it so that it is all three:

* A transaction holds a `filelock.FileLock` on ``PATH.lock`` from start to
  end, so the daemon and a CLI command take turns.
* The main file is read once when a transaction starts, and not even that
  when its inode, size and modification time show nobody else wrote it
  since we last read or wrote it. Changes are made to that in-memory copy
  and the file is written once, at commit, and only if something changed.
* Writing goes to a temporary file in the same directory, which is flushed,
  fsynced and renamed over the database, and then the directory is fsynced:
  after a crash the file holds either the old or the new state, never half
  of one.
* Documents are keyed by their records' natural keys (TinyDB tables with
  string document ids), and a thread index answers "which thread holds this
  message id" and "which threads have this subject" without a scan.

Two files
---------
Message records are most of what kept stores, and a scan only asks whether
a message exists. So the main file (``kept.json``) holds threads, promises,
introductions, leads, cursors, meta and only the messages stored since the
last move (the *hot* messages); once `HOT_MESSAGES` of them have
gathered, a commit moves them to the message file (``kept.messages.json``).
That file is never parsed whole: at start-up only its index is read (each
message's byte offset and role), and `get_message` reads the one line a
message is on. `export` and `forget` read it through, a line at a time.

A commit that moves messages is made in three steps, and the rename of the
main file is the one that counts:

1. the new message file is written as ``kept.messages.json.next`` (the old
   file's documents copied byte for byte, or without the removed ones, then
   the hot messages, then the index) and fsynced with its directory;
2. the main file is written as always; its meta ``message_archive`` names
   the new file's *generation* and where its index starts;
3. ``.next`` is renamed over ``kept.messages.json``.

On opening, the message file whose index carries the generation (and the
database id) the main file names is the one used: a ``.next`` that carries it
is renamed into place (the crash came between steps 2 and 3), a ``.next``
that does not is deleted (the crash came before step 2, so the main file
still holds those messages as hot ones). A message file that is missing or
does not match is reported as damaged, with `kept rebuild` as the fix.

File layouts
------------
Both files are TinyDB's own layout (table name -> document id -> document),
written one document per line so that a line can be read on its own::

    {"messages":{
    "[\\"work\\", \\"<id@host>\\"]":{...MailMessage without body...}
    ,"[\\"work\\", \\"<id2@host>\\"]":{...}
    }
    ,"threads":{
    "<thread key>":{...Thread...}
    }
    ,"promises":{...}  (and introductions, leads, cursors)
    ,"meta":{
    "schema_version":{"value":2}
    ,"message_archive":{"value":{"generation":7,"end":123456789}}
    }
    }

The message file has the table ``messages`` and, on its last line, a table
``meta`` whose document ``archive`` holds the database id, the generation
and the index (account -> message id -> offset * 2 + 1 if sent)::

    {"messages":{
    "[\\"work\\", \\"<id@host>\\"]":{...}
    ,...
    },"meta":{"archive":{"database_id":"...","generation":7,"messages":180000,"index":{"work":{"<id@host>":28,...}}}}}

Files written by older kept versions (schema 1: everything on one line,
every message in the main file) open as they are; their messages are hot
until the first commit that changes something writes the new layout.

In memory, thread and hot message documents are kept as the JSON text of
their lines (a dict of strings costs about four times its JSON) and decoded
when read; commits stream the main file out in chunks instead of building
it as one string. Opening the main file does not decode its threads: the
thread index is built from their lines the first time a thread is looked
up (at 200,000 messages that is about 70,000 threads, and would be most of
the cost of opening), so a scan that finds nothing new never pays for it.
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
from typing import IO, Any, TypeVar, cast

import filelock
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from kept.errors import StorageError, StorageWriteError
from kept.models import Introduction, Lead, MailMessage, Promise, Thread
from kept.storage.base import PROMISE_REVISION, SCHEMA_VERSION, new_promise_revision
from kept.storage.memory import ThreadIndex, dated_order, json_copy, promise_order
from kept.storage.serialize import from_json, to_json

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "HOT_MESSAGES",
    "TABLES",
    "TinyDBStore",
    "marker_path",
    "messages_path",
    "read_meta",
    "set_aside",
]

logger = logging.getLogger(__name__)

_R = TypeVar("_R")

#: Seconds to wait for another kept process to finish its transaction.
DEFAULT_LOCK_TIMEOUT = 30.0


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
TABLES = ("messages", "threads", "promises", "cursors", "meta", "introductions", "leads")

#: Meta key of the main file's pointer to the message file.
ARCHIVE_META = "message_archive"

_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))

#: json's own string scanner (C): decodes the JSON string starting after the
#: quote at the given index, returning it and the index after its closing quote.
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]

#: json's own value scanner (C): decodes the JSON value at the given index,
#: returning it and the index after it. Called directly, it skips the
#: per-call work of `json.loads`, which is a third of reading 70,000 threads.
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]

#: The tables held in memory as the JSON text of their lines (see the module docstring).
_COMPACT_TABLES = frozenset({"messages", "threads"})

#: Documents per chunk written at commit: big enough for few writes, small
#: enough that no copy of the whole file is ever built in memory.
_CHUNK_DOCUMENTS = 2000

_REBUILD_HINT = "run `kept rebuild` to rebuild it from your mail"

#: Signature of the file as last read or written: (inode, size, mtime in ns).
_Signature = tuple[int, int, int]

#: A stored document: a dict, or (in a compact table) the text of its line, ``"key":{...}``.
_Stored = dict[str, Any] | str

#: The in-memory copy of the main file: table -> document id -> stored document.
_Tables = dict[str, dict[str, _Stored]]

#: One journaled change: (table, document id, what was there before or None).
#: The pseudo-table ``"archive"`` journals messages taken out of the message
#: file's index; the previous value is their index entry.
_Change = tuple[str, str, "_Stored | int | None"]


def _pair_key(first: str, second: str) -> str:
    """A document id for a two-part natural key; JSON keeps it unambiguous."""
    return json.dumps([first, second])


def _member(key: str, document: Mapping[str, Any]) -> str:
    """One table member as the text of its line: ``"key":{...}``."""
    return f"{_ENCODER.encode(key)}:{_ENCODER.encode(document)}"


def _split_member(text: str) -> tuple[str, str]:
    """A member line's (document id, document JSON text).

    :raises ValueError: if `text` is not ``"key":...``.
    """
    if not text.startswith('"'):
        raise ValueError(f"not a table member: {text[:80]!r}")
    key, end = _scanstring(text, 1)
    if text[end : end + 1] != ":":
        raise ValueError(f"not a table member: {text[:80]!r}")
    return key, text[end + 1 :]


def _parse_line(line: str, *, first: bool) -> tuple[str, dict[str, Any], str]:
    """A document line as (document id, document, member line): ``"key":{...}\\n``, after a comma unless first.

    :raises ValueError: if it is anything else.
    """
    start = 0 if first else 1
    if not line.endswith("\n") or (not first and not line.startswith(",")) or line[start : start + 1] != '"':
        raise ValueError(f"not a document line: {line[:80]!r}")
    key, end = _scanstring(line, start + 1)
    if line[end : end + 1] != ":":
        raise ValueError(f"not a document line: {line[:80]!r}")
    try:
        document, stop = _scan_once(line, end + 1)
    except StopIteration as error:
        raise ValueError(f"no document in line {line[:80]!r}") from error
    if stop != len(line) - 1 or not isinstance(document, dict):
        raise ValueError(f"not a document line: {line[:80]!r}")
    return key, document, line[start:-1]


def _split_line(line: str, *, first: bool) -> tuple[str, str]:
    """A document line as (document id, member line), its document left unparsed.

    :raises ValueError: if it does not start like a document line.
    """
    start = 0 if first else 1
    if not line.endswith("\n") or (not first and not line.startswith(",")):
        raise ValueError(f"not a document line: {line[:80]!r}")
    member = line[start:-1]
    return _split_member(member)[0], member


def _member_document(text: str) -> dict[str, Any]:
    """The document of a member line, decoded."""
    document = json.loads(_split_member(text)[1])
    if not isinstance(document, dict):
        raise ValueError(f"not a document: {text[:80]!r}")
    return document


def _as_document(stored: _Stored) -> dict[str, Any]:
    """A stored document as a dict (compact-table documents are member lines)."""
    return _member_document(stored) if isinstance(stored, str) else stored


def _thread_entry(document: Mapping[str, Any]) -> tuple[str, str, str, tuple[str, ...]]:
    """What the thread index needs of a thread document: key, account, subject, message ids.

    :raises KeyError, TypeError: if the document lacks one of them.
    """
    return (
        document["key"],
        document["account"],
        document["subject"],
        tuple([message["message_id"] for message in document["messages"]]),
    )


def _address_pattern(address: str) -> re.Pattern[str]:
    """Matches `address` as a whole address (any case), not inside a longer one."""
    return re.compile(rf"(?<![\w.+-]){re.escape(address.strip().lower())}(?![\w-]|\.\w)", re.IGNORECASE)


def _text_of(document: Mapping[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False)


def marker_path(path: Path) -> Path:
    """The marker file that records a database existed: ``kept.json.id`` next to ``kept.json``.

    It holds the database's id (also in meta ``database_id``). While it
    exists, a missing database is an error rather than a first run.
    """
    return path.with_name(path.name + ".id")


def messages_path(path: Path) -> Path:
    """The message file of the database at `path`: ``kept.messages.json`` next to ``kept.json``."""
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(f"{stem}.messages.json")


def _next_path(path: Path) -> Path:
    """Where a new message file is written before it replaces the current one."""
    return path.with_name(path.name + ".next")


def _database_lock(path: Path, lock_timeout: float) -> filelock.FileLock:
    """The inter-process lock of the database at `path` (``PATH.lock``, created 0600)."""
    return filelock.FileLock(
        str(path.with_name(path.name + ".lock")), timeout=lock_timeout, mode=0o600, thread_local=False
    )


def _acquire(lock: filelock.FileLock, lock_timeout: float) -> None:
    """Take `lock`, or raise the `StorageError` that tells the user what holds it."""
    try:
        lock.acquire()
    except filelock.Timeout as error:
        raise StorageError(
            f"the database is locked: another kept process has held {lock.lock_file} "
            f"for more than {lock_timeout:g} s",
            hint="wait for the other kept command or the daemon to finish, then retry",
        ) from error
    except OSError as error:
        raise StorageError(f"cannot lock {lock.lock_file}: {error.strerror or error}") from error


def set_aside(path: Path, suffix: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Path | None:
    """Move the database, its message file and its marker aside (``NAME.SUFFIX``) so a new one can be built.

    The files are moved under the database's lock, so a kept process in the
    middle of a commit (the daemon writing both files) finishes it first.

    :returns: where the main file went, or None if there was none.
    :raises StorageError: if the lock stays held or a file cannot be moved.
    """
    if not path.parent.is_dir():
        return None
    lock = _database_lock(path, lock_timeout)
    _acquire(lock, lock_timeout)
    moved = None
    try:
        messages = messages_path(path)
        for current in (path, messages, _next_path(messages), marker_path(path)):
            if not current.exists():
                continue
            target = current.with_name(f"{current.name}.{suffix}")
            try:
                current.rename(target)
            except OSError as error:
                raise StorageError(
                    f"cannot move {current} aside to {target}: {error.strerror or error}",
                    hint="fix the directory's permissions, then retry",
                ) from error
            if current == path:
                moved = target
    finally:
        lock.release()
    return moved


def read_meta(path: Path) -> dict[str, Any]:
    """The meta table of the main database file `path`, read as plain JSON, not opened as a database.

    For ``kept rebuild``, which keeps what the user told kept from the file
    it set aside; that file may be damaged elsewhere, or have no message file.

    :raises StorageError: when the file cannot be read or holds no meta table.
    """
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise StorageError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error
    meta = data.get("meta") if isinstance(data, dict) else None
    if not isinstance(meta, dict):
        raise StorageError(f"{path} holds no meta table")
    return {key: document["value"] for key, document in meta.items()
            if isinstance(document, dict) and "value" in document}


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


def _copy_prefix(source: int, destination: int, length: int) -> None:
    """Copy the first `length` bytes of the file `source` to `destination` (at its current position).

    The kernel copies (``copy_file_range``) where it can, so the bytes never
    pass through Python.
    """
    copied = 0
    try:
        while copied < length:
            count = os.copy_file_range(source, destination, length - copied, copied)
            if count == 0:
                raise OSError(errno.EIO, "the message file is shorter than its index says")
            copied += count
        return
    except OSError as error:
        if copied or error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while copied < length:
        block = os.pread(source, min(1 << 20, length - copied), copied)
        if not block:
            raise OSError(errno.EIO, "the message file is shorter than its index says")
        view = memoryview(block)
        while view:
            view = view[os.write(destination, view) :]
        copied += len(block)


#: A hot message on its way to the message file: (account, message id, role, member line).
_Outgoing = tuple[str, str, str, str]


class _MessageFile:
    """The message file: message records moved out of the main file, and their index.

    The index maps account -> message id -> ``offset * 2 + (1 if sent)``,
    where offset is the byte position of the message's line; it is read
    from the file's last line when the main file is loaded, and written
    there anew with every generation of the file. See the module docstring
    for the layout and the crash-safe way a new generation replaces the old.
    """

    HEAD = b'{"messages":{\n'
    TRAILER = b'},"meta":{"archive":'
    TAIL = b"}}\n"

    def __init__(self, path: Path, main_path: Path) -> None:
        self.path = path
        self.next_path = _next_path(path)
        self.main_path = main_path
        self.index: dict[str, dict[str, int]] = {}
        self.generation = 0
        self.end = len(self.HEAD)
        # Set when an index entry was removed: the next write must leave its line out.
        self.dirty = False
        # Descriptor of the current generation (whatever its name), read with pread only.
        self._reader: int | None = None
        # .next holds the current generation and still has to be renamed into place.
        self._written = False

    # -- reading ----------------------------------------------------------

    def reset(self) -> None:
        """Forget the index; `load` reads it again."""
        if self._reader is not None:
            os.close(self._reader)
            self._reader = None
        self.index = {}
        self.generation = 0
        self.end = len(self.HEAD)
        self.dirty = False
        self._written = False

    def load(self, database_id: str, pointer: Any) -> None:
        """Open the message file the main file's `pointer` names (meta ``message_archive``), and read its index.

        Called with the database locked. Finishes an archive write that
        was cut short after the main file was written, and deletes one cut
        short before.

        :raises StorageError: if the file is missing, damaged or belongs to another database.
        """
        self.reset()
        if pointer is None:
            # No message was ever moved; a .next is an unfinished first move.
            self._remove_unfinished()
            return
        if not (
            isinstance(pointer, dict)
            and type(pointer.get("generation")) is int
            and type(pointer.get("end")) is int
            and pointer["generation"] > 0
            and pointer["end"] >= len(self.HEAD)
        ):
            raise _damaged(self.main_path, f"its meta {ARCHIVE_META!r} is not a message file pointer")
        generation, end = pointer["generation"], pointer["end"]
        trailer = self._trailer(self.path, end)
        if not self._matches(trailer, database_id, generation):
            trailer = self._trailer(self.next_path, end)
            if not self._matches(trailer, database_id, generation):
                raise StorageError(
                    f"the database {self.main_path} is damaged: its message file {self.path} is missing "
                    f"or does not belong to it (generation {generation} expected)",
                    hint=f"restore both files from the same backup, or {_REBUILD_HINT}",
                )
            logger.info("Finishing an interrupted write of %s", self.path)
            try:
                os.replace(self.next_path, self.path)
            except OSError as error:
                raise StorageError(
                    f"cannot finish an interrupted write of {self.path}: {error.strerror or error}",
                    hint="fix the directory's permissions, then retry",
                ) from error
            _fsync_directory(self.path.parent)
        else:
            self._remove_unfinished()
        assert trailer is not None
        index = trailer.get("index")
        if not (
            isinstance(index, dict)
            and all(isinstance(ids, dict) for ids in index.values())
            and all(type(entry) is int for ids in index.values() for entry in ids.values())
        ):
            raise _damaged(self.main_path, f"the index of {self.path} is not a table of accounts")
        try:
            self._reader = os.open(self.path, os.O_RDONLY)
        except OSError as error:
            raise StorageError(f"cannot read the message file {self.path}: {error.strerror}") from error
        self.index = index
        self.generation = generation
        self.end = end

    def _remove_unfinished(self) -> None:
        try:
            os.unlink(self.next_path)
        except FileNotFoundError:
            return
        except OSError as error:
            logger.warning("Cannot remove %s, left by an interrupted write: %s", self.next_path, error.strerror)
            return
        logger.info("Removed %s, left by an interrupted write", self.next_path)

    def _trailer(self, path: Path, end: int) -> dict[str, Any] | None:
        """The ``archive`` document on the last line of `path`, which must start at `end`; None if there is none."""
        try:
            with open(path, "rb") as file:
                file.seek(end)
                text = file.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StorageError(f"cannot read the message file {path}: {error.strerror}") from error
        if not (text.startswith(self.TRAILER) and text.endswith(self.TAIL)):
            return None
        try:
            trailer = json.loads(text[len(self.TRAILER) : -len(self.TAIL)])
        except (ValueError, RecursionError):
            return None
        return trailer if isinstance(trailer, dict) else None

    @staticmethod
    def _matches(trailer: dict[str, Any] | None, database_id: str, generation: int) -> bool:
        return (
            trailer is not None
            and trailer.get("database_id") == database_id
            and trailer.get("generation") == generation
        )

    def entry(self, account: str, message_id: str) -> int | None:
        """The message's index entry (``offset * 2 + sent``), or None if it is not in the file."""
        ids = self.index.get(account)
        return None if ids is None else ids.get(message_id)

    def read(self, account: str, message_id: str) -> str | None:
        """The member line of a message in the file, or None."""
        entry = self.entry(account, message_id)
        if entry is None:
            return None
        assert self._reader is not None
        if not len(self.HEAD) <= entry >> 1 < self.end:
            raise _damaged(self.main_path, f"the index of {self.path} points outside its messages")
        try:
            line = _read_line(self._reader, entry >> 1, self.end)
        except OSError as error:
            raise StorageError(f"cannot read the message file {self.path}: {error.strerror or error}") from error
        try:
            member = line.decode("utf-8").rstrip("\n").removeprefix(",")
            key, _ = _split_member(member)
        except ValueError as error:
            raise _damaged(self.main_path, f"{self.path} does not hold a message where its index says") from error
        if key != _pair_key(account, message_id):
            raise _damaged(self.main_path, f"{self.path} holds another message where its index says")
        return member

    def members(self) -> Iterator[tuple[str, str, str]]:
        """Every message the file holds as (account, message id, member line), in file order.

        The file is read a megabyte at a time. Lines of messages taken out
        of the index since the file was written are skipped.

        :raises StorageError: if a line is damaged, or an index entry names
            no line (a rewrite would otherwise drop its message unseen).
        """
        if not self.generation:
            return
        assert self._reader is not None
        expected = sum(len(ids) for ids in self.index.values())
        found = 0
        try:
            for offset, line in _read_lines(self._reader, len(self.HEAD), self.end):
                try:
                    if not line.endswith(b"\n"):
                        raise ValueError("the file ends before its index")
                    member = line[:-1].decode("utf-8").removeprefix(",")
                    account, message_id = json.loads(_split_member(member)[0])
                    entry = self.entry(account, message_id)
                except (ValueError, TypeError, RecursionError) as error:
                    raise _damaged(self.main_path, f"{self.path} holds a damaged line ({error})") from error
                if entry is not None and entry >> 1 == offset:
                    found += 1
                    yield account, message_id, member
        except OSError as error:
            raise StorageError(f"cannot read the message file {self.path}: {error.strerror or error}") from error
        if found != expected:
            raise _damaged(self.main_path, f"the index of {self.path} names {expected - found} messages it does not hold")

    def role_counts(self) -> Counter[tuple[str, str]]:
        """How many messages of each (account, role) the file holds."""
        counts: Counter[tuple[str, str]] = Counter()
        for account, ids in self.index.items():
            sent = sum(entry & 1 for entry in ids.values())
            counts[account, "sent"] += sent
            counts[account, "received"] += len(ids) - sent
        return counts

    # -- changing ---------------------------------------------------------

    def remove(self, account: str, message_id: str) -> int | None:
        """Take a message out of the index (its line goes at the next write); return its entry."""
        ids = self.index.get(account)
        entry = None if ids is None else ids.pop(message_id, None)
        if entry is not None:
            self.dirty = True
        return entry

    def restore(self, account: str, message_id: str, entry: int) -> None:
        """Put back an entry `remove` took out (a transaction was undone)."""
        self.index.setdefault(account, {})[message_id] = entry

    def write_next(self, outgoing: list[_Outgoing], database_id: str) -> dict[str, int]:
        """Write the next generation of the file as ``.next``: what it holds now plus `outgoing`.

        Messages removed from the index, and those `outgoing` replaces,
        are left out. The index in memory describes the new file when this
        returns; if it raises, the caller must `reset` (the old file is
        untouched).

        :returns: the pointer the main file must store (meta ``message_archive``).
        :raises OSError: if writing failed (the disk is full, say).
        """
        replaced = {(account, message_id) for account, message_id, _, _ in outgoing if self.entry(account, message_id) is not None}
        copy = bool(self.generation) and not self.dirty and not replaced
        if self._written:
            # The last generation never got its name (see `promote`); it must
            # have it before .next is reused. Another kept process opening
            # the database may have given it already, and then left a .next
            # of its own (a move whose main file write failed), which the
            # main file does not name: only our own file is renamed.
            assert self._reader is not None
            ours = os.fstat(self._reader)
            try:
                pending = os.stat(self.next_path)
            except FileNotFoundError:
                pending = None
            if pending is not None and (pending.st_dev, pending.st_ino) == (ours.st_dev, ours.st_ino):
                os.replace(self.next_path, self.path)
                _fsync_directory(self.path.parent)
            self._written = False
        try:
            os.unlink(self.next_path)
        except FileNotFoundError:
            pass
        descriptor = os.open(self.next_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if copy:
                # Only new messages: the lines so far stay where they are.
                assert self._reader is not None
                _copy_prefix(self._reader, descriptor, self.end)
                os.lseek(descriptor, self.end, os.SEEK_SET)
                index, position = self.index, self.end
            else:
                os.write(descriptor, self.HEAD)
                index, position = {}, len(self.HEAD)
            with os.fdopen(os.dup(descriptor), "wb") as file:
                count = sum(len(ids) for ids in index.values())
                if not copy:
                    for account, message_id, member in self.members():
                        if (account, message_id) in replaced:
                            continue
                        entry = cast(int, self.entry(account, message_id))
                        line = f"{',' if count else ''}{member}\n".encode()
                        index.setdefault(account, {})[message_id] = position << 1 | entry & 1
                        file.write(line)
                        position += len(line)
                        count += 1
                for account, message_id, role, member in outgoing:
                    line = f"{',' if count else ''}{member}\n".encode()
                    index.setdefault(account, {})[message_id] = position << 1 | (role == "sent")
                    file.write(line)
                    position += len(line)
                    count += 1
                generation = self.generation + 1
                state = {"database_id": database_id, "generation": generation, "messages": count, "index": index}
                file.write(self.TRAILER + _ENCODER.encode(state).encode("ascii") + self.TAIL)
                file.flush()
                os.fsync(file.fileno())
        except BaseException:
            os.close(descriptor)
            try:
                os.unlink(self.next_path)
            except OSError:
                pass
            raise
        # Read from the new file from now on, whatever its name.
        if self._reader is not None:
            os.close(self._reader)
        self._reader = descriptor
        _fsync_directory(self.path.parent)
        self.index, self.generation, self.end = index, generation, position
        self.dirty = False
        self._written = True
        return {"generation": generation, "end": position}

    def promote(self) -> None:
        """Rename the ``.next`` written by `write_next` into place, now that the main file points to it."""
        if not self._written:
            return
        try:
            os.replace(self.next_path, self.path)
        except OSError as error:
            # The main file already points to the new generation: the next
            # write, or whoever opens the database next, finishes the rename.
            logger.warning("Cannot rename %s to %s: %s", self.next_path, self.path, error.strerror or error)
            return
        self._written = False
        _fsync_directory(self.path.parent)


def _read_line(descriptor: int, offset: int, end: int) -> bytes:
    """The line of the file starting at `offset` (with its newline), not reading past `end`."""
    size = 2048
    while True:
        block = os.pread(descriptor, min(size, end - offset), offset)
        newline = block.find(b"\n")
        if newline >= 0:
            return block[: newline + 1]
        if offset + len(block) >= end or not block:
            return block
        size *= 4


def _read_lines(descriptor: int, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """The lines of the file between `start` and `end`, as (offset, line), read a megabyte at a time."""
    offset, pending = start, b""
    position = start
    while position < end:
        block = os.pread(descriptor, min(1 << 20, end - position), position)
        if not block:
            break
        position += len(block)
        lines = (pending + block).split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield offset, line + b"\n"
            offset += len(line) + 1
    if pending:
        yield offset, pending


class _KeyedTable(Table):
    """A TinyDB table whose document ids are the records' natural keys.

    TinyDB's own `Table._update_table` copies the whole table twice on every
    write (to convert ids between int and str). Our ids are strings already,
    so the table is changed in place: a put costs O(1), not O(n).
    """

    # TinyDB types this as int; its methods we use never convert ids.
    document_id_class = str  # type: ignore[assignment]

    @property
    def _atomic(self) -> _AtomicJSONStorage:
        return cast(_AtomicJSONStorage, self.storage)

    def _documents(self) -> dict[str, _Stored]:
        return self._atomic.read().setdefault(self.name, {})

    def raw(self, key: str) -> _Stored | None:
        """The stored document itself (not a copy; do not change it; a member line in a compact table), or None."""
        return self._documents().get(key)

    def raw_items(self) -> list[tuple[str, _Stored]]:
        """All (document id, stored document) pairs (not copies), in file order."""
        return list(self._documents().items())

    def raw_documents(self) -> list[_Stored]:
        """All stored documents (not copies), in file order."""
        return list(self._documents().values())

    def delete(self, key: str) -> _Stored | None:
        """Remove the document stored under `key`; return it (None if there was none)."""
        documents = self._documents()
        previous = documents.pop(key, None)
        if previous is not None:
            self._atomic.journal.append((self.name, key, previous))
        return previous

    def put(self, key: str, document: _Stored) -> _Stored | None:
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


class _Database(TinyDB):
    table_class = _KeyedTable


class _AtomicJSONStorage(Storage):
    """TinyDB storage holding the main file in memory between commits, and the message file's index.

    `read` and `write` only touch the in-memory copy; `refresh` and `commit`
    move it to and from the disk. `journal` lists the changes since the last
    commit as (table, key, previous document or None), oldest first; the
    store uses it to undo an inner transaction and to know whether anything
    needs writing. `threads` indexes the threads of the copy, `archive` is
    the message file.

    Encoding the whole database anew at every commit would cost as much as
    the database is large; instead the JSON text of every document is kept
    from the last commit (compact tables hold nothing else), and only
    documents the journal names are encoded again.
    """

    def __init__(self, path: Path, hot_messages: int = HOT_MESSAGES) -> None:
        super().__init__()
        self.path = path
        self.hot_messages = hot_messages
        self.data: _Tables | None = None
        self.signature: _Signature | None = None
        self.journal: list[_Change] = []
        # Built from the thread lines on first use (`thread_index`): a scan
        # with nothing new, and a command that only reads promises, never
        # needs it, and it is most of the cost of reading a large file.
        self._thread_index = ThreadIndex()
        self._threads_indexed = False
        self.archive = _MessageFile(messages_path(path), path)
        # table -> document id -> member line as last written (tables other than compact ones).
        self._encoded: dict[str, dict[str, str]] = {}

    def read(self) -> _Tables:
        if self.data is None:
            raise RuntimeError("the database is only readable inside a transaction")
        return self.data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self.data = data

    def close(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Drop the in-memory copy; the next `refresh` reads the files."""
        self.data = None
        self.signature = None
        self.journal.clear()
        self._encoded.clear()
        self._thread_index.clear()
        self._threads_indexed = False
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
        if self.data is not None and signature == self.signature:
            return False
        self.forget()
        try:
            self.data = self._load()
            self.signature = signature
            self._sync_marker()
            meta = self.data["meta"]
            self.archive.load(self._database_id(), _value(meta.get(ARCHIVE_META)))
        except BaseException:
            self.forget()
            raise
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
        self._threads_indexed = True
        self.data["meta"]["schema_version"] = {"value": SCHEMA_VERSION}
        self.journal.append(("meta", "schema_version", None))
        self.data["meta"]["database_id"] = {"value": uuid.uuid4().hex}
        self.journal.append(("meta", "database_id", None))
        # A message file of a database that was deleted (or set aside
        # without it) must not pass for this one's.
        self.archive.load(self._database_id(), None)
        self.commit()
        self._sync_marker()

    def _database_id(self) -> str:
        return cast(str, _value(self.read()["meta"].get("database_id")))

    def _sync_marker(self) -> None:
        """Make the marker next to the file name this database (see `marker_path`).

        A database from before markers existed gets an id here; the next
        commit stores it.
        """
        meta = self.read()["meta"]
        database_id = _value(meta.get("database_id"))
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

    # -- loading ----------------------------------------------------------

    def _load(self) -> _Tables:
        """Read the main file, indexing its threads on the way.

        :raises StorageError: if it is unreadable, damaged or too new.
        """
        try:
            with open(self.path, "rb") as file:
                first = file.readline()
                if _table_name(first, first=True) is not None:
                    data = self._load_lines(file, first)
                else:
                    # One JSON object on one line: a file written by an older kept, or by hand.
                    file.seek(0)
                    data = self._load_whole(file.read())
        except OSError as error:
            raise StorageError(f"cannot read the database {self.path}: {error.strerror}") from error
        for name in TABLES:
            data.setdefault(name, {})
        version = _value(data["meta"].get("schema_version"))
        if type(version) is not int or version < 1:
            raise _damaged(self.path, "it has no schema version")
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"the database {self.path} was written by a newer kept "
                f"(schema {version}; this kept understands up to {SCHEMA_VERSION})",
                hint="upgrade kept, or point it at another database",
            )
        logger.debug("Read the database %s", self.path)
        return data

    def _load_lines(self, file: IO[bytes], line: bytes) -> _Tables:
        """The tables of a file in this module's layout (one document per line)."""
        data: _Tables = {}
        number = 1
        while True:
            name = _table_name(line, first=not data)
            if name is None or name in data:
                raise _damaged(self.path, f"line {number} is not the start of a table")
            table: dict[str, _Stored] = {}
            data[name] = table
            compact = name in _COMPACT_TABLES
            fragments = None if compact else self._encoded.setdefault(name, {})
            lazy = name == "threads"
            for raw in file:
                number += 1
                if raw == b"}\n":
                    break
                try:
                    if lazy:  # parsed when the thread index is first needed
                        key, member = _split_line(raw.decode("utf-8"), first=not table)
                        table[key] = member
                        continue
                    key, document, member = _parse_line(raw.decode("utf-8"), first=not table)
                    self._check(name, document)
                except (ValueError, RecursionError) as error:
                    raise _damaged(self.path, f"line {number} is not a document ({error})") from error
                except (KeyError, TypeError) as error:
                    raise _damaged(self.path, f"a document lacks a field ({error!r})") from error
                if fragments is None:
                    table[key] = member
                else:
                    table[key] = document
                    fragments[key] = member
            else:
                raise _damaged(self.path, f"it ends in the middle of the table {name!r}")
            line = file.readline()
            number += 1
            if line == b"}\n" and not file.read(1):
                return data

    def _load_whole(self, text: bytes) -> _Tables:
        """The tables of a file that is one JSON object, as TinyDB writes it."""
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
        try:
            for name in _COMPACT_TABLES:
                table = data[name]
                for key, document in table.items():
                    self._check(name, document)
                    # Replacing values keeps the keys (and the file's order).
                    table[key] = _member(key, document)
        except (KeyError, TypeError) as error:
            raise _damaged(self.path, f"a document lacks a field ({error!r})") from error
        self._threads_indexed = True  # on the way, since every thread was decoded anyway
        return cast(_Tables, data)

    @property
    def threads_indexed(self) -> bool:
        """True once `thread_index` has been built for the in-memory copy."""
        return self._threads_indexed

    def thread_index(self) -> ThreadIndex:
        """The index of the in-memory copy's threads, built from their lines on first use.

        :raises StorageError: if a thread line is damaged.
        """
        if not self._threads_indexed:
            started = time.perf_counter()
            threads = self.read()["threads"]
            try:
                for stored in threads.values():
                    self._check("threads", _as_document(stored))
            except (ValueError, RecursionError, KeyError, TypeError) as error:
                self._thread_index.clear()
                raise _damaged(self.path, f"a thread is unreadable ({error!r})") from error
            self._threads_indexed = True
            logger.debug("Indexed %d threads in %.2f s", len(threads), time.perf_counter() - started)
        return self._thread_index

    def _check(self, table: str, document: dict[str, Any]) -> None:
        """Check a document the store relies on at once, and index it if it is a thread.

        :raises KeyError, TypeError: if it lacks a field.
        """
        if table == "threads":
            key, account, subject, message_ids = _thread_entry(document)
            self._thread_index.add(key, account, subject, message_ids)
        elif table == "messages":
            if not (isinstance(document["account"], str) and isinstance(document["message_id"], str)):
                raise TypeError("account and message_id must be strings")
            document["role"]  # noqa: B018 - a missing role fails here, not at the next move

    # -- writing ----------------------------------------------------------

    def _encode(self) -> Iterator[bytes]:
        """The whole main file as chunks, encoding only what changed since the last commit.

        Kept fragments stay in the order of their tables (replacing a dict
        value keeps its place, new documents are appended to both), so the
        file lists documents in the order they were first stored.
        """
        data = self.read()
        for name, key in dict.fromkeys((name, key) for name, key, _ in self.journal):
            fragments = self._encoded.get(name)
            if fragments is None:
                continue  # compact, or not encoded yet: done whole below
            document = data.get(name, {}).get(key)
            if document is None:
                # A deleted document, or an undone insert.
                fragments.pop(key, None)
            else:
                fragments[key] = _member(key, _as_document(document))
        for number, (name, table) in enumerate(data.items()):
            values: Iterator[str]
            if name in _COMPACT_TABLES:
                values = cast(Iterator[str], iter(table.values()))
            else:
                fragments = self._encoded.get(name)
                if fragments is None or len(fragments) != len(table):
                    fragments = self._encoded[name] = {
                        key: _member(key, _as_document(document)) for key, document in table.items()
                    }
                values = iter(fragments.values())
            yield f"{',' if number else '{'}{_ENCODER.encode(name)}:{{\n".encode("ascii")
            first = True
            while chunk := "\n,".join(itertools.islice(values, _CHUNK_DOCUMENTS)):
                # ensure_ascii (in _ENCODER) keeps lone surrogates from broken charsets writable.
                yield (chunk if first else f"\n,{chunk}").encode("utf-8")
                first = False
            yield b"}\n" if first else b"\n}\n"
        yield b"}\n"

    def decoded(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The in-memory copy with every document a dict, as the main file holds it."""
        return {
            name: {key: _as_document(document) for key, document in table.items()}
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
        data = self.read()
        meta = data["meta"]
        # Make every commit's mtime differ from the last one even on
        # filesystems with coarse timestamps, so `refresh` never mistakes a
        # new file (which may even reuse a freed inode) for the one it read.
        previous_mtime = self.signature[2] if self.signature else 0
        mtime_ns = max(time.time_ns(), previous_mtime + 1)
        moved = 0
        try:
            if _value(meta.get("schema_version")) != SCHEMA_VERSION:
                # A file from an older kept takes the new layout with this write.
                self.journal.append(("meta", "schema_version", meta.get("schema_version")))
                meta["schema_version"] = {"value": SCHEMA_VERSION}
            if self.archive.dirty or len(data["messages"]) >= self.hot_messages:
                moved = self._move_hot_messages()
            self.signature = _write_atomically(self.path, self._encode(), mtime_ns)
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
        self.archive.promote()
        logger.debug("Wrote the database %s (%d bytes; %d messages moved)", self.path, self.signature[1], moved)

    def _move_hot_messages(self) -> int:
        """Write the next message file with the hot messages in it, and empty the hot table.

        :returns: how many messages moved.
        :raises OSError: if writing failed.
        """
        data = self.read()
        hot = data["messages"]
        outgoing = []
        for stored in hot.values():
            member = cast(str, stored)
            document = _member_document(member)
            outgoing.append((document["account"], document["message_id"], document["role"], member))
        pointer = self.archive.write_next(outgoing, self._database_id())
        data["messages"] = {}
        meta = data["meta"]
        self.journal.append(("meta", ARCHIVE_META, meta.get(ARCHIVE_META)))
        meta[ARCHIVE_META] = {"value": pointer}
        logger.info("Moved %d messages to %s", len(outgoing), self.archive.path)
        return len(outgoing)


def _value(document: Any) -> Any:
    """The value of a meta document ``{"value": ...}``, or None."""
    return document.get("value") if isinstance(document, dict) else None


def _table_name(line: bytes, *, first: bool) -> str | None:
    """The table a line opens (``{"name":{`` first, ``,"name":{`` after), or None."""
    if not (line.startswith(b"{" if first else b",") and line.endswith(b':{\n')):
        return None
    try:
        name = json.loads(line[1:-3])
    except ValueError:
        return None
    return name if isinstance(name, str) else None


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
        self._db = _Database(self.path, storage=_AtomicJSONStorage, hot_messages=hot_messages)
        self._storage = cast(_AtomicJSONStorage, self._db.storage)
        self._tables: dict[str, _KeyedTable] = {name: cast(_KeyedTable, self._db.table(name)) for name in TABLES}
        self._file_lock = _database_lock(self.path, lock_timeout)
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
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            logger.info("Removing %s, left by an interrupted write", leftover)
            try:
                leftover.unlink()
            except OSError as error:
                logger.warning("Cannot remove %s: %s", leftover, error.strerror or error)

    def _warn_about_permissions(self) -> None:
        for target, allowed in ((self.path, 0o600), (self.messages_path, 0o600), (self.path.parent, 0o700)):
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
                    self._undo(savepoint)
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
        _acquire(self._file_lock, self.lock_timeout)

    def _undo(self, savepoint: int) -> None:
        """Take back the changes journaled after `savepoint`."""
        journal = self._storage.journal
        data = self._storage.read()
        threads = set()
        while len(journal) > savepoint:
            name, key, previous = journal.pop()
            if name == "archive":
                account, message_id = json.loads(key)
                self._storage.archive.restore(account, message_id, cast(int, previous))
                continue
            if name == "threads":
                threads.add(key)
            if previous is None:
                data[name].pop(key, None)
            else:
                data[name][key] = cast(_Stored, previous)
        if not threads or not self._storage.threads_indexed:
            return  # an index built later reads what is stored now
        index = self._storage.thread_index()
        for key in threads:
            # Thread documents are keyed by their own key; re-enter what is stored now.
            index.discard(key)
            stored = data["threads"].get(key)
            if stored is not None:
                self._index_thread(_as_document(stored))

    def _index_thread(self, document: Mapping[str, Any]) -> None:
        try:
            key, account, subject, message_ids = _thread_entry(document)
        except (KeyError, TypeError) as error:
            raise _damaged(self.path, f"a thread lacks a field ({error!r})") from error
        self._storage.thread_index().add(key, account, subject, message_ids)

    def _decode(self, cls: type[_R], document: _Stored | None) -> _R | None:
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
            return (
                self._tables["messages"].raw(_pair_key(account, message_id)) is not None
                or self._storage.archive.entry(account, message_id) is not None
            )

    def put_message(self, message: MailMessage) -> bool:
        """Store the message's metadata (its body is dropped). True if it was new."""
        key = _pair_key(message.account, message.message_id)
        member = _member(key, to_json(message))
        with self.transaction():
            archive = self._storage.archive
            archived = archive.entry(message.account, message.message_id) is not None
            table = self._tables["messages"]
            if archived and table.raw(key) is None and archive.read(message.account, message.message_id) == member:
                return False  # stored already, in the message file
            return table.put(key, member) is None and not archived

    def get_message(self, account: str, message_id: str) -> MailMessage | None:
        """The stored message (with an empty body), or None."""
        with self.transaction():
            stored = self._tables["messages"].raw(_pair_key(account, message_id))
            if stored is None:
                stored = self._storage.archive.read(account, message_id)
            return self._decode(MailMessage, stored)

    def count_messages(self, account: str | None = None) -> dict[str, int]:
        """Number of stored messages by role (``{"sent": n, "received": m}``)."""
        counts = {"sent": 0, "received": 0}
        with self.transaction():
            archive = self._storage.archive
            by_role = archive.role_counts()
            for stored in self._tables["messages"].raw_documents():
                document = _as_document(stored)
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
        member = _member(thread.key, document)
        with self.transaction():
            self._tables["threads"].put(thread.key, member)
            self._index_thread(document)

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
            decoded = (_as_document(document) for document in self._tables["threads"].raw_documents())
            selected = [
                cast(Thread, self._decode(Thread, document))
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
            previous = self._tables["promises"].put(promise.id, document)
            if previous != document:
                self._tables["meta"].put(PROMISE_REVISION, {"value": new_promise_revision()})
            return previous is None

    def promises(self, account: str | None = None) -> Iterator[Promise]:
        """All promises (of one account, if given), oldest first."""
        with self.transaction():
            selected = self._select(Promise, "promises", account)
        return iter(sorted(selected, key=promise_order))

    def _select(self, cls: type[_R], table: str, account: str | None) -> list[_R]:
        """Every record of a (non-compact) table, of one account if given."""
        return [
            cast(_R, self._decode(cls, document))
            for document in self._tables[table].raw_documents()
            if account is None or _as_document(document).get("account") == account
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
            document = self._tables["cursors"].raw(_pair_key(account, folder))
            return None if document is None else cast(dict[str, Any], json_copy(_as_document(document).get("cursor")))

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
            return default if document is None else json_copy(_as_document(document).get("value"))

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
            key = _pair_key(account, message_id)
            if hot.raw(key) is None:
                try:
                    yield key, _member_document(member)
                except ValueError as error:
                    raise _damaged(self.path, f"{self.messages_path} holds a damaged line ({error})") from error
        for key, stored in hot.raw_items():
            yield key, _as_document(stored)

    def export(self) -> dict[str, Any]:
        """Everything stored, as JSON values: ``{table: [document, ...]}`` (``kept export``).

        Meta is a mapping of its names to values.
        """
        with self.transaction():
            exported: dict[str, Any] = {}
            for name, table in self._tables.items():
                if name == "messages":
                    exported[name] = [document for _, document in self._all_messages()]
                elif name == "meta":
                    exported[name] = {key: json_copy(_as_document(d).get("value")) for key, d in table.raw_items()}
                else:
                    exported[name] = json_copy([_as_document(d) for d in table.raw_documents()])
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

        Both files are rewritten without them. Cursors are kept, so the
        next scan does not read that mail again. Mail still in the mailbox
        comes back after a ``kept rebuild``.

        :returns: how many records were removed, by table.
        """
        pattern = _address_pattern(address)
        removed: Counter[str] = Counter()
        with self.transaction():
            threads = self._tables["threads"]
            gone_threads = {
                key for key, stored in threads.raw_items() if pattern.search(_text_of(_as_document(stored)))
            }

            def named(document: Mapping[str, Any]) -> bool:
                return document.get("thread_key") in gone_threads or bool(pattern.search(_text_of(document)))

            # Messages: a match in either file removes the message from both.
            gone_messages = {key for key, document in self._all_messages() if named(document)}
            archive = self._storage.archive
            for key in gone_messages:
                account, message_id = json.loads(key)
                entry = archive.remove(account, message_id)
                if entry is not None:
                    self._storage.journal.append(("archive", key, entry))
                self._tables["messages"].delete(key)
            removed["messages"] = len(gone_messages)
            for name, table in self._tables.items():
                if name in ("messages", "cursors", "meta"):
                    continue
                for key, stored in table.raw_items():
                    document = _as_document(stored)
                    if (name == "threads" and key in gone_threads) or (name != "threads" and named(document)):
                        table.delete(key)
                        removed[name] += 1
                        if name == "threads":
                            self._storage.thread_index().discard(key)
            meta = self._tables["meta"]
            if removed["promises"]:
                meta.put(PROMISE_REVISION, {"value": new_promise_revision()})
            for key, stored in meta.raw_items():
                value = _as_document(stored).get("value")
                if isinstance(value, list) and any(isinstance(v, str) and pattern.fullmatch(v) for v in value):
                    kept_values = [v for v in value if not (isinstance(v, str) and pattern.fullmatch(v))]
                    meta.put(key, {"value": kept_values})
                    removed["meta"] += len(value) - len(kept_values)
        removed = +removed  # drop zero counts
        logger.info("Forgot a contact: %s", ", ".join(f"{n} {name}" for name, n in sorted(removed.items())))
        return dict(removed)

    def close(self) -> None:
        """Drop the in-memory copy. The store must not be used afterwards."""
        with self._thread_lock:
            if self._closed:
                return
            if self._depth:
                raise RuntimeError("cannot close the store inside a transaction")
            self._closed = True
            self._db.close()
