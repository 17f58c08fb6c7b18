"""Parse every message of the Enron dev Maildirs and report speed and problems.

Usage::

    python benchmarks/parse_enron.py [ENRON_DIR] [--samples N] [--seed S]

ENRON_DIR defaults to /tmp/enron and must hold ``*/Maildir`` trees (INBOX at
the top, sent mail in ``.Sent``). When it is missing and the dev archive
``../shared/enron-dev/enron-dev.tar.gz`` exists next to the checkout, it is
unpacked there first. ``--samples N`` prints the cleaned bodies of N random
sent messages, for reading by eye.

The same files are also parsed by the floor of issue 16 (the stdlib
`email` parser with ``policy.default`` and ``get_body()``, nothing else),
and the figures are printed against `TARGETS`.
"""

from __future__ import annotations

import argparse
import collections
import email
import email.policy
import random
import re
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.targets import Target, print_against_targets  # noqa: E402
from kept.extractors.asks import asking_sentences, asks  # noqa: E402
from kept.extractors.message import parse_message  # noqa: E402
from kept.models import RawMessage  # noqa: E402

TARGETS = (
    # Issue 2: every Enron dev message read with no crash.
    Target("messages that raised", "=", 0, "", "issue 2: no crash"),
    # Issue 16: a backfill within 2x the floor; parsing is one part of it, so
    # this is an upper bound for the parser alone.
    Target("parse time / floor", "≤", 2.0, "x", "issue 16: backfill ≤ 2x the floor"),
    # Issue 7 asks for bounded time per message; tests/test_message_fuzz.py
    # holds every generated message to 2 s.
    Target("slowest message", "≤", 2.0, "s", "issue 7, tests/test_message_fuzz.py"),
)

ARCHIVE = Path(__file__).resolve().parent.parent.parent / "shared" / "enron-dev" / "enron-dev.tar.gz"


def ensure_corpus(root: Path) -> None:
    """Unpack the dev archive into `root` if it holds no Maildirs yet."""
    if any(root.glob("*/Maildir")):
        return
    if not ARCHIVE.exists():
        sys.exit(f"no Maildirs under {root} and no archive at {ARCHIVE}")
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(root, filter="data")


def message_files(root: Path):
    """Yield (path, role) for every message file of every Maildir under `root`."""
    for maildir in sorted(root.glob("*/Maildir")):
        for folder in sorted([maildir, *[p for p in maildir.iterdir() if p.name.startswith(".")]]):
            role = "sent" if folder.name.lower().startswith(".sent") else "received"
            for sub in ("cur", "new"):
                directory = folder / sub
                if directory.is_dir():
                    for path in sorted(directory.iterdir()):
                        if path.is_file():
                            yield path, role


def problem_kind(problem: str) -> str:
    """Group problems that differ only in numbers or names."""
    return re.sub(r"\d+", "N", problem.split(" (")[0])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="/tmp/enron", type=Path)
    parser.add_argument("--samples", type=int, default=0, help="print N random cleaned sent bodies")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    ensure_corpus(args.root)
    files = list(message_files(args.root))
    raws = [(path, role, path.read_bytes()) for path, role in files]

    problems: collections.Counter[str] = collections.Counter()
    sent = []
    total_bytes = 0
    raised: list[str] = []
    slowest = (0.0, "")
    started = time.perf_counter()
    for path, role, data in raws:
        t0 = time.perf_counter()
        try:
            record = parse_message(RawMessage(uid=path.name, data=data), account=path.parts[-4], role=role,
                                   folder=path.parent.parent.name)
        except Exception as error:  # counted against the target, and named below
            raised.append(f"{path}: {type(error).__name__}: {error}")
            continue
        elapsed = time.perf_counter() - t0
        if elapsed > slowest[0]:
            slowest = (elapsed, str(path))
        total_bytes += len(data)
        problems.update(problem_kind(p) for p in record.problems)
        if role == "sent":
            sent.append(record)
    seconds = time.perf_counter() - started

    started = time.perf_counter()
    for _path, _role, data in raws:
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        parsed.get_body()
    floor_seconds = time.perf_counter() - started

    print(f"messages: {len(raws)} ({len(sent)} sent), {total_bytes / 1e6:.1f} MB")
    print(f"time: {seconds:.2f} s, {len(raws) / seconds:.0f} messages/s; slowest {slowest[0] * 1000:.1f} ms ({slowest[1]})")
    print(f"floor (stdlib parse + get_body): {floor_seconds:.2f} s, {len(raws) / floor_seconds:.0f} messages/s")
    for line in raised:
        print(f"raised: {line}")
    print(f"empty fresh text in sent mail: {sum(1 for r in sent if not r.body_text)}")
    print(f"sent mail that asks: {sum(1 for r in sent if asks(r.body_text))}")
    print("problems by kind:")
    for kind, count in problems.most_common():
        print(f"  {count:6d}  {kind}")
    if args.samples:
        rng = random.Random(args.seed)
        for record in rng.sample(sent, min(args.samples, len(sent))):
            print("=" * 72)
            print(f"{record.message_id}  {record.subject!r}  asks={asks(record.body_text)}  files={record.attachment_names}")
            print("-" * 72)
            print(record.body_text)
            for sentence in asking_sentences(record.body_text):
                print(f"  [asks] {sentence}")
    print_against_targets(TARGETS, {
        "messages that raised": len(raised),
        "parse time / floor": seconds / floor_seconds,
        "slowest message": slowest[0],
    }, title="Against the targets:")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
