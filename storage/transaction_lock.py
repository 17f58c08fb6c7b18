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

A rebuild killed while it moves the files, or before the new database holds
what it carries over from the old one, must not lose that: the old files
are the only place the user's corrections live. So `set_aside` first writes
a note (`kept.storage.files.rebuild_note_path`) naming the files and where
they go, and the note stays until the rebuild has carried over
(`drop_rebuild_note`). The next command that writes finds the note,
finishes the move (`interrupted_set_aside`) and carries over
(`kept.daemon.rebuild.finish_interrupted_rebuild`).
"""

from __future__ import annotations

import glob
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import filelock

from kept.errors import StorageError
from kept.storage.files import (
    fsync_directory, marker_path, messages_path, next_path, pass_path, rebuild_note_path, write_atomically,
)
from kept.storage.index import Person

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "acquire_lock",
    "database_lock",
    "drop_rebuild_note",
    "forget_in_set_aside_copies",
    "interrupted_set_aside",
    "set_aside",
    "set_aside_copies",
]

logger = logging.getLogger(__name__)

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
    """Move the database's files (main, message, pass file and marker) aside (``NAME.SUFFIX``) for a new one.

    The files are moved under the database's lock, so a kept process in the
    middle of a commit (the daemon writing both files) finishes it first.
    When there is a main file to move, a note naming the files and the
    suffix is written first and left in place: the caller drops it
    (`drop_rebuild_note`) once the new database holds what it carries over
    from the old one, and until then a kill is finished by
    `interrupted_set_aside`.

    :returns: where the main file went, or None if there was none.
    :raises StorageError: if the lock stays held or a file cannot be moved.
    """
    if not path.parent.is_dir():
        return None
    lock = database_lock(path, lock_timeout)
    acquire_lock(lock, lock_timeout)
    try:
        messages = messages_path(path)
        files = (path, messages, next_path(messages), pass_path(path), marker_path(path))
        present = [current for current in files if current.exists()]
        if path in present:
            note = json.dumps({"suffix": suffix, "files": [current.name for current in present]})
            try:
                write_atomically(rebuild_note_path(path), note.encode("utf-8"), time.time_ns())
            except OSError as error:
                raise StorageError(f"cannot write {rebuild_note_path(path)}: {error.strerror or error}") from error
        _move_aside(present, suffix)
    finally:
        lock.release()
    return path.with_name(f"{path.name}.{suffix}") if path in present else None


def _move_aside(files: list[Path], suffix: str) -> None:
    """Rename each of `files` to ``NAME.SUFFIX``, in order (the main file first, the marker last)."""
    for current in files:
        target = current.with_name(f"{current.name}.{suffix}")
        try:
            current.rename(target)
        except OSError as error:
            raise StorageError(
                f"cannot move {current} aside to {target}: {error.strerror or error}",
                hint="fix the directory's permissions, then retry",
            ) from error
    if files:
        fsync_directory(files[0].parent)


def interrupted_set_aside(path: Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Path | None:
    """Finish moving aside a database whose ``kept rebuild`` was killed; return where its main file is.

    Returns None when no rebuild was interrupted, and when one was killed
    before it moved the main file (the database is where it was: the note
    goes). Otherwise the files the note names that are still in place
    are moved after the main file (a kill between two renames), and the
    note stays: the caller carries over from the main file returned, then
    drops it (`drop_rebuild_note`). Files already moved are never touched
    again, and nothing the note does not name is moved: a database created
    since, once the marker had gone, is the new one.

    :raises StorageError: if the lock stays held or a file cannot be moved.
    """
    note = rebuild_note_path(path)
    if not note.exists():
        return None
    lock = database_lock(path, lock_timeout)
    acquire_lock(lock, lock_timeout)
    try:
        try:
            content = json.loads(note.read_text(encoding="utf-8"))
            suffix, names = content["suffix"], content["files"]
            if not (isinstance(suffix, str) and isinstance(names, list) and all(isinstance(n, str) for n in names)):
                raise ValueError("not a rebuild note")
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("%s is not a note kept rebuild wrote (%s); removing it", note, error)
            _drop(note)
            return None
        aside = path.with_name(f"{path.name}.{suffix}")
        if not aside.exists():
            _drop(note)  # killed before the first move: nothing was moved
            return None
        left = [path.with_name(name) for name in names]
        _move_aside([current for current in left
                     if current.exists() and not current.with_name(f"{current.name}.{suffix}").exists()], suffix)
        return aside
    finally:
        lock.release()


def drop_rebuild_note(path: Path) -> None:
    """The new database at `path` holds what ``kept rebuild`` carries over: forget the move (`set_aside`)."""
    _drop(rebuild_note_path(path))


def _drop(note: Path) -> None:
    try:
        note.unlink()
    except FileNotFoundError:
        return
    except OSError as error:
        raise StorageError(f"cannot remove {note}: {error.strerror or error}") from error
    fsync_directory(note.parent)


def set_aside_copies(path: Path) -> dict[str, list[Path]]:
    """The copies ``kept rebuild`` set aside beside the database at `path` (``NAME.broken-TIME``), by suffix.

    Each copy is the files `set_aside` moved together: the main file, the
    message file (and its unfinished ``.next``), the pass file and the marker.
    """
    copies: dict[str, list[Path]] = {}
    if not path.parent.is_dir():
        return copies
    messages = messages_path(path)
    for base in (path, messages, next_path(messages), pass_path(path), marker_path(path)):
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
