"""Fewer commits for a backfill when the database is slow to write.

A scan stores each batch of messages with its cursor in one transaction
(`kept.daemon.scan`), and the TinyDB store's commit rewrites its whole main
file: a few milliseconds on a new database, 0.12 s at 200,000 messages,
0.4 s at 1,000,000, where the rewrites had become most of the backfill's
time (its pace fell from about 700 to 190 messages a second).

So while worker processes parse and extract a backfill (the scanning
process only threads and stores), its batches are stored inside one outer
transaction, a *commit group*. It commits once the time since it began,
and the wait for the next batch (taken to be as long as the last one), is
at least `WORK_PER_WRITE` times what the last commit took, or `LONGEST`
seconds, whichever is less: writing then costs about a tenth of the
backfill's time at most. On a new or small database that is every batch,
as before. A scan that parses in its own process commits every batch: a
group would hold the database's file lock while it parses and extracts.

What a group of several batches changes:

* a kill, a failing database or an interruption takes back the whole
  group, not one batch. The batches' cursor was in the same transaction,
  so the next pass reads them again: nothing is lost and, by Message-ID,
  nothing is stored twice;
* another process's transaction (``kept status`` during a backfill) waits
  for the group to end, which holds the database's file lock between its
  batches too. A wait on the workers is cut short once the group is due
  (`CommitGroups.idle`, from the scan's heartbeat, about every second), so
  that wait stays under `LONGEST` and a commit, well within the 30 s a
  lock is waited for. A fetch from a mail server that stalls while a
  group is open holds the lock until the fetch returns or times out;
* the pass's counts take a batch's figures only once its group is
  committed, so they count only what was saved.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Generic, TypeVar

from kept.errors import StorageError
from kept.storage.base import Store

__all__ = ["LONGEST", "WORK_PER_WRITE", "CommitGroups"]

logger = logging.getLogger(__name__)

#: A group commits once it has lasted this many times its last commit.
WORK_PER_WRITE = 9.0
#: ... or this many seconds, whatever the last commit took.
LONGEST = 5.0

Counts = TypeVar("Counts")


class CommitGroups(Generic[Counts]):
    """Commit groups for one folder's batches; a context manager around the pass over them.

    ::

        with CommitGroups(store, committed=add_to_result) as groups:
            for batch in batches:
                with groups.batch() as keep:
                    keep(store_the_batch(batch))   # its transactions nest in the group's

    Each batch hands its counts to ``keep``; `committed` gets them once
    their group is committed, and never if it is taken back. Leaving the
    ``with`` normally commits the open group (a pass asked to stop keeps
    what it stored), and so does an `Exception` (the source failed); a
    `StorageError` or an interruption (``KeyboardInterrupt``) takes the
    open group back. While the next batch is awaited, `idle` (from a
    heartbeat) commits a group that has become due.

    :param store: the store the batches go to.
    :param committed: called with each batch's counts once they are saved.
    :param clock: seconds, for the group's age and the commit's time.
    :ivar sizes: the batches each commit held, in order.
    """

    def __init__(
        self,
        store: Store,
        committed: Callable[[Counts], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        work_per_write: float = WORK_PER_WRITE,
        longest: float = LONGEST,
    ) -> None:
        self.store = store
        self.committed = committed
        self.clock = clock
        self.work_per_write = work_per_write
        self.longest = longest
        self.sizes: list[int] = []
        self._transaction: AbstractContextManager[None] | None = None
        self._pending: list[Counts] = []
        self._batches = 0
        self._began = 0.0
        self._last_commit = 0.0
        self._storing = False
        self._ended: float | None = None
        self._last_wait = 0.0

    def __enter__(self) -> CommitGroups[Counts]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.commit()
            return
        if issubclass(kind, Exception) and not issubclass(kind, StorageError):
            # The source failed, or a step had a bug: the batches stored
            # before it stay, as they would with a commit each (a batch that
            # failed half-way took back its own writes first).
            try:
                self.commit()
            except StorageError as failure:
                logger.warning("could not save the batches stored before the scan stopped: %s", failure)
            return
        # The database failed, or an interruption (Ctrl-C, exit) that may
        # have cut a batch's own undo short: the open group goes back whole.
        transaction, self._transaction, self._pending = self._transaction, None, []
        if transaction is not None:
            transaction.__exit__(kind, error, trace)

    @contextmanager
    def batch(self) -> Iterator[Callable[[Counts], None]]:
        """Store one batch inside the open group (opened if none is); yields what takes the batch's counts.

        After the batch the group commits if it is due, counting the wait
        for the next batch as the last one took (the group holds the
        database's file lock through it). An exception propagates; the
        ``with`` around the groups decides what becomes of the group.
        """
        started = self.clock()
        if self._ended is not None:
            self._last_wait = started - self._ended
        if self._transaction is None:
            transaction = self.store.transaction()
            transaction.__enter__()
            self._transaction, self._batches, self._began = transaction, 0, started
        self._storing = True
        try:
            yield self._pending.append
        finally:
            self._storing = False
        self._batches += 1
        now = self.clock()
        if now + self._last_wait - self._began >= self._threshold():
            self.commit()
        self._ended = self.clock()

    def idle(self) -> None:
        """Commit the open group if it is due; for heartbeats while the next batch is awaited.

        Does nothing while a batch is being stored (its own transactions
        are open inside the group's).
        """
        if self._transaction is not None and not self._storing and self.clock() - self._began >= self._threshold():
            self.commit()

    def commit(self) -> None:
        """Commit the open group, if one is open, and hand its batches' counts to `committed`."""
        transaction, pending = self._transaction, self._pending
        if transaction is None:
            return
        self._transaction, self._pending = None, []
        started = self.clock()
        transaction.__exit__(None, None, None)
        self._last_commit = self.clock() - started
        self.sizes.append(self._batches)
        for counts in pending:
            self.committed(counts)

    def _threshold(self) -> float:
        """How long a group may last: `work_per_write` times the last commit, at most `longest` seconds."""
        return min(self.longest, self.work_per_write * self._last_commit)
