"""The lock every transaction of a TinyDB store holds, and moving a database aside under it.

A transaction (`kept.storage.tinydb_store.TinyDBStore.transaction`) holds a
`filelock.FileLock` on ``PATH.lock`` from start to end, so the daemon and a
CLI command take turns inside the files: no two processes interleave the
steps of one commit. (The locks a command holds for its whole run, so that
its later transactions can rest on what its earlier ones read, are
`kept.storage.instance_lock`'s.)

`set_aside` moves a database's files away under this lock, for
``kept rebuild``, which names them ``NAME.broken-TIME``; ``kept forget``
deletes those copies that mention the person (`forget_in_set_aside_copies`).
"""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Iterator
from pathlib import Path

import filelock

from kept.errors import StorageError
from kept.storage.files import fsync_directory, marker_path, messages_path, next_path
from kept.storage.index import Person

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "acquire_lock",
    "database_lock",
    "forget_in_set_aside_copies",
    "set_aside",
    "set_aside_copies",
]

#: Seconds to wait for another kept process to finish its transaction.
DEFAULT_LOCK_TIMEOUT = 30.0


def database_lock(path: Path, lock_timeout: float) -> filelock.FileLock:
    """The inter-process lock of the database at `path` (``PATH.lock``, created 0600)."""
    return filelock.FileLock(
        str(path.with_name(path.name + ".lock")), timeout=lock_timeout, mode=0o600, thread_local=False
    )


def acquire_lock(lock: filelock.FileLock, lock_timeout: float) -> None:
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
    lock = database_lock(path, lock_timeout)
    acquire_lock(lock, lock_timeout)
    moved = None
    try:
        messages = messages_path(path)
        for current in (path, messages, next_path(messages), marker_path(path)):
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


def set_aside_copies(path: Path) -> dict[str, list[Path]]:
    """The copies ``kept rebuild`` set aside beside the database at `path` (``NAME.broken-TIME``), by suffix.

    Each copy is the files `set_aside` moved together: the main file, the
    message file (and its unfinished ``.next``) and the marker.
    """
    copies: dict[str, list[Path]] = {}
    if not path.parent.is_dir():
        return copies
    messages = messages_path(path)
    for base in (path, messages, next_path(messages), marker_path(path)):
        for copy in sorted(path.parent.glob(glob.escape(base.name) + ".broken-*")):
            copies.setdefault(copy.name[len(base.name) + 1 :], []).append(copy)
    return copies


def forget_in_set_aside_copies(path: Path, person: Person, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> list[Path]:
    """Delete each copy ``kept rebuild`` set aside that mentions `person`, all its files; return those deleted.

    A copy is not rewritten without the person, as the database is: it was
    set aside because it may be damaged, and what ``kept rebuild`` keeps of
    it is in the new database already. A copy that does not mention them
    stays. The files are read as bytes, so a damaged one is searched too.

    :raises StorageError: if the lock stays held, or a file cannot be read or deleted.
    """
    lock = database_lock(path, lock_timeout)
    acquire_lock(lock, lock_timeout)
    deleted = []
    try:
        for files in set_aside_copies(path).values():
            if not any(_file_mentions(file, person) for file in files):
                continue
            for file in files:
                try:
                    file.unlink()
                except FileNotFoundError:
                    continue
                except OSError as error:
                    raise StorageError(
                        f"cannot delete {file}, a copy of the database that mentions {person.address}: "
                        f"{error.strerror or error}",
                        hint="delete it by hand, or fix the folder's permissions and run kept forget again",
                    ) from error
                deleted.append(file)
    finally:
        lock.release()
    if deleted:
        fsync_directory(path.parent)
    return deleted


#: JSON's escapes of one character (a surrogate pair for characters beyond the BMP).
_ESCAPE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}")

#: Bytes read from the end of one block again with the next, so a name split between them is found.
_OVERLAP = 4096


def _file_mentions(path: Path, person: Person) -> bool:
    """True if the file holds the person, as written or behind JSON's ``\\uXXXX`` escapes."""
    for text in _windows(path):
        unescaped = _ESCAPE.sub(lambda match: str(json.loads(f'"{match.group(0)}"')), text)
        if person.mentions(text) or person.mentions(unescaped):
            return True
    return False


def _windows(path: Path) -> Iterator[str]:
    """The file as text a megabyte at a time, each block with the end of the one before."""
    try:
        with open(path, "rb") as file:
            tail = b""
            while block := file.read(1 << 20):
                yield (tail + block).decode("utf-8", "replace")
                tail = block[-_OVERLAP:]
    except OSError as error:
        raise StorageError(f"cannot read {path}: {error.strerror or error}") from error
