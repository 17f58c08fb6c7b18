"""Header parsing: kept's cached reading against the stdlib's policy.default, side by side.

Usage::

    .venv/bin/python benchmarks/parse_headers.py [--maildir DIR ...]

Parses every message file under the given Maildirs (default: the Enron
mailboxes in /tmp/enron and /tmp/enron-more/enron-more/*/Maildir) with
`kept.extractors.message.parse_message` twice, ``headers="cached"`` (what kept
does) and ``headers="default"`` (``policy.default`` parsing every header at
every read), and checks that the two records of every message are equal;
any difference is printed and the exit code is 1. The CPU time of each way,
alternating per file so both see the same machine, is printed next to the
floor: the stdlib parse with ``policy.default`` plus ``get_body()``.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from kept.extractors.message import parse_message
from kept.models import RawMessage

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def message_files(maildirs: list[Path]) -> list[Path]:
    """Every file in the cur/ and new/ folders under `maildirs`, sorted."""
    return sorted(p for root in maildirs for p in root.rglob("*") if p.is_file() and p.parent.name in ("cur", "new"))


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maildir", action="append", type=Path)
    args = parser.parse_args(argv)
    maildirs = args.maildir or [
        *sorted(Path("/tmp/enron").glob("*/Maildir")),
        *sorted(Path("/tmp/enron-more/enron-more").glob("*/Maildir")),
    ]
    files = message_files(maildirs)
    if not files:
        print("no message files", file=sys.stderr)
        return 1
    seconds = {"cached": 0.0, "default": 0.0, "floor": 0.0}
    differing: list[str] = []
    for number, path in enumerate(files):
        data = path.read_bytes()
        raw = RawMessage(uid=path.name, data=data)
        records = {}
        # Alternate which way goes first, so caches and the machine treat both alike.
        for way in ("cached", "default") if number % 2 else ("default", "cached"):
            started = time.process_time()
            records[way] = parse_message(raw, account="a", role="received", folder="INBOX", now=NOW, headers=way)  # type: ignore[arg-type]
            seconds[way] += time.process_time() - started
        started = time.process_time()
        email.message_from_bytes(data, policy=email.policy.default).get_body()  # type: ignore[attr-defined]
        seconds["floor"] += time.process_time() - started
        if records["cached"] != records["default"]:
            differing.append(str(path))
    count = len(files)
    print(f"{count} messages in {len(maildirs)} Maildirs")
    print(f"{'way':<40} {'CPU s':>7} {'msg/s':>7} {'x floor':>7}")
    for way, label in (
        ("floor", "floor: policy.default parse + get_body()"),
        ("default", "parse_message, headers=default"),
        ("cached", "parse_message, headers=cached (kept)"),
    ):
        print(f"{label:<40} {seconds[way]:>7.1f} {count / seconds[way]:>7.0f} {seconds[way] / seconds['floor']:>7.2f}")
    print(f"records that differ: {len(differing)} of {count}")
    for path in differing[:20]:
        print(f"  {path}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
