"""The lock every transaction of a TinyDB store holds, and moving a database aside under it.

A transaction (`kept.storage.tinydb_store.TinyDBStore.transaction`) holds a
`filelock.FileLock` on ``PATH.lock`` from start to end, so the daemon and a
CLI command take turns inside the files: no two processes interleave the
steps of one commit. (The locks a command holds for its whole run, so that
its later transactions can rest on what its earlier ones read, are
`kept.storage.instance_lock`'s.)

`set_aside` moves a database's files away under this lock, for
``kept rebuild``.
"""

from __future__ import annotations

from pathlib import Path

import filelock

from kept.errors import StorageError
from kept.storage.files import marker_path, messages_path, next_path

__all__ = ["DEFAULT_LOCK_TIMEOUT", "acquire_lock", "database_lock", "set_aside"]

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
