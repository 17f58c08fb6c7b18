"""The files of a TinyDB store on disk: their names, and writing and reading them safely.

A database at ``PATH`` (``kept.json``) is the main file, its message file
``kept.messages.json`` (`messages_path`), a ``.next`` generation of the
message file while one is being written (`next_path`), the pass file
``kept.pass.json`` that holds what every scan pass rewrites (`pass_path`),
and the marker ``kept.json.id`` that records the database existed
(`marker_path`). While ``kept rebuild`` moves a database aside and until
the new one holds what it carries over, ``kept.json.rebuilding`` says so
(`rebuild_note_path`).

`write_atomically` replaces a file so that a crash leaves the old or the
new one, never half of one: a temporary file in the same directory is
flushed, fsynced and renamed over the target, then the directory is
fsynced. The other helpers copy and read the message file with plain
descriptors (``pread``, ``copy_file_range``), so no copy of it is built in
memory.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from kept.errors import StorageError

__all__ = [
    "REBUILD_HINT",
    "Signature",
    "copy_prefix",
    "damaged",
    "fsync_directory",
    "marker_path",
    "messages_path",
    "next_path",
    "pass_path",
    "read_line",
    "read_lines",
    "rebuild_note_path",
    "write_atomically",
]

logger = logging.getLogger(__name__)

#: The fix every "damaged database" error suggests.
REBUILD_HINT = "run `kept rebuild` to rebuild it from your mail"

#: Signature of the file as last read or written: (inode, size, mtime in ns).
Signature = tuple[int, int, int]


def marker_path(path: Path) -> Path:
    """The marker file that records a database existed: ``kept.json.id`` next to ``kept.json``.

    It holds the database's id (also in meta ``database_id``). While it
    exists, a missing database is an error rather than a first run.
    """
    return path.with_name(path.name + ".id")


def rebuild_note_path(path: Path) -> Path:
    """The note ``kept rebuild`` keeps while it moves the database at `path` aside: ``kept.json.rebuilding``.

    It names the files being moved and where to; it goes once the new
    database holds what the rebuild carries over from the old one (see
    `kept.storage.transaction_lock.set_aside`).
    """
    return path.with_name(path.name + ".rebuilding")


def messages_path(path: Path) -> Path:
    """The message file of the database at `path`: ``kept.messages.json`` next to ``kept.json``."""
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(f"{stem}.messages.json")


def pass_path(path: Path) -> Path:
    """The pass file of the database at `path`: ``kept.pass.json`` next to ``kept.json``.

    It holds the meta values every scan pass writes (the time of the last
    scan, each account's health; `kept.storage.meta.is_pass_meta`), so
    a pass that finds nothing new does not rewrite the main file.
    """
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(f"{stem}.pass.json")


def next_path(path: Path) -> Path:
    """Where a new message file is written before it replaces the current one."""
    return path.with_name(path.name + ".next")


def damaged(path: Path, reason: str) -> StorageError:
    """The error for a damaged database file: what is wrong, with `kept rebuild` as the fix."""
    return StorageError(f"the database {path} is damaged: {reason}", hint=REBUILD_HINT)


def write_atomically(path: Path, payload: bytes | Iterable[bytes], mtime_ns: int) -> Signature:
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
    fsync_directory(directory)
    return status.st_ino, status.st_size, status.st_mtime_ns


def fsync_directory(directory: Path) -> None:
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


def copy_prefix(source: int, destination: int, length: int) -> None:
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


def read_line(descriptor: int, offset: int, end: int) -> bytes:
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


def read_lines(descriptor: int, start: int, end: int) -> Iterator[tuple[int, bytes]]:
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
