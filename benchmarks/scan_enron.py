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

With ``--source imap`` each mailbox is also (or only) read over IMAP: a
private Dovecot (tests/dovecot.py) serves a copy of the Maildir to a user
of its own, the floor is a plain imapclient session fetching every message
(``BODY.PEEK[]``, 200 at a time) and parsing it as the Maildir floor does,
and kept scans an IMAP account over TLS. Dovecot's own CPU counts on
neither side.

Printed: the ratio backfill / floor (target <= 2) by CPU time, which a
neighbour's load on a shared machine does not move, and by wall time; and
peak RSS (target <= 300 MB). Usage::

    .venv/bin/python benchmarks/scan_enron.py [--enron DIR] [--mailbox allen-p ...]
        [--enron-more DIR --writer arnold-j ...] [--workers 1 --workers auto]
        [--source maildir --source imap]

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
import pwd
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent

if TYPE_CHECKING:  # imported when IMAP is asked for: tests/dovecot.py
    from dovecot import DovecotServer, MailUser

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


def _parse(data: bytes) -> None:
    """What the floor does with each message: the stdlib parse and ``get_body()``."""
    email.message_from_bytes(data, policy=email.policy.default).get_body()  # type: ignore[attr-defined]


def floor(paths: list[Path]) -> tuple[float, float]:
    """CPU and wall seconds to read and parse `paths` with the stdlib."""
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        _parse(path.read_bytes())
    return time.process_time() - cpu, time.perf_counter() - wall


def parse_like_a_reader(data: bytes) -> None:
    """The stdlib parse, the body's text and the subject (`benchmarks/scale.py`'s floor)."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    body = message.get_body(("plain", "html"))  # type: ignore[attr-defined]
    if body is not None:
        try:
            body.get_content()
        except (LookupError, ValueError):
            pass
    str(message["Subject"] or "")


def imap_floor(
    server: DovecotServer, user: MailUser, folders: list[str], parse: Callable[[bytes], None] = _parse
) -> tuple[float, float, int]:
    """CPU and wall seconds of a plain imapclient fetch + `parse` of every message, and how many."""
    wall, cpu = time.perf_counter(), time.process_time()
    count = 0
    with server.client(user) as client:
        for folder in folders:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            for start in range(0, len(uids), 200):
                for item in client.fetch(uids[start : start + 200], ["BODY.PEEK[]", "INTERNALDATE"]).values():
                    parse(item[b"BODY[]"])
                    count += 1
    return time.process_time() - cpu, time.perf_counter() - wall, count


def start_dovecot() -> DovecotServer:
    """A private Dovecot (tests/dovecot.py); exits with the install hint where there is none."""
    sys.path.insert(0, str(ROOT / "tests"))
    from dovecot import DovecotServer

    try:
        return DovecotServer.start()
    except FileNotFoundError as error:
        sys.exit(f"--source imap needs Dovecot: {error}")


def serve(server: DovecotServer, maildir: Path) -> MailUser:
    """A new Dovecot user whose mailbox is a copy of `maildir` (INBOX and Sent), indexed once."""
    user = server.new_user()
    home = server.root / "mail" / user.name
    target = home / "Maildir"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(maildir, target, ignore=shutil.ignore_patterns("dovecot*"))
    owner = pwd.getpwnam("dovecot") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    for path in [home, *home.rglob("*")]:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    with server.client(user) as client:  # Dovecot indexes a Maildir the first time it is opened
        for folder in ("INBOX", "Sent"):
            client.select_folder(folder, readonly=True)
            client.search(["ALL"])
    return user


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


def backfill(config: Path, workers: str, password: str = "") -> Backfill:
    """Run ``kept scan`` with `config` and ``$KEPT_SCAN_WORKERS`` = `workers`; what it took.

    `password` is the IMAP account's (``$KEPT_BENCH_PASSWORD``). What the
    scan wrote to stderr is kept beside `config` (``.err``)."""
    started = time.perf_counter()
    with open(config.with_suffix(".err"), "wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "kept.cli", "--config", str(config), "scan"],
            stdout=subprocess.DEVNULL, stderr=errors, cwd="/",
            env={**os.environ, "KEPT_SCAN_WORKERS": workers, "KEPT_BENCH_PASSWORD": password},
        )  # fmt: skip
        memory = TreeMemory(process.pid)
        memory.start()
        _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    memory.stopped.set()
    memory.join()
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


def write_config(
    work: Path, name: str, maildir: Path, owner: str, imap: tuple[DovecotServer, MailUser] | None = None
) -> Path:
    """A private kept config scanning `maildir` into a fresh database
    (or, with `imap`, the IMAP account serving a copy of it)."""
    database = work / f"{name}.json"
    for old in work.glob(f"{name}.json*"):
        old.unlink()
    config = work / f"{name}.toml"
    if imap is None:
        account = f'type = "maildir"\npath = "{maildir}"\ninbox = ""\nsent = ".Sent"\n'
    else:
        server, user = imap
        account = (
            f'type = "imap"\nhost = "{server.host}"\nport = {server.imaps_port}\nsecurity = "tls"\n'
            f'username = "{user.name}"\npassword_env = "KEPT_BENCH_PASSWORD"\nca_file = "{server.ca_file}"\n'
            f'timeout = 120\ninbox_folder = "INBOX"\nsent_folder = "Sent"\n'
        )
    config.write_text(
        f'[kept]\naddresses = ["{owner}"]\ntimezone = "America/Chicago"\ndatabase = "{database}"\n\n'
        f'[digest]\ndelivery = "none"\n\n'
        f'[accounts.{name.replace("-", "_")}]\n{account}',
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
    parser.add_argument(
        "--source", action="append", choices=("maildir", "imap"),
        help="read each mailbox from its Maildir, or over IMAP from a private Dovecot (repeatable; default maildir)",
    )
    args = parser.parse_args(argv)
    runs = args.workers or ["1", "auto"]
    sources = list(dict.fromkeys(args.source or ["maildir"]))
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
    # A kill ends the run through the finally below, which stops Dovecot.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    server = start_dovecot() if "imap" in sources else None
    try:
        for name, maildir in mailboxes:
            owner = owner_address(maildir)
            sent = len(files_of(maildir / ".Sent"))
            for source in sources:
                imap = None
                if source == "maildir":
                    paths = files_of(maildir) + files_of(maildir / ".Sent")
                    floor_cpu, floor_wall = floor(paths)
                    count = len(paths)
                else:
                    assert server is not None
                    imap = (server, serve(server, maildir))
                    floor_cpu, floor_wall, count = imap_floor(server, imap[1], ["INBOX", "Sent"])
                # Runs of one source store the same records; the two sources differ in cursors and folder names.
                stored = []
                for workers in runs:
                    config = write_config(work, name, maildir, owner, imap)
                    run = backfill(config, workers, imap[1].password if imap else "")
                    if run.code != 0:
                        tail = config.with_suffix(".err").read_text(errors="replace").strip().splitlines()[-5:]
                        print(f"{name} ({source}): kept scan exited {run.code}:", *tail, sep="\n  ", file=sys.stderr)
                        return 1
                    size = (work / f"{name}.json").stat().st_size
                    stored.append(records(work / f"{name}.json"))
                    rows.append((name, source, workers, count, sent, floor_cpu, floor_wall, run, size))
                first = stored[0]
                others = stored[1:]
                differ = sorted({t for other in others for t in other if t != CONFIDENCE and other[t] != first.get(t)})
                drift = max(
                    (abs(c - first[CONFIDENCE].get(k, float("inf"))) for o in others for k, c in o[CONFIDENCE].items()),
                    default=0.0,
                )
                drifts.append(drift)
                if drift > CONFIDENCE_TOLERANCE:
                    differ.append(CONFIDENCE)
                if differ:
                    print(f"{name} ({source}): the runs stored different records ({', '.join(differ)})",
                          file=sys.stderr)
                    return 1
    finally:
        if server is not None:
            server.stop()
    print("kept scan from an empty database (model load included) against the floor (read + parse + get_body;")
    print("over IMAP: a plain imapclient fetch, then the same parse);")
    print("CPU of the kept process and its workers (cores: CPU / wall, the cores the run got);")
    print("memory of the whole process tree (RSS summed, PSS summed, largest process)")
    print(f"{'mailbox':<14} {'source':>7} {'workers':>7} {'procs':>5} {'files':>6} {'sent':>5} {'floor CPU':>9} {'scan CPU':>8} {'x floor':>7} "
          f"{'/2':>5} {'floor wall':>10} {'scan wall':>9} {'x floor':>7} {'cores':>5} {'RSS MB':>7} {'/300':>5} {'PSS MB':>7} "
          f"{'max 1 MB':>8} {'db KB':>6}")
    for name, source, workers, count, sent, floor_cpu, floor_wall, run, size in rows:
        ratio = run.cpu / floor_cpu
        print(f"{name:<14} {source:>7} {workers:>7} {run.processes:>5} {count:>6} {sent:>5} {floor_cpu:>9.1f} {run.cpu:>8.1f} "
              f"{ratio:>7.2f} {ratio / RATIO_TARGET:>5.2f} {floor_wall:>10.1f} {run.wall:>9.1f} "
              f"{run.wall / floor_wall:>7.2f} {run.cpu / run.wall:>5.2f} {run.tree_rss:>7.0f} {run.tree_rss / RSS_TARGET_MB:>5.2f} "
              f"{run.tree_pss:>7.0f} {run.largest_rss:>8.0f} {size // 1024:>6}")
    print("Targets: x floor <= 2 (/2 <= 1) and RSS <= 300 MB (/300 <= 1).")
    print("Each mailbox's runs from one source stored the same records")
    print(f"(a promise's confidence differed by at most {max(drifts, default=0.0):.1g} between runs).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
