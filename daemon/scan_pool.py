"""Worker processes for a backfill: parse and extract on every core, results back in order.

A scan reads a folder batch by batch; threading and storing stay in the
scanning process, in order (`kept.daemon.scan`). During a backfill most of
the time goes to the pure steps before them: parsing each message and
running the promise extractor on sent mail. `OrderedPool` runs those in
worker processes:

* **bounded**: at most `OrderedPool.limit` tasks (a few messages each) are
  handed out and not yet taken back, all of one batch, so however large the
  mailbox, memory holds what one batch does when scanning alone and a few
  dozen messages in transit;
* **in order**: results come back in the order the tasks went in, so the
  scanner stores the same batches in the same transactions, with the same
  cursors, as it does alone, and reads the source at the same moments
  (`pooled_batches`);
* **forked**: workers are forked from the scanning process after it loaded
  the extractor, so they share its model's memory and start in
  milliseconds instead of loading spaCy and the encoder again; the work
  function is inherited, never pickled (only the tasks and their results
  cross the pipe);
* **one thread each**: see `_start_worker`;
* **lean**: each worker gives its free heap pages back after every task
  (`release_free_memory`): glibc keeps what a parse freed, and with each
  worker keeping its own, a backfill took about 20 MB more by PSS on
  beck-s and 37 MB at 200,000 messages;
* **fragile on purpose**: a worker that dies (out of memory, killed) breaks
  the pool; `PoolBroken` tells the scanner, which stores nothing of the
  unfinished tasks and does them again itself.

Whether a scan uses the pool at all is `worker_count` (``[scan] workers``,
``$KEPT_SCAN_WORKERS``, the usable cores) and the scanner's rule for a
backfill (`kept.daemon.scan.Scanner.pool_after`).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any, Generic, TypeVar, cast

from kept.mailboxes.base import Batch
from kept.settings import MAX_AUTO_WORKERS

__all__ = [
    "WORKERS_ENV", "OrderedPool", "PoolBroken", "pool_supported", "pooled_batches", "release_free_memory",
    "usable_cores", "worker_count",
]

logger = logging.getLogger(__name__)

#: Overrides ``[scan] workers`` ("auto" or a number), e.g. for a benchmark.
WORKERS_ENV = "KEPT_SCAN_WORKERS"
#: Tasks handed out per worker and not yet taken back: two keep a worker busy
#: while the scanner takes the other's result, more only hold more memory.
TASKS_PER_WORKER = 2
#: Seconds between heartbeats while the scanner waits on a worker.
HEARTBEAT_SECONDS = 1.0

Task = TypeVar("Task")
Result = TypeVar("Result")
Item = TypeVar("Item")

# The work function of this worker process, set by `_start_worker`.
_work: Callable[[Any], Any] | None = None


class PoolBroken(Exception):
    """A worker process died, or a task failed outside the work function's own error handling."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def pool_supported() -> bool:
    """True where workers can be forked (Linux): the pool relies on inheriting the loaded model."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def worker_count(configured: int | None) -> int:
    """How many worker processes a backfill uses; 1 means none (scan in one process).

    `configured` is ``[scan] workers`` (None: "auto"); ``$KEPT_SCAN_WORKERS``
    ("auto" or a number), when set, replaces it. "auto" is one per usable
    core, at most `MAX_AUTO_WORKERS`; a number is a cap, never more than
    the usable cores (a CPU-bound worker more than there are cores only
    adds memory).
    """
    override = os.environ.get(WORKERS_ENV, "").strip()
    if override == "auto":
        configured = None
    elif override.isdigit() and int(override) >= 1:
        configured = int(override)
    elif override:
        logger.warning("%s=%r is neither \"auto\" nor a number of processes: ignored", WORKERS_ENV, override)
    cores = usable_cores()
    wanted = min(cores, MAX_AUTO_WORKERS) if configured is None else min(configured, cores)
    return max(1, wanted) if pool_supported() else 1


def _die_with_parent() -> None:
    """Have the kernel kill this worker when the scanning process dies (Linux ``PR_SET_PDEATHSIG``).

    A scan killed with SIGKILL cannot shut its pool down; without this its
    workers would wait for tasks forever.
    """
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the call above
        os._exit(1)


def _start_worker(work: Callable[[Any], Any]) -> None:
    """Set up a freshly forked worker: its work function, signals and threads.

    Signals: the scanning process decides when the pool ends (after the batch
    it is storing, on SIGTERM or Ctrl-C), so workers ignore SIGINT (Ctrl-C
    reaches the whole process group), SIGTERM (systemd sends it to the whole
    service) and SIGHUP (a reload), and never write to the parent's wake-up
    socket. They die with the parent (`_die_with_parent`).

    Threads: one per worker, on purpose. The pool already runs one worker
    per core; a library's own threads inside each would only fight over the
    same cores (on the shared 2-core machine OpenBLAS's two threads made the
    NumPy encoder 14x slower under load, docs/benchmarks.md). ONNX Runtime's
    session has one intra-op and one inter-op thread and no spinning
    (`kept.extractors.encoder.session_options`); OpenBLAS, OpenMP, MKL and
    the tokenizer's thread pool are held to one thread by the environment
    that ``kept`` sets before it loads them (`kept.commands.one_thread_each`),
    which the workers inherit; set here too for a library a worker loads
    itself. An OpenBLAS already loaded by a program that did not set the
    environment is told in the scanning process, before the fork
    (`_one_blas_thread`): told in a worker, it would start a thread there.
    """
    global _work
    _work = work
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:  # not the main thread: nothing was inherited there
        pass
    _die_with_parent()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


#: What OpenBLAS builds call their thread setter (NumPy 2 ships scipy-openblas).
_BLAS_THREAD_SETTERS = (
    "openblas_set_num_threads", "openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads_64_",
)


def _one_blas_thread() -> None:
    """Tell every OpenBLAS loaded in this process to use one thread.

    It reads ``OPENBLAS_NUM_THREADS`` only when loaded; this reaches one
    loaded before (as threadpoolctl does, without the dependency).
    """
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:
        return
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _BLAS_THREAD_SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter(1)
                break


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc; musl and other C libraries have none
    except (OSError, AttributeError, TypeError):  # TypeError: Windows, where CDLL needs a name
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return cast(Callable[[int], int], trim)


_malloc_trim: Callable[[int], int] | None = None
_malloc_trim_known = False


def release_free_memory() -> None:
    """Give the free pages of this process's heap back to the system (glibc's ``malloc_trim``).

    glibc keeps the memory a parse or an extraction freed for the next
    allocation, so a process's resident size only grows to its worst
    moment and stays there. Called after each task in a worker: the call
    takes about 0.5 ms, and the next task faults the pages in again. A
    pooled backfill of beck-s spent 0.8-1.1 s in the kernel with it against
    0.4-0.6 s without, in the same wall time; its whole CPU time was 17-24 s
    either way (six runs each, alternating). Not in the scanning process:
    the next commit would only fault the pages in again, and after every
    batch it gave no lower peak on beck-s alone, and at 200,000 messages
    a backfill trimming there and in the workers took 513 s against 473 s
    with neither (single runs). Does nothing where the C library has no
    such call.
    """
    global _malloc_trim, _malloc_trim_known
    if not _malloc_trim_known:
        _malloc_trim, _malloc_trim_known = _find_malloc_trim(), True
    if _malloc_trim is not None:
        _malloc_trim(0)


def _run(task: Any) -> Any:
    """Run the inherited work function on one task (in a worker), then give back what it freed."""
    assert _work is not None, "worker not started by _start_worker"
    try:
        return _work(task)
    finally:
        release_free_memory()


def _ready() -> int:
    """A no-op task: returns the worker's process id once it runs."""
    return os.getpid()


class OrderedPool(Generic[Task, Result]):
    """`workers` forked processes running `work(task)`; results in submission order.

    :param work: runs in the workers; inherited by fork (a closure or bound
        method is fine), so it may hold a loaded model. It must handle its
        own errors: anything it raises breaks the pool (`PoolBroken`).
    :param heartbeat: called about every `HEARTBEAT_SECONDS` while waiting.

    Use as a context manager; `submit` while not `full`, `next_result` for
    the oldest outstanding result.
    """

    def __init__(self, workers: int, work: Callable[[Task], Result], heartbeat: Callable[[], None] = lambda: None):
        if workers < 2:
            raise ValueError(f"a pool needs at least 2 workers, not {workers}")
        self.workers = workers
        self.limit = workers * TASKS_PER_WORKER
        self._heartbeat = heartbeat
        self._outstanding: deque[Future[Result]] = deque()
        context = multiprocessing.get_context("fork")
        # Objects alive now are frozen out of the collector while the workers
        # fork, so a collection in a worker does not write to (and so copy)
        # every page of the model the processes share.
        # One BLAS thread (`_start_worker` says why), set before the fork:
        # OpenBLAS re-creates its thread pool in each forked child.
        _one_blas_thread()
        gc.collect()
        gc.freeze()
        executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(work,))
        try:
            # With fork, the first submit starts every worker; waiting for it
            # means a pool that cannot start fails here, not in the middle.
            started = executor.submit(_ready)
            self._wait(started)
            started.result()
        except Exception as error:  # BrokenProcessPool, or fork failing (OSError: out of memory)
            executor.shutdown(wait=False, cancel_futures=True)
            raise PoolBroken(f"the worker processes could not start: {error}") from error
        finally:
            gc.unfreeze()
        self._executor = executor

    def __enter__(self) -> OrderedPool[Task, Result]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def full(self) -> bool:
        """True when `limit` tasks are outstanding: take a result before submitting more."""
        return len(self._outstanding) >= self.limit

    def __len__(self) -> int:
        return len(self._outstanding)

    def submit(self, task: Task) -> None:
        """Hand `task` to a worker. :raises PoolBroken: the pool is broken."""
        if self.full:
            raise RuntimeError("the pool is full: take a result first")
        try:
            self._outstanding.append(self._executor.submit(_run, task))
        except Exception as error:  # BrokenProcessPool, or a task that cannot be pickled
            raise PoolBroken(str(error) or type(error).__name__) from error

    def next_result(self) -> Result:
        """The result of the oldest outstanding task, waiting for it.

        :raises PoolBroken: a worker died or the task raised.
        """
        future = self._outstanding.popleft()
        self._wait(future)
        try:
            return future.result()
        except Exception as error:
            raise PoolBroken(f"{type(error).__name__}: {error}") from error

    def _wait(self, future: Future[Any]) -> None:
        """Wait for `future`, with a heartbeat at least every `HEARTBEAT_SECONDS` and once it is done
        (results that each take nearly that long must not starve the watchdog)."""
        while not wait_for([future], timeout=HEARTBEAT_SECONDS).done:
            self._heartbeat()
        self._heartbeat()

    def close(self) -> None:
        """Drop the outstanding tasks and end the workers (waits for the tasks running now)."""
        self._outstanding.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)


def pooled_batches(
    pool: OrderedPool[Task, list[Item]],
    batches: Iterator[Batch],
    tasks_of: Callable[[Batch], list[Task]],
    on_broken: Callable[[PoolBroken], None],
) -> Iterator[tuple[Batch, list[Item] | None]]:
    """Each batch of `batches` with the results of its tasks (`tasks_of`)
    joined in order: the tasks go to the workers, at most the pool's limit
    out at a time, and the batch is handed over once all are back.

    The next batch is read from the source only after the caller has taken
    this one (stored it), as a scan in one process reads them: a source that
    fails, or a stop, meets the same batches stored, and the workers never
    hold more than one batch. (Reading the next batch while this one is
    stored keeps the workers busy during that time too, but then a source
    failing after a batch was read ahead leaves more stored than a scan in
    one process would: see docs/benchmarks.md.)

    If the pool breaks, `on_broken` is told, and this batch and all the rest
    come with None: the caller does their work itself.
    """
    for batch in batches:
        try:
            items = _run_tasks(pool, tasks_of(batch))
        except PoolBroken as error:
            pool.close()
            on_broken(error)
            yield batch, None
            for rest in batches:
                tasks_of(rest)  # what it notes about the batch still happens
                yield rest, None
            return
        yield batch, items


def _run_tasks(pool: OrderedPool[Task, list[Item]], tasks: list[Task]) -> list[Item]:
    """The results of `tasks` joined in order, never more than the pool's limit outstanding."""
    items: list[Item] = []
    for task in tasks:
        if pool.full:
            items += pool.next_result()
        pool.submit(task)
    while len(pool):
        items += pool.next_result()
    return items
