"""A backfill with worker processes stores exactly what one process stores.

The same generated Maildir is scanned with the real extractor in one process
and with two workers (`kept.daemon.scan_pool`); the databases must hold the
same records: messages, threads, promises, cursors, everything ``kept
export`` writes, also when its batches share commits. A worker killed in the
middle must lose and double nothing.
The pool itself keeps results in order, holds at most its limit of tasks,
and runs each worker on one thread.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import kept.daemon.prepare as prepare_module
import kept.daemon.scan as scan_module
import kept.daemon.scan_pool as scan_pool
import kept.storage.tinydb_store as tinydb_store
from benchmarks.generate_mailbox import MailboxGenerator, write_maildir
from kept.daemon.commit_groups import CommitGroups
from kept.daemon.scan import Scanner
from kept.daemon.scan_pool import OrderedPool, PoolBroken, pool_supported, worker_count
from kept.errors import StorageWriteError, UserError
from kept.extractors.promises import PromiseExtractor
from kept.mailboxes.base import Folder
from kept.mailboxes.memory import MemorySource
from kept.settings import MaildirAccount, ScanSettings, Settings
from kept.storage.memory import MemoryStore
from kept.storage.tinydb_store import TinyDBStore
from tests.helpers import raw_mail, without_listing

pytestmark = pytest.mark.skipif(not pool_supported(), reason="worker processes need fork (Linux)")

ME = "me@home.example"
NOW = datetime(2026, 3, 18, 7, 10, tzinfo=timezone.utc)
MESSAGES = 600
BATCH = 40
SENT = Folder("Sent", "sent")


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated") / "Maildir"
    write_maildir(iter(MailboxGenerator(MESSAGES, seed=5)), root)
    return root


@pytest.fixture(scope="module")
def extractor() -> PromiseExtractor:
    return PromiseExtractor()


def settings_for(mailbox: Path, database: Path) -> Settings:
    account = MaildirAccount(name="generated", path=mailbox, inbox="", sent=".Sent")
    return Settings(path=Path("/dev/null"), addresses=(ME,), database=database, timezone="UTC", accounts=(account,))


def backfill(mailbox: Path, database: Path, extractor: PromiseExtractor, workers: int) -> tuple[Scanner, dict[str, Any]]:
    store = TinyDBStore(database)
    try:
        scanner = Scanner(
            settings_for(mailbox, database), store, extractor_factory=lambda: extractor,
            now=lambda: NOW, batch_size=BATCH, workers=workers,
        )
        [result] = scanner.scan_all()
        assert result.error is None and result.messages == MESSAGES
        return scanner, store.export()
    finally:
        store.close()


@pytest.fixture(scope="module")
def alone(mailbox: Path, extractor: PromiseExtractor, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _scanner, exported = backfill(mailbox, tmp_path_factory.mktemp("alone") / "kept.json", extractor, workers=1)
    assert exported["promises"], "the generated mailbox must hold promises"
    return exported


#: Meta values that are random by design: each database's own id, and the
#: token that changes at every promise write (`promise_revision`).
RANDOM_META = ("database_id", "promise_revision")


#: How far a promise's confidence may differ between two scans of the same
#: mail. The encoder's score of a sentence depends, at float precision, on
#: which sentences share its batch (ONNX Runtime's kernels sum in another
#: order for another batch shape): workers batch a few messages at a time,
#: a scan alone a whole batch's sent mail, and a scan alone with another
#: $KEPT_SCAN_BATCH differs the same way. Seen: 3e-8 on Enron's blair-l.
CONFIDENCE_TOLERANCE = 1e-5


def same_records(exported: dict[str, Any]) -> dict[str, Any]:
    """Every table, each as a sorted list (the order records were written in is not a
    record), promises without their confidence (see `same_confidences`)."""
    tables: dict[str, Any] = {
        name: sorted(repr(sorted((k, v) for k, v in (without_listing(d) if name == "cursors" else d).items()
                                 if not (name == "promises" and k == "confidence")))
                     for d in documents)
        for name, documents in exported.items() if name != "meta"
    }
    tables["meta"] = {key: value for key, value in exported["meta"].items() if key not in RANDOM_META}
    assert set(exported["meta"]) >= set(RANDOM_META)
    return tables


def same_confidences(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """Each promise's confidence in `one` within `CONFIDENCE_TOLERANCE` of the same promise's in `other`."""
    first = {p["id"]: p["confidence"] for p in one["promises"]}
    second = {p["id"]: p["confidence"] for p in other["promises"]}
    return first.keys() == second.keys() and all(abs(first[k] - second[k]) <= CONFIDENCE_TOLERANCE for k in first)


def test_a_backfill_with_two_workers_stores_what_one_process_stores(
    mailbox: Path, extractor: PromiseExtractor, alone: dict[str, Any], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="kept.daemon.scan")
    scanner, pooled = backfill(mailbox, tmp_path / "kept.json", extractor, workers=2)
    # Both folders went to the workers from their first batch (a first scan).
    used = [r.getMessage() for r in caplog.records if "worker processes" in r.getMessage()]
    assert len(used) == 2 and all(m.endswith(": parsing and extracting with 2 worker processes after 0 messages") for m in used), used
    assert not scanner.pool_broken
    assert same_records(pooled) == same_records(alone) and same_confidences(pooled, alone)
    assert {len(pooled[t]) for t in ("messages",)} == {MESSAGES}


def kill_the_worker_that_parses_batch_3(mailbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker that parses the first message of the Sent folder's fourth batch dies, as the
    kernel's OOM killer would end it; the scanning process, reading it again, parses it as usual."""
    scanner_pid = os.getpid()
    real_parse = prepare_module.parse_message
    victim = sorted((mailbox / ".Sent" / "cur").iterdir())[BATCH * 3].read_bytes()

    def parse(raw: Any, **kwargs: Any) -> Any:
        if raw.data == victim and os.getpid() != scanner_pid:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_parse(raw, **kwargs)

    monkeypatch.setattr(prepare_module, "parse_message", parse)


def groups_never_due(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan's commit groups end only with their folder (after the first batch, which measures a commit)."""
    monkeypatch.setattr(scan_module, "CommitGroups",
                        lambda *a, **kw: CommitGroups(*a, work_per_write=1e9, longest=1e9, **kw))


def test_a_worker_killed_mid_backfill_loses_and_doubles_nothing(
    mailbox: Path, extractor: PromiseExtractor, alone: dict[str, Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    kill_the_worker_that_parses_batch_3(mailbox, monkeypatch)
    caplog.set_level(logging.WARNING)
    scanner, pooled = backfill(mailbox, tmp_path / "kept.json", extractor, workers=2)
    assert scanner.pool_broken
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "worker processes failed" in warnings[0], warnings
    assert "scanning the rest in one process" in warnings[0]
    assert same_records(pooled) == same_records(alone) and same_confidences(pooled, alone)


def test_a_backfill_in_one_commit_stores_what_one_process_stores(
    mailbox: Path, extractor: PromiseExtractor, alone: dict[str, Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[CommitGroups[Any]] = []

    idled: list[int] = []

    def never_due(*args: Any, **kwargs: Any) -> CommitGroups[Any]:
        groups = CommitGroups(*args, work_per_write=1e9, longest=1e9, **kwargs)
        real_idle = groups.idle
        groups.idle = lambda: idled.append(1) or real_idle()  # type: ignore[method-assign]
        made.append(groups)
        return groups

    writes: list[str] = []
    real_write = tinydb_store._write_atomically
    monkeypatch.setattr(tinydb_store, "_write_atomically",
                        lambda path, *rest: writes.append(path.name) or real_write(path, *rest))
    monkeypatch.setattr(scan_module, "CommitGroups", never_due)
    _scanner, grouped = backfill(mailbox, tmp_path / "kept.json", extractor, workers=2)
    # Both folders went to the workers; after each one's first batch (which
    # measures a commit), one commit for the rest (`kept.daemon.commit_groups`).
    assert [groups.sizes[0] for groups in made] == [1, 1] and all(len(groups.sizes) == 2 for groups in made)
    assert sum(sum(groups.sizes) for groups in made) >= MESSAGES // 40
    assert writes.count("kept.json") <= 8, writes
    # The waits on the workers offer each group its chance to end (`CommitGroups.idle`).
    assert idled
    assert same_records(grouped) == same_records(alone) and same_confidences(grouped, alone)


def test_when_the_pool_breaks_its_open_group_is_saved_before_a_batch_is_parsed_alone(
    mailbox: Path, extractor: PromiseExtractor, alone: dict[str, Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch parsed in the scanning process is stored outside any commit group: a group
    would hold the database's lock while it parses, and a failure there would take back
    batches the workers had prepared."""
    kill_the_worker_that_parses_batch_3(mailbox, monkeypatch)
    groups_never_due(monkeypatch)
    real_store_batch = Scanner._store_batch
    depths: list[tuple[bool, int]] = []  # (prepared by a worker, transactions open when it is stored)

    def store_batch(self: Scanner, *args: Any, **kwargs: Any) -> Any:
        prepared = kwargs.get("prepared", args[4] if len(args) > 4 else None)
        depths.append((prepared is not None, self.store._depth))  # type: ignore[attr-defined]
        return real_store_batch(self, *args, **kwargs)

    monkeypatch.setattr(Scanner, "_store_batch", store_batch)
    scanner, pooled = backfill(mailbox, tmp_path / "kept.json", extractor, workers=2)
    assert scanner.pool_broken
    assert any(by_worker and depth for by_worker, depth in depths)  # batches waited in an open group
    alone_depths = {depth for by_worker, depth in depths if not by_worker}
    assert alone_depths == {0}, depths
    assert same_records(pooled) == same_records(alone) and same_confidences(pooled, alone)


def test_a_group_taken_back_is_not_counted_as_read(
    mailbox: Path, extractor: PromiseExtractor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills in the middle of a commit group: the pass's counts, ``kept scan --json``'s
    per-folder ones too, are what the database holds, and the next pass reads the rest."""
    groups_never_due(monkeypatch)
    real_store_batch = Scanner._store_batch
    calls: list[int] = []

    def disk_fills(self: Scanner, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 4:  # batches 2 and 3 of the first folder wait in its open group
            raise StorageWriteError("could not write the database: the disk is full")
        return real_store_batch(self, *args, **kwargs)

    monkeypatch.setattr(Scanner, "_store_batch", disk_fills)
    database = tmp_path / "kept.json"
    store = TinyDBStore(database)
    try:
        scanner = Scanner(settings_for(mailbox, database), store, extractor_factory=lambda: extractor,
                          now=lambda: NOW, batch_size=BATCH, workers=2)
        [failed] = scanner.scan_all()
        assert failed.error and "disk is full" in failed.error
        assert multiprocessing.active_children() == []  # the failed pass ended its workers
        assert failed.messages == BATCH == sum(store.count_messages().values())
        assert list(failed.folders.values()) == [BATCH]
        monkeypatch.setattr(Scanner, "_store_batch", real_store_batch)
        [rest] = scanner.scan_all()
        assert rest.error is None and rest.messages == MESSAGES - BATCH == sum(rest.folders.values()) - rest.seen
        assert sum(store.count_messages().values()) == MESSAGES
    finally:
        store.close()


def counted_pools(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets an item each time a scan starts worker processes."""
    started: list[int] = []
    real_pool = scan_module.OrderedPool
    monkeypatch.setattr(scan_module, "OrderedPool", lambda *a, **kw: started.append(1) or real_pool(*a, **kw))
    return started


def add_sent(source: MemorySource, first: int, count: int) -> None:
    for n in range(first, first + count):
        source.add(SENT, raw_mail(f"m{n}", sender=ME, to="anna@x.org", date=NOW - timedelta(hours=3 * BATCH - n),
                                  body=f"I'll send you part {n} of the report tomorrow.\n"))


def memory_scanner(source: MemorySource, extractor: PromiseExtractor) -> Scanner:
    return Scanner(settings_for(Path("/nonexistent"), Path("/dev/null")), MemoryStore(),
                   extractor_factory=lambda: extractor, source_factory=lambda account: source,
                   now=lambda: NOW, batch_size=BATCH, workers=2)


@pytest.mark.parametrize(("messages", "pools"), [(BATCH - 1, 0), (BATCH, 1), (3 * BATCH, 1)])
def test_a_first_scan_uses_the_pool_from_its_first_full_batch(
    extractor: PromiseExtractor, monkeypatch: pytest.MonkeyPatch, messages: int, pools: int
) -> None:
    started = counted_pools(monkeypatch)
    source = MemorySource("generated", folders=[SENT])
    add_sent(source, 0, messages)
    scanner = memory_scanner(source, extractor)
    assert scanner.scan_all()[0].messages == messages and len(started) == pools
    # The same scan again reads nothing: no pool.
    assert scanner.scan_all()[0].messages == 0 and len(started) == pools


def test_a_later_scan_uses_the_pool_only_for_a_batch_past_the_first_full_one(
    extractor: PromiseExtractor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An incremental scan (up to one batch new) stays in one process."""
    started = counted_pools(monkeypatch)
    source = MemorySource("generated", folders=[SENT])
    scanner = memory_scanner(source, extractor)
    add_sent(source, 0, 1)
    assert scanner.scan_all()[0].messages == 1 and started == []
    add_sent(source, 1, BATCH)
    assert scanner.scan_all()[0].messages == BATCH and started == []
    add_sent(source, BATCH + 1, BATCH + 1)
    assert scanner.scan_all()[0].messages == BATCH + 1 and started == [1]


def test_a_folder_read_again_is_not_sent_to_the_pool(extractor: PromiseExtractor, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder read again from the start (its UIDVALIDITY changed) holds messages already stored:
    workers would extract them in vain, so it stays in one process."""
    started = counted_pools(monkeypatch)
    source = MemorySource("generated", folders=[SENT])
    add_sent(source, 0, 3 * BATCH)
    scanner = memory_scanner(source, extractor)
    assert scanner.scan_all()[0].messages == 3 * BATCH and started == [1]
    source.reset_uidvalidity(SENT)
    again = scanner.scan_all()[0]
    assert (again.messages, again.seen) == (0, 3 * BATCH) and started == [1]


INBOX = Folder("INBOX", "received")


def add_received(source: MemorySource, count: int) -> None:
    for n in range(count):
        source.add(INBOX, raw_mail(f"r{n}", sender="anna@x.org", date=NOW - timedelta(hours=3 * BATCH - n),
                                   subject=f"Part {n}", body="Here is the next part.\n"))


def counted_loads_and_pools(
    monkeypatch: pytest.MonkeyPatch, extractor: PromiseExtractor, store: MemoryStore | None = None,
    source: MemorySource | None = None,
) -> tuple[list[str], Scanner]:
    """A scanner of an inbox and a sent folder whose extractor loads and worker pools are told in `events`."""
    events: list[str] = []
    real_pool = scan_pool.OrderedPool
    monkeypatch.setattr(scan_module, "OrderedPool", lambda *a, **kw: events.append("fork") or real_pool(*a, **kw))
    source = source or MemorySource("generated", folders=[INBOX, SENT])
    scanner = Scanner(settings_for(Path("/nonexistent"), Path("/dev/null")), store or MemoryStore(),
                      extractor_factory=lambda: events.append("load") or extractor,
                      source_factory=lambda account: source, now=lambda: NOW, batch_size=BATCH, workers=2)
    return events, scanner


def test_an_account_pass_forks_its_workers_once_with_the_extractor_before_the_inbox(
    extractor: PromiseExtractor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inbox is read before the sent folder. Workers forked for the sent folder after it would
    inherit every record stored by then (170-203 MB each by PSS at 200,000 messages), so one pool serves
    the pass, forked before the inbox's records, with the model the sent folder needs loaded."""
    events, scanner = counted_loads_and_pools(monkeypatch, extractor)
    source = scanner.source_factory(scanner.settings.accounts[0])
    add_received(source, 3 * BATCH)
    add_sent(source, 0, 3 * BATCH)
    [result] = scanner.scan_all()
    assert result.error is None and result.messages == 6 * BATCH and result.promises == 3 * BATCH
    assert events == ["load", "fork"]
    assert multiprocessing.active_children() == []  # the pass ended its workers


def test_workers_for_an_inbox_alone_do_not_load_the_extractor(
    extractor: PromiseExtractor, monkeypatch: pytest.MonkeyPatch
) -> None:
    _events, first = counted_loads_and_pools(monkeypatch, extractor)
    source = first.source_factory(first.settings.accounts[0])
    add_sent(source, 0, 1)
    first.scan_all()  # the sent folder has been read: it has a cursor
    events, scanner = counted_loads_and_pools(monkeypatch, extractor, first.store, source)
    add_received(source, 3 * BATCH)
    [result] = scanner.scan_all()
    assert result.error is None and result.messages == 3 * BATCH
    assert events == ["fork"]
    add_sent(source, 1, 3 * BATCH)  # a backlog of sent mail: workers with the model take over
    [result] = scanner.scan_all()
    assert result.promises == 3 * BATCH and events == ["fork", "load", "fork"]
    assert multiprocessing.active_children() == []


def test_a_model_that_will_not_load_fails_the_account_at_its_sent_folder_as_before(
    extractor: PromiseExtractor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inbox's workers want the model only for the sent folder to come: if it will not load,
    the inbox is stored without it, and the sent folder fails the account with the model's error."""
    events, scanner = counted_loads_and_pools(monkeypatch, extractor)

    def broken() -> PromiseExtractor:
        events.append("load")
        raise UserError("the spaCy pipeline 'en_core_web_sm' is not installed")

    scanner._extractor_factory = broken
    source = scanner.source_factory(scanner.settings.accounts[0])
    add_received(source, 3 * BATCH)
    add_sent(source, 0, 3 * BATCH)
    [result] = scanner.scan_all()
    assert result.error is not None and "not installed" in result.error
    assert result.folders == {"INBOX": 3 * BATCH}
    assert events == ["load", "fork", "load"]
    assert multiprocessing.active_children() == []


def test_a_pass_asked_to_stop_ends_its_workers(extractor: PromiseExtractor, monkeypatch: pytest.MonkeyPatch) -> None:
    events, scanner = counted_loads_and_pools(monkeypatch, extractor)
    source = scanner.source_factory(scanner.settings.accounts[0])
    add_received(source, 3 * BATCH)
    add_sent(source, 0, 3 * BATCH)
    batches: list[int] = []
    real_batch_stored = Scanner._batch_stored

    def count(self: Scanner, *args: Any) -> bool:
        batches.append(1)
        return real_batch_stored(self, *args)

    monkeypatch.setattr(Scanner, "_batch_stored", count)
    scanner.stop_requested = lambda: len(batches) >= 2  # a SIGTERM after the first pooled batch
    [result] = scanner.scan_all()
    assert result.error is None and result.messages == 2 * BATCH and events == ["load", "fork"]
    assert multiprocessing.active_children() == []


def _slow_square(task: int) -> int:
    time.sleep(random.Random(task).uniform(0, 0.02))
    return task * task


def test_the_pool_gives_results_in_order_and_holds_at_most_its_limit() -> None:
    with OrderedPool(2, _slow_square) as pool:
        results, most = [], 0
        for task in range(40):
            while pool.full:
                results.append(pool.next_result())
            pool.submit(task)
            most = max(most, len(pool))
        while len(pool):
            results.append(pool.next_result())
    assert results == [n * n for n in range(40)]
    assert most == pool.limit == 4


def _die_on_three(task: int) -> int:
    if task == 3:
        os._exit(1)
    return task


def _raise_on_three(task: int) -> int:
    if task == 3:
        raise ValueError("a bug in the work function")
    return task


@pytest.mark.parametrize("work", [_die_on_three, _raise_on_three])
def test_a_dead_worker_or_an_escaped_error_breaks_the_pool(work: Any) -> None:
    with OrderedPool(2, work) as pool:
        for task in range(4):
            pool.submit(task)
        with pytest.raises(PoolBroken):
            for _ in range(4):
                pool.next_result()


def test_each_worker_runs_on_one_thread_after_real_work(extractor: PromiseExtractor) -> None:
    text = "I'll send you the report by Friday. Could you check the numbers? I will call Anna tomorrow."

    def work(task: int) -> tuple[int, int]:
        found = list(extractor.extract_many([(text, None)] * task))
        threads = len(os.listdir("/proc/self/task"))
        return len(found), threads

    with OrderedPool(2, work) as pool:
        for task in (1, 8, 30, 2):
            pool.submit(task)
        results = [pool.next_result() for _ in range(4)]
    assert [found for found, _ in results] == [1, 8, 30, 2]
    assert {threads for _, threads in results} == {1}


def test_worker_count_follows_the_setting_the_environment_and_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_pool, "usable_cores", lambda: 6)
    monkeypatch.delenv(scan_pool.WORKERS_ENV, raising=False)
    assert worker_count(None) == 4  # auto: one per core, at most MAX_AUTO_WORKERS
    assert worker_count(3) == 3
    assert worker_count(1) == 1
    assert worker_count(16) == 6  # a cap, never more than the cores
    monkeypatch.setenv(scan_pool.WORKERS_ENV, "2")
    assert worker_count(None) == 2 and worker_count(5) == 2
    monkeypatch.setenv(scan_pool.WORKERS_ENV, "auto")
    assert worker_count(1) == 4
    monkeypatch.setenv(scan_pool.WORKERS_ENV, "many")
    assert worker_count(3) == 3
    monkeypatch.setattr(scan_pool, "usable_cores", lambda: 1)
    monkeypatch.delenv(scan_pool.WORKERS_ENV)
    assert worker_count(None) == 1 and worker_count(4) == 1
    assert ScanSettings().workers is None


def _private_kb() -> int:
    with open("/proc/self/smaps_rollup", encoding="ascii") as rollup:
        return sum(int(line.split()[1]) for line in rollup if line.startswith(("Private_Clean:", "Private_Dirty:")))


@pytest.mark.skipif(
    scan_pool._find_malloc_trim() is None or bool(os.environ.get("LD_PRELOAD")),
    reason="no glibc malloc_trim, or another allocator preloaded",
)
def test_freed_heap_pages_go_back_to_the_system() -> None:
    # 40 MB in blocks small enough for the heap, freed under one that stays:
    # the heap cannot shrink from its top, so only malloc_trim returns them.
    blocks = [bytearray(4000) for _ in range(10_000)]
    staying = bytearray(4000)
    del blocks
    before = _private_kb()
    scan_pool.release_free_memory()
    assert before - _private_kb() > 20_000, "at least 20 MB of the 40 freed are given back"
    assert staying


def test_a_worker_gives_back_what_a_task_freed_even_when_it_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    released = []
    monkeypatch.setattr(scan_pool, "release_free_memory", lambda: released.append(True))
    monkeypatch.setattr(scan_pool, "_work", lambda task: 10 // task)
    assert scan_pool._run(2) == 5 and len(released) == 1
    with pytest.raises(ZeroDivisionError):
        scan_pool._run(0)
    assert len(released) == 2


def test_without_malloc_trim_nothing_is_given_back_and_nothing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups = []
    monkeypatch.setattr(scan_pool, "_find_malloc_trim", lambda: lookups.append(True))
    monkeypatch.setattr(scan_pool, "_malloc_trim_known", False)
    monkeypatch.setattr(scan_pool, "_malloc_trim", None)  # put back as it was after the test
    scan_pool.release_free_memory()
    scan_pool.release_free_memory()
    assert scan_pool._malloc_trim is None and lookups == [True], "looked up once, then nothing to call"


def test_a_c_library_without_malloc_trim_is_found_out(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_library(name: object, **_: object) -> object:
        raise OSError("no such library")

    monkeypatch.setattr(scan_pool.ctypes, "CDLL", no_library)
    assert scan_pool._find_malloc_trim() is None

    class NoTrim:
        pass

    monkeypatch.setattr(scan_pool.ctypes, "CDLL", lambda name, **_: NoTrim())
    assert scan_pool._find_malloc_trim() is None
