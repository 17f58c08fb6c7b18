"""Backfill of real Enron Maildirs by `kept scan`, against the floor, side by side.

For each mailbox, in one run:

* the **floor**: read every message file of the inbox and sent folders and
  parse it with the stdlib (``email.message_from_bytes`` with
  ``policy.default``, then ``get_body()``), timed in this process;
* the **backfill**: ``kept --config FILE scan`` in a process of its own, from
  an empty database, model load included (the encoder's graph is built
  beforehand, as a user's first ``kept check`` does), with its CPU time and
  peak RSS from the operating system.

Printed: the ratio backfill / floor (target <= 2) by CPU time, which a
neighbour's load on a shared machine does not move, and by wall time; and
peak RSS (target <= 300 MB). Usage::

    .venv/bin/python benchmarks/scan_enron.py [--enron DIR] [--mailbox allen-p ...]
        [--enron-more DIR --writer arnold-j ...]

``--enron`` is the folder holding allen-p/, beck-s/, nemec-g/ (default
/tmp/enron, else ../shared/enron-dev unpacked to a temporary folder).
"""

from __future__ import annotations

import argparse
import collections
import email
import email.policy
import os
import subprocess
import sys
import tarfile
import tempfile
import time
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


def backfill(config: Path) -> tuple[float, float, float, int]:
    """CPU s, wall s, peak RSS MB and exit code of ``kept scan`` with `config`."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "kept.cli", "--config", str(config), "scan"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/",
    )  # fmt: skip
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if process.stderr is not None:
        process.stderr.close()
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


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
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="kept-bench-"))
    work.chmod(0o700)
    enron = args.enron or (Path("/tmp/enron") if Path("/tmp/enron/allen-p").is_dir() else unpack(work / "enron"))
    mailboxes = [(name, enron / name / "Maildir") for name in (args.mailbox or MAILBOXES)]
    mailboxes += [(name, args.enron_more / name / "Maildir") for name in args.writer]

    # The encoder's graph, built once as a user's first kept check does.
    subprocess.run(
        [sys.executable, "-c", "from kept.extractors.encoder import load_classifier; load_classifier()"], check=True
    )
    rows = []
    for name, maildir in mailboxes:
        paths = files_of(maildir) + files_of(maildir / ".Sent")
        floor_cpu, floor_wall = floor(paths)
        config = write_config(work, name, maildir, owner_address(maildir))
        cpu, wall, rss, code = backfill(config)
        if code != 0:
            print(f"{name}: kept scan exited {code}", file=sys.stderr)
            return 1
        size = (work / f"{name}.json").stat().st_size
        sent = len(files_of(maildir / ".Sent"))
        rows.append((name, len(paths), sent, floor_cpu, cpu, floor_wall, wall, rss, size))
    print("kept scan from an empty database (model load included) against the floor (read + parse + get_body)")
    print(f"{'mailbox':<14} {'files':>6} {'sent':>5} {'floor CPU':>9} {'scan CPU':>8} {'x floor':>7} {'/2':>5} "
          f"{'floor wall':>10} {'scan wall':>9} {'x floor':>7} {'RSS MB':>7} {'/300':>5} {'db KB':>6}")
    for name, count, sent, floor_cpu, cpu, floor_wall, wall, rss, size in rows:
        ratio = cpu / floor_cpu
        print(f"{name:<14} {count:>6} {sent:>5} {floor_cpu:>9.1f} {cpu:>8.1f} {ratio:>7.2f} {ratio / RATIO_TARGET:>5.2f} "
              f"{floor_wall:>10.1f} {wall:>9.1f} {wall / floor_wall:>7.2f} {rss:>7.0f} {rss / RSS_TARGET_MB:>5.2f} "
              f"{size // 1024:>6}")
    print("Targets: x floor <= 2 (/2 <= 1) and RSS <= 300 MB (/300 <= 1).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
