"""Batches of a backfill share a commit when the database is slow to write (`kept.daemon.commit_groups`).

A backfill whose batches share commits stores what one process stores:
``tests/test_scan_pool.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kept.daemon.commit_groups import LONGEST, WORK_PER_WRITE, CommitGroups
from kept.errors import SourceError, StorageError
from kept.storage.main_file import read_tables
from kept.storage.tinydb_store import TinyDBStore


class Clock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowlyWritten:
    """A store whose every commit takes `cost` seconds of `clock`."""

    def __init__(self, store: TinyDBStore, clock: Clock, cost: float) -> None:
        self.store, self.clock, self.cost = store, clock, cost
        self.commits = 0
        self._depth = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._depth += 1
        try:
            with self.store.transaction():
                yield
        finally:
            self._depth -= 1
        if self._depth == 0:
            self.clock.now += self.cost
            self.commits += 1


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TinyDBStore]:
    opened = TinyDBStore(tmp_path / "kept.json")
    yield opened
    opened.close()


def store_batches(groups: CommitGroups[int], store: Any, clock: Clock, count: int, seconds: float, first: int = 0) -> None:
    """`count` batches of `seconds` of work each, each writing its number as meta ``batch``."""
    for number in range(first, first + count):
        with groups.batch() as keep:
            clock.now += seconds
            with store.transaction():
                store.set_meta("batch", number)
            keep(number)


def on_disk(path: Path, key: str) -> Any:
    """The meta value `key` as the main file holds it, read without the lock the open group holds."""
    return read_tables(path)["meta"].get(key)


def test_a_database_quick_to_write_commits_every_batch(store: TinyDBStore) -> None:
    clock, committed = Clock(), []
    with CommitGroups(store, committed.append, clock=clock) as groups:
        store_batches(groups, store, clock, 5, seconds=0.3)
    assert groups.sizes == [1, 1, 1, 1, 1] and committed == [0, 1, 2, 3, 4]


def test_a_slow_commit_groups_batches_until_it_is_a_tenth_of_the_work(store: TinyDBStore) -> None:
    clock, committed = Clock(), []
    slow = SlowlyWritten(store, clock, cost=0.4)
    with CommitGroups(slow, committed.append, clock=clock) as groups:  # type: ignore[arg-type]
        store_batches(groups, slow, clock, 13, seconds=1.0)
    # The first commit shows what one costs; then a group lasts >= 9 x 0.4 s.
    assert WORK_PER_WRITE == 9.0
    assert groups.sizes == [1, 4, 4, 4] and slow.commits == 4
    assert committed == list(range(13))


def test_no_group_outlasts_the_longest_wait(store: TinyDBStore) -> None:
    clock = Clock()
    slow = SlowlyWritten(store, clock, cost=30.0)
    with CommitGroups(slow, lambda counts: None, clock=clock) as groups:  # type: ignore[arg-type]
        store_batches(groups, slow, clock, 7, seconds=2.0)
    assert LONGEST == 5.0
    assert groups.sizes == [1, 3, 3]


def test_counts_are_handed_over_only_once_their_group_is_saved(store: TinyDBStore, tmp_path: Path) -> None:
    clock, committed = Clock(), []
    slow = SlowlyWritten(store, clock, cost=1.0)
    with CommitGroups(slow, committed.append, clock=clock) as groups:  # type: ignore[arg-type]
        store_batches(groups, slow, clock, 3, seconds=1.0)
        # Batch 0 committed alone; 1 and 2 wait in the open group.
        assert committed == [0] and on_disk(tmp_path / "kept.json", "batch") == 0
    assert committed == [0, 1, 2] and on_disk(tmp_path / "kept.json", "batch") == 2


@pytest.mark.parametrize(
    ("error", "kept"),
    [
        # The database failed: the open group goes back, as the store's own copy does.
        (StorageError("the disk is full"), [0]),
        # The source failed: the batches stored before it stay.
        (SourceError("the server went away"), [0, 1, 2]),
        # A Ctrl-C may land in the middle of a batch's own undo: what it left is not committed.
        (KeyboardInterrupt(), [0]),
    ],
    ids=["database", "source", "interruption"],
)
def test_what_an_error_in_a_batch_leaves_of_the_open_group(
    store: TinyDBStore, tmp_path: Path, error: BaseException, kept: list[int]
) -> None:
    clock, committed = Clock(), []
    slow = SlowlyWritten(store, clock, cost=1.0)
    with pytest.raises(type(error)), CommitGroups(slow, committed.append, clock=clock) as groups:  # type: ignore[arg-type]
        store_batches(groups, slow, clock, 3, seconds=1.0)  # batch 0 alone, 1 and 2 in the open group
        with groups.batch():
            with slow.transaction():
                store.set_meta("batch", "half-way")
                raise error  # this batch's own writes go back in any case
    assert committed == kept and on_disk(tmp_path / "kept.json", "batch") == kept[-1]
    assert store.get_meta("batch") == kept[-1]  # the store's own copy is the file's


def test_the_wait_for_the_next_batch_counts_before_it_is_waited_for(store: TinyDBStore) -> None:
    """The group holds the file lock while the next batch is fetched and parsed: a group that
    the next wait, as long as the last, would take past its time commits before it."""
    clock = Clock()
    slow = SlowlyWritten(store, clock, cost=0.4)  # a group may last 3.6 s
    with CommitGroups(slow, lambda counts: None, clock=clock) as groups:  # type: ignore[arg-type]
        for _ in range(7):
            store_batches(groups, slow, clock, 1, seconds=0.5)
            clock.now += 1.0  # fetching the next batch and waiting on the workers
    # Each batch 0.5 s, then a wait of 1 s: after its third batch a group is
    # 3.5 s old, and the next wait would take it to 4.5 s: it commits with 3
    # (without counting the wait, it would take a fourth).
    assert groups.sizes == [1, 3, 3]


def test_a_long_wait_on_the_workers_ends_a_due_group_but_never_a_batch_being_stored(store: TinyDBStore) -> None:
    clock = Clock()
    slow = SlowlyWritten(store, clock, cost=0.4)
    with CommitGroups(slow, lambda counts: None, clock=clock) as groups:  # type: ignore[arg-type]
        store_batches(groups, slow, clock, 2, seconds=0.1)  # the first alone, the second opens a group
        assert groups.sizes == [1]
        with groups.batch():
            clock.now += 10.0
            groups.idle()  # a heartbeat in the middle of storing: nothing
            assert groups.sizes == [1]
        assert groups.sizes == [1, 2]  # due after the batch
        store_batches(groups, slow, clock, 1, seconds=0.1)
        groups.idle()
        assert groups.sizes == [1, 2]  # not due yet: 0.1 s old
        clock.now += 4.0  # the workers take long over the next batch
        groups.idle()
        assert groups.sizes == [1, 2, 1]
