"""Backfill of real Enron Maildirs by `kept scan`, against the floor, side by side.

For each mailbox, in one run:

* the **floor**: read every message file of the inbox and sent folders and
  parse it with the stdlib (``email.message_from_bytes`` with
  ``policy.default``, then ``get_body()``), timed in this process;
* the **backfill**: ``kept --config FILE scan`` in a process of its own, from
  an empty database, model load included (the encoder's graph is built
  beforehand, as a user's first ``kept check`` does), once per ``--workers``
  value (``$KEPT_SCAN_WORKERS``: 1 is one process, "auto" the backfill's
  worker processes, one per usable core).

CPU time is the kept process's and its worker processes' together (from
``wait4``: the kernel adds each reaped child's time to its parent's). Memory
is that of the whole process tree, sampled every 50 ms from /proc: the sum of
the processes' RSS (what the target counts; pages the forked workers share
with the scanner count once per process, so it overstates), the sum of
their PSS (each shared page split between the processes sharing it: the
memory the tree really takes) and the largest single process's peak RSS
(``ru_maxrss``). Two runs of one mailbox must store the same records; the
benchmark compares their databases.

Printed: the ratio backfill / floor (target <= 2) by CPU time, which a
neighbour's load on a shared machine does not move, and by wall time; and
peak RSS (target <= 300 MB). Usage::

    .venv/bin/python benchmarks/scan_enron.py [--enron DIR] [--mailbox allen-p ...]
        [--enron-more DIR --writer arnold-j ...] [--workers 1 --workers auto]

``--enron`` is the folder holding allen-p/, beck-s/, nemec-g/ (default
/tmp/enron, else ../shared/enron-dev unpacked to a temporary folder).
"""

from __future__ import annotations

import argparse
import collections
import email
import email.policy
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAILBOXES = ("allen-p", "beck-s", "nemec-g")
ARCHIVE = ROOT.parent / "shared" / "enron-dev" / "enron-dev.tar.gz"
RATIO_TARGET = 2.0
RSS_TARGET_MB = 300.0


def unpack(target: Path) -> Path:
    """Unpack the Enron archive into `target` (once) and return it."""
    if not (target / MAILBOXES[0]).exists():
        if not ARCHIVE.exists():
            sys.exit(f"no Enron data: {ARCHIVE} is missing; pass --enron DIR")
        with tarfile.open(ARCHIVE) as tar:
            tar.extractall(target, filter="data")
    return target


def files_of(folder: Path) -> list[Path]:
    """The message files of one Maildir folder."""
    return sorted(p for sub in ("cur", "new") for p in (folder / sub).glob("*") if p.is_file())


def owner_address(maildir: Path) -> str:
    """The most common From address of the sent folder: the mailbox owner."""
    counts: collections.Counter[str] = collections.Counter()
    for path in files_of(maildir / ".Sent")[:300]:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        counts[str(msg.get("From", "")).strip().lower()] += 1
    return counts.most_common(1)[0][0]


def floor(paths: list[Path]) -> tuple[float, float]:
    """CPU and wall seconds to read and parse `paths` with the stdlib."""
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default).get_body()  # type: ignore[attr-defined]
    return time.process_time() - cpu, time.perf_counter() - wall


SAMPLE_SECONDS = 0.05


def _children(pid: int) -> list[int]:
    """The child processes of `pid` (Linux /proc)."""
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as file:
                found += [int(child) for child in file.read().split()]
    except OSError:
        pass
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """RSS and PSS of one process in KB; (0, 0) once it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as file:
            fields = dict(line.split()[:2] for line in file if line.split()[0] in ("Rss:", "Pss:"))
    except (OSError, ValueError):
        return 0, 0
    return int(fields.get("Rss:", 0)), int(fields.get("Pss:", 0))


class TreeMemory(threading.Thread):
    """Samples the summed RSS and PSS of a process and all its descendants until stopped; keeps the peaks."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.most_processes = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_SECONDS):
            tree, todo = [], [self.pid]
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo += _children(pid)
            sizes = [_memory_kb(pid) for pid in tree]
            self.peak_rss_kb = max(self.peak_rss_kb, sum(rss for rss, _ in sizes))
            self.peak_pss_kb = max(self.peak_pss_kb, sum(pss for _, pss in sizes))
            self.most_processes = max(self.most_processes, sum(1 for rss, _ in sizes if rss))


@dataclass
class Backfill:
    """One ``kept scan`` run: CPU and wall seconds, memory in MB, exit code."""

    cpu: float
    wall: float
    tree_rss: float
    tree_pss: float
    largest_rss: float
    processes: int
    code: int


def backfill(config: Path, workers: str) -> Backfill:
    """Run ``kept scan`` with `config` and ``$KEPT_SCAN_WORKERS`` = `workers`; what it took."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "kept.cli", "--config", str(config), "scan"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/",
        env={**os.environ, "KEPT_SCAN_WORKERS": workers},
    )  # fmt: skip
    memory = TreeMemory(process.pid)
    memory.start()
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    memory.stopped.set()
    memory.join()
    if process.stderr is not None:
        process.stderr.close()
    return Backfill(
        cpu=usage.ru_utime + usage.ru_stime, wall=wall, tree_rss=memory.peak_rss_kb / 1024,
        tree_pss=memory.peak_pss_kb / 1024, largest_rss=usage.ru_maxrss / 1024,
        processes=memory.most_processes, code=os.waitstatus_to_exitcode(status),
    )  # fmt: skip


#: The largest difference of a promise's confidence between runs that counts as the same.
CONFIDENCE_TOLERANCE = 1e-5
CONFIDENCE = "promise confidence"
#: Meta values that differ between any two databases (their own id, a write token).
RANDOM_META = ("database_id", "promise_revision")


def records(database: Path) -> dict[str, object]:
    """What ``kept export`` writes of `database`, as sorted text, without `RANDOM_META` and the times of the run."""
    exported = json.loads(subprocess.run(
        [sys.executable, "-c", "import json, sys; from kept.storage.tinydb_store import TinyDBStore; "
         "s = TinyDBStore(sys.argv[1]); print(json.dumps(s.export(), sort_keys=True, default=str)); s.close()",
         str(database)], check=True, capture_output=True, text=True,
    ).stdout)  # fmt: skip
    # The account's health, the time of the scan and the history cutoff (the
    # first scan's time less [digest] lookback_days) are times of the run.
    meta = {
        k: v for k, v in exported.pop("meta").items()
        if k not in RANDOM_META and k != "last_scan" and not k.startswith(("health:", "history_before:"))
    }
    # A promise's confidence may differ at float precision with the batch its
    # sentence was scored in (tests/test_scan_pool.py, CONFIDENCE_TOLERANCE):
    # compared apart (`CONFIDENCE_TOLERANCE`); "promises" holds the rest.
    confidences = {p["id"]: p.pop("confidence") for p in exported["promises"]}
    # A Maildir cursor's folder times and listing time say when the folder
    # was listed (kept.mailboxes.maildir), not what was read.
    for document in exported.get("cursors", []):
        if isinstance(document.get("cursor"), dict):
            for key in ("dirs", "listed_at"):
                document["cursor"].pop(key, None)
    tables: dict[str, object] = {n: sorted(json.dumps(d, sort_keys=True) for d in docs) for n, docs in exported.items()}
    tables["meta"] = meta
    tables[CONFIDENCE] = confidences
    return tables


def write_config(work: Path, name: str, maildir: Path, owner: str) -> Path:
    """A private kept config scanning `maildir` into a fresh database."""
    database = work / f"{name}.json"
    for old in work.glob(f"{name}.json*"):
        old.unlink()
    config = work / f"{name}.toml"
    config.write_text(
        f'[kept]\naddresses = ["{owner}"]\ntimezone = "America/Chicago"\ndatabase = "{database}"\n\n'
        f'[digest]\ndelivery = "none"\n\n'
        f'[accounts.{name.replace("-", "_")}]\ntype = "maildir"\npath = "{maildir}"\ninbox = ""\nsent = ".Sent"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enron", type=Path, help="folder holding allen-p/, beck-s/, nemec-g/")
    parser.add_argument("--mailbox", action="append", choices=MAILBOXES)
    parser.add_argument("--enron-more", type=Path, default=Path("/tmp/enron-more/enron-more"))
    parser.add_argument("--writer", action="append", default=[], help="a writer of --enron-more (repeatable)")
    parser.add_argument("--workers", action="append", help='$KEPT_SCAN_WORKERS of a run (repeatable; default 1 and "auto")')
    args = parser.parse_args(argv)
    runs = args.workers or ["1", "auto"]
    work = Path(tempfile.mkdtemp(prefix="kept-bench-"))
    work.chmod(0o700)
    enron = args.enron or (Path("/tmp/enron") if Path("/tmp/enron/allen-p").is_dir() else unpack(work / "enron"))
    mailboxes = [(name, enron / name / "Maildir") for name in (args.mailbox or MAILBOXES)]
    mailboxes += [(name, args.enron_more / name / "Maildir") for name in args.writer]

    # The encoder's graph, built once as a user's first kept check does.
    subprocess.run(
        [sys.executable, "-c", "from kept.extractors.encoder import load_classifier; load_classifier()"], check=True
    )
    print(f"{os.cpu_count()} cores, {len(os.sched_getaffinity(0))} usable; load average {os.getloadavg()[0]:.1f} at the start")
    rows = []
    drifts: list[float] = []
    for name, maildir in mailboxes:
        paths = files_of(maildir) + files_of(maildir / ".Sent")
        floor_cpu, floor_wall = floor(paths)
        owner = owner_address(maildir)
        sent = len(files_of(maildir / ".Sent"))
        stored = []
        for workers in runs:
            config = write_config(work, name, maildir, owner)
            run = backfill(config, workers)
            if run.code != 0:
                print(f"{name}: kept scan exited {run.code}", file=sys.stderr)
                return 1
            size = (work / f"{name}.json").stat().st_size
            stored.append(records(work / f"{name}.json"))
            rows.append((name, workers, len(paths), sent, floor_cpu, floor_wall, run, size))
        differ = sorted({t for other in stored[1:] for t in other if t != CONFIDENCE and other[t] != stored[0].get(t)})
        drift = max((abs(c - stored[0][CONFIDENCE].get(k, float("inf"))) for other in stored[1:] for k, c in other[CONFIDENCE].items()),
                    default=0.0)  # fmt: skip
        drifts.append(drift)
        if drift > CONFIDENCE_TOLERANCE:
            differ.append(CONFIDENCE)
        if differ:
            print(f"{name}: the runs stored different records ({', '.join(differ)})", file=sys.stderr)
            return 1
    print("kept scan from an empty database (model load included) against the floor (read + parse + get_body);")
    print("CPU of the kept process and its workers (cores: CPU / wall, the cores the run got);")
    print("memory of the whole process tree (RSS summed, PSS summed, largest process)")
    print(f"{'mailbox':<14} {'workers':>7} {'procs':>5} {'files':>6} {'sent':>5} {'floor CPU':>9} {'scan CPU':>8} {'x floor':>7} "
          f"{'/2':>5} {'floor wall':>10} {'scan wall':>9} {'x floor':>7} {'cores':>5} {'RSS MB':>7} {'/300':>5} {'PSS MB':>7} "
          f"{'max 1 MB':>8} {'db KB':>6}")
    for name, workers, count, sent, floor_cpu, floor_wall, run, size in rows:
        ratio = run.cpu / floor_cpu
        print(f"{name:<14} {workers:>7} {run.processes:>5} {count:>6} {sent:>5} {floor_cpu:>9.1f} {run.cpu:>8.1f} "
              f"{ratio:>7.2f} {ratio / RATIO_TARGET:>5.2f} {floor_wall:>10.1f} {run.wall:>9.1f} "
              f"{run.wall / floor_wall:>7.2f} {run.cpu / run.wall:>5.2f} {run.tree_rss:>7.0f} {run.tree_rss / RSS_TARGET_MB:>5.2f} "
              f"{run.tree_pss:>7.0f} {run.largest_rss:>8.0f} {size // 1024:>6}")
    print("Targets: x floor <= 2 (/2 <= 1) and RSS <= 300 MB (/300 <= 1). Each mailbox's runs stored the same records")
    print(f"(a promise's confidence differed by at most {max(drifts, default=0.0):.1g} between runs).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
