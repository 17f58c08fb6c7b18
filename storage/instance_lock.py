"""One writer at a time per database: the instance locks beside ``kept.json``.

Every store transaction holds ``kept.json.lock`` (`kept.storage.tinydb_store`),
so no two processes ever interleave *inside* a transaction. That is not
enough for a command whose later transactions rest on what its earlier ones
read. A scan reads a folder's cursor once, then stores batch after batch
with the cursor advanced; a ``kept rebuild`` that set the database aside in
between received that cursor in its new database, skipped the mail before
it and reported success (issue 18: 1,645 of 1,845 sent messages, for good).
Two scans at once store each other's halves of one backfill, and one of
them may store the message that keeps a promise before the other stores
the promise, which then stays open for good (the scanner's own check of its
open promises, `kept.storage.base.promise_revision`, cannot see a promise
not stored yet); a scan holding a fetched batch of someone's mail puts it
back after ``kept forget`` erased them. So these commands hold a lock for
their whole run:

=====================================  ============================================
who                                    holds
=====================================  ============================================
``kept scan``, ``kept run --once``,    the *writer* lock (``kept.json.writer.lock``),
``kept digest --send``                 for the whole command
``kept rebuild``, ``kept forget``      the writer lock and the *feedback* lock
                                       (``kept.json.feedback.lock``), for the whole
                                       command
``kept run`` (the service)             the *service* lock (``kept.json.service.lock``)
                                       for its lifetime, and the writer lock around
                                       each pass (a scan, the digest), never between
feedback: ``promises``, ``threads``    the feedback lock, for their one transaction
and ``nudges`` done / snooze /
dismiss / mute
readers: ``status``, listings,         nothing
``digest --preview``, ``export``
=====================================  ============================================

Why the service holds the writer lock only around a pass: it runs for
months, and holding the lock for its lifetime would refuse ``kept scan``,
``kept rebuild`` and ``kept forget`` for as long as it is installed. A pass
takes seconds once the first backfill is done and passes are minutes apart,
so the database is free nearly all the time; a pass that finds a command
holding the lock is postponed to the next turn of the loop (at most 30 s),
and a command that finds a pass under way waits for it (`DEFAULT_WAIT`).
The service lock only keeps a second ``kept run`` from starting beside the
first (the systemd service and one started by hand).

Why feedback commands do not take the writer lock: the user expects
``kept promises done 3f9a`` to work while the service runs, including during
a first backfill that takes an hour. A feedback command is one transaction
that reads what it changes inside it, and the scanner too reads everything
it changes inside the transaction that changes it (its index of open
promises is checked against `kept.storage.base.promise_revision`), so the
two can run at the same time and neither loses the other's change. What a
feedback command must not meet is ``kept rebuild`` (the database it would
change is being replaced and is half built) or ``kept forget``; those hold
the feedback lock for their whole run, and a feedback command waits for
them briefly or says who is in the way.

The locks are `filelock.FileLock` ``flock`` locks: the kernel releases them
when their process ends, however it ends, so a lock left by a killed process
(pid gone) is free at once and taken over, never waited on. The holder
writes a note into the lock file (pid, command, since when, host) when it
gets the lock and empties it when it lets go; a process that finds the lock
held reads the note to say who holds it. The note names the command only
(``kept forget``, never its address argument): it is not private.

A process waits `DEFAULT_WAIT` seconds for a lock (callers may pass
another wait), then raises `kept.errors.DatabaseBusyError` (exit code 6).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

import filelock

from kept.errors import DatabaseBusyError, StorageError

__all__ = [
    "DEFAULT_WAIT",
    "FEEDBACK",
    "SERVICE",
    "WRITER",
    "Holder",
    "InstanceLock",
    "current_holder",
    "holding_feedback",
    "holding_writer",
    "lock_path",
]

logger = logging.getLogger(__name__)

#: Seconds a command waits for a lock another kept process holds before it gives up.
DEFAULT_WAIT = 5.0

#: The lock of commands that scan or rewrite the database (see the module docstring).
WRITER = "writer"
#: The lock between feedback commands and ``kept rebuild`` / ``kept forget``.
FEEDBACK = "feedback"
#: The lock a running ``kept run`` service holds for its lifetime.
SERVICE = "service"

_KINDS = (WRITER, FEEDBACK, SERVICE)

#: What the holder of each lock is doing, for the message a waiting command prints.
_DOING = {WRITER: "writing to it", FEEDBACK: "changing it", SERVICE: "running as the service on it"}

#: A note longer than this is not one kept wrote.
_MAX_NOTE = 4096


def lock_path(database: Path, kind: str) -> Path:
    """The file of the `kind` lock of the database at `database`: ``kept.json.KIND.lock``."""
    if kind not in _KINDS:
        raise ValueError(f"unknown lock {kind!r}")
    return database.with_name(f"{database.name}.{kind}.lock")


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lock, as its note says.

    :ivar pid: the holder's process id.
    :ivar command: what it is, e.g. ``kept scan``.
    :ivar since: when it took the lock (local time, with its offset).
    :ivar host: the machine it runs on (a database on a shared disk).
    """

    pid: int
    command: str
    since: datetime
    host: str

    def alive(self) -> bool:
        """False if the holder is provably gone (a process of this machine that no longer exists)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # another user's process: it exists
        return True

    def describe(self) -> str:
        """``kept scan (pid 4242, since 2026-12-05 11:02:03)``, plus the host when it is another one."""
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"{self.command} (pid {self.pid}{where}, since {self.since:%Y-%m-%d %H:%M:%S})"


def _note(command: str) -> bytes:
    payload = {
        "pid": os.getpid(),
        "command": command,
        "since": datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
    }
    return json.dumps(payload, ensure_ascii=True).encode("ascii") + b"\n"


def _parse_note(data: bytes) -> Holder | None:
    """The holder a note names, or None if it is empty or not one kept wrote."""
    try:
        payload = json.loads(data.decode("ascii"))
        holder = Holder(
            pid=int(payload["pid"]),
            command=str(payload["command"])[:100],
            since=datetime.fromisoformat(str(payload["since"])),
            host=str(payload["host"])[:253],
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, OverflowError):
        return None
    return holder if holder.pid > 0 else None


def current_holder(database: Path, kind: str = WRITER) -> Holder | None:
    """Who holds the `kind` lock of the database at `database`, as its note says; None if nobody says.

    The note is read without taking the lock, so it may belong to a holder
    that is just letting go; `Holder.alive` tells a note left by a killed
    process. Readers (``kept status``) use this; it never blocks.
    """
    path = lock_path(database, kind)
    # The holder writes its note right after taking the lock: a read that
    # lands in between sees part of it, so try again once.
    for attempt in range(2):
        try:
            with open(path, "rb") as file:
                data = file.read(_MAX_NOTE + 1)
        except OSError:
            return None
        if not data.strip():
            return None
        holder = _parse_note(data) if len(data) <= _MAX_NOTE else None
        if holder is not None or attempt:
            return holder
        time.sleep(0.05)
    return None


class InstanceLock:
    """One of a database's instance locks (see the module docstring), held by this process.

    :param database: the database's main file (``kept.json``).
    :param kind: `WRITER`, `FEEDBACK` or `SERVICE`.
    :param command: what the holder is, for the note (``kept scan``); never
        a command's arguments.
    :param wait: seconds `acquire` waits for another holder by default
        (None: `DEFAULT_WAIT`, read when waiting, so tests may change it).

    Acquiring nests: the lock is let go when every `acquire` had its `release`.
    """

    def __init__(self, database: Path, kind: str, command: str, *, wait: float | None = None) -> None:
        self.database = Path(database)
        self.kind = kind
        self.path = lock_path(self.database, kind)
        self.command = command
        self.wait = wait
        self._lock = filelock.FileLock(
            str(self.path),
            mode=0o600,
            thread_local=False,
            preserve_lock_file=True,
            # A filesystem without flock: fail rather than fall back to a
            # marker file, which a killed process would leave behind.
            fallback_to_soft=False,
            on_acquired=self._write_note,
        )

    def __repr__(self) -> str:
        return f"InstanceLock({str(self.path)!r}, {self.command!r})"

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._lock.is_locked

    def _write_note(self, descriptor: int) -> None:
        """Called by filelock with the lock's descriptor as soon as the lock is ours."""
        note = _note(self.command)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, note, 0)

    def acquire(self, wait: float | None = None) -> None:
        """Take the lock, waiting up to `wait` seconds (default: the lock's) for another holder.

        :raises DatabaseBusyError: if another process still holds it then.
        :raises StorageError: if the lock file cannot be made or locked.
        """
        if wait is None:
            wait = DEFAULT_WAIT if self.wait is None else self.wait
        if not self.held:
            self._make_directory()
        try:
            self._lock.acquire(timeout=max(wait, 0.0))
        except filelock.Timeout:
            raise self._busy(wait) from None
        except OSError as error:
            raise StorageError(
                f"cannot lock {self.path}: {error.strerror or error}",
                hint="check that the database's folder is yours and on a local disk",
            ) from error
        if self._lock.lock_counter == 1:
            logger.debug("%s: %s lock taken", self.command, self.kind)

    def release(self) -> None:
        """Let go of one `acquire`; the last one empties the note and unlocks."""
        if not self.held:
            return
        if self._lock.lock_counter == 1:
            try:
                os.truncate(self.path, 0)
            except OSError as error:
                # The next holder overwrites the note anyway.
                logger.debug("cannot empty %s: %s", self.path, error)
        self._lock.release()

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()

    def _make_directory(self) -> None:
        directory = self.path.parent
        if directory.is_dir():
            return
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(f"cannot create the directory {directory} for the database: {error.strerror}") from error

    def _busy(self, wait: float) -> DatabaseBusyError:
        holder = current_holder(self.database, self.kind)
        if holder is None:
            who = "another kept process"
        elif not holder.alive():
            # The note of a holder that was killed, read before the new
            # holder wrote its own: the lock itself is held by someone else.
            who = f"another kept process (the last note, {holder.describe()}, is from a process that has ended)"
        else:
            who = holder.describe()
        waited = f" (waited {wait:g} s)" if wait > 0 else ""
        if holder is not None and holder.command == "kept run":
            hint = ("the service lets go of it when its pass is done (seconds, or longer for the first "
                    "scan of a big mailbox): run the command again then")
        elif self.kind == SERVICE:
            hint = "stop the other one first (`systemctl --user stop kept`, or end that process)"
        else:
            hint = "wait for it to finish, then run the command again"
        return DatabaseBusyError(
            f"the database {self.database} is busy: {who} is {_DOING[self.kind]}{waited}",
            hint=hint,
        )


@contextmanager
def holding_writer(database: Path, command: str, *, wait: float | None = None,
                   feedback: bool = False) -> Iterator[None]:
    """Hold the writer lock of `database` (and, with `feedback`, the feedback lock) for the block.

    ``kept rebuild`` and ``kept forget`` pass ``feedback=True``. The writer
    lock is taken first, so two commands never wait on each other in a circle.

    :raises DatabaseBusyError: if another process holds a lock past `wait`.
    """
    with ExitStack() as stack:
        stack.enter_context(InstanceLock(database, WRITER, command, wait=wait))
        if feedback:
            stack.enter_context(InstanceLock(database, FEEDBACK, command, wait=wait))
        yield


@contextmanager
def holding_feedback(database: Path, command: str, *, wait: float | None = None) -> Iterator[None]:
    """Hold the feedback lock of `database` for the block (a feedback command's one transaction).

    :raises DatabaseBusyError: if ``kept rebuild`` or ``kept forget`` holds it past `wait`.
    """
    with InstanceLock(database, FEEDBACK, command, wait=wait):
        yield
