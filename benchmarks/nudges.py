"""Run the relationship-nudge detectors over the Enron dev mailboxes and print what they raise.

Each mailbox is scanned into a temporary TinyDB with the real Scanner (and
the real promise extractor, as `kept scan` would), then the nudges are
listed at a `now` one day after the mailbox's last message: introductions to
follow up, leads to thank for or report back on, and contacts to get back in
touch with (without the digest's item limit). Prints the counts per mailbox
and a random sample of 20 items (fixed seed) for a person to judge::

    .venv/bin/python benchmarks/nudges.py [--enron DIR] [--mailbox allen-p] [--sample 20]

Needs ../shared/enron-dev (unpacked to a temporary folder when --enron is
not given).

Issue 5 asks for few, correct items and sets no number: correctness is
judged by a person on the printed sample. `TARGETS` holds what has a number.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import timedelta
from zoneinfo import ZoneInfo
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scan_enron import MAILBOXES, owner_address, unpack  # noqa: E402
from benchmarks.targets import Target, print_against_targets  # noqa: E402
from kept.daemon.scan import Scanner  # noqa: E402
from kept.digest.nudges import build_nudge_sections  # noqa: E402
from kept.extractors.introductions import introduction_follow_ups  # noqa: E402
from kept.extractors.leads import lead_nudges  # noqa: E402
from kept.extractors.promises import PromiseExtractor  # noqa: E402
from kept.extractors.rhythm import contact_histories, keep_in_touch  # noqa: E402
from kept.settings import MaildirAccount, Settings  # noqa: E402
from kept.storage.tinydb_store import TinyDBStore  # noqa: E402

TARGETS = (
    # Issue 2 (and 5, which runs the detectors over the same mailboxes): no crash.
    Target("accounts that failed", "=", 0, "", "issue 2: every Enron dev mailbox scans"),
    # Issue 14: a first digest holds at most 20 numbered items, all sections
    # together; the nudges of the busiest mailbox's digest are part of that.
    Target("most nudges in one digest", "≤", 20, "", "issue 14: first digest ≤ 20 items in all"),
)


def nudges_for(store: TinyDBStore, settings: Settings) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """Every nudge raised one day after the newest message, as lines, plus counts."""
    threads = list(store.threads())
    newest = max(m.date for t in threads for m in t.messages)
    now = newest + timedelta(days=1)
    today = now.date()
    histories = contact_histories(threads, settings.addresses)
    lines: list[str] = []
    intros = list(store.introductions())
    leads = list(store.leads())
    due_intros = introduction_follow_ups(intros, histories, now, today, settings.nudges.introductions)
    due_leads = lead_nudges(leads, histories, now, today, settings.nudges.thanks)
    touch = keep_in_touch(histories, now, settings.nudges.keep_in_touch)
    # What was detected over the whole history, not only what is due at the end:
    # that is what a person judges the detectors by.
    for intro in intros:
        lines.append(f"intro   {intro.made_at:%Y-%m-%d} {', '.join(intro.people)} | {intro.sentence[:160]}")
    for lead in leads:
        lines.append(f"lead    {lead.received_at:%Y-%m-%d} from {lead.from_email} about {lead.about or '-'} | "
                     f"{lead.sentence[:160]}")
    for item in touch:
        lines.append(f"touch   {item.email}: silent {item.silent_days} d, rhythm {item.rhythm_days:.1f} d, "
                     f"{item.two_way_exchanges} two-way exchanges")
    # What the digest of that day lists, with its caps (keep in touch: max_items).
    sections = build_nudge_sections(store, threads, settings, now, today, ZoneInfo(settings.timezone), frozenset(),
                                    lambda k, i: 0)
    in_digest = len(sections.introductions) + len(sections.leads) + len(sections.keep_in_touch)
    counts = {"intros found": len(intros), "leads found": len(leads)}
    due = {"intros due": len(due_intros), "leads due": len(due_leads), "keep in touch": len(touch),
           "in digest": in_digest}
    return lines, counts, due


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enron", type=Path, help="folder holding allen-p/, beck-s/, nemec-g/")
    parser.add_argument("--mailbox", action="append", choices=MAILBOXES)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="kept-nudges-"))
    enron = args.enron or unpack(work / "enron")
    extractor = PromiseExtractor()
    all_lines: list[str] = []
    table = []
    failed = 0
    for name in args.mailbox or MAILBOXES:
        maildir = enron / name / "Maildir"
        me = owner_address(maildir)
        settings = Settings(
            path=work / "config.toml", addresses=(me,), database=work / f"{name}.json",
            timezone="America/Chicago",
            accounts=(MaildirAccount(name=name, path=maildir, inbox="", sent=".Sent"),),
        )
        store = TinyDBStore(settings.database)
        started = time.perf_counter()
        [result] = Scanner(settings, store, extractor_factory=lambda: extractor).scan_all()
        seconds = time.perf_counter() - started
        if result.error is not None:
            print(f"{name}: the scan failed: {result.error}")
            failed += 1
            store.close()
            continue
        lines, counts, due = nudges_for(store, settings)
        store.close()
        table.append((name, result.messages, seconds, counts, due))
        all_lines += [f"{name:<8} {line}" for line in lines]
    print(f"{'mailbox':<9} {'messages':>8} {'scan s':>7} {'intros':>7} {'leads':>6} "
          f"{'intros due':>10} {'leads due':>9} {'keep in touch':>13} {'in digest':>9}")
    for name, messages, seconds, counts, due in table:
        print(f"{name:<9} {messages:>8} {seconds:>7.1f} {counts['intros found']:>7} {counts['leads found']:>6} "
              f"{due['intros due']:>10} {due['leads due']:>9} {due['keep in touch']:>13} {due['in digest']:>9}")
    sample = random.Random(args.seed).sample(all_lines, min(args.sample, len(all_lines)))
    print(f"\nSample of {len(sample)} of {len(all_lines)} items (seed {args.seed}):")
    for line in sorted(sample):
        print("  " + line)
    measured = {"accounts that failed": failed}
    if table:
        measured["most nudges in one digest"] = max(due["in digest"] for *_, due in table)
    print_against_targets(TARGETS, measured, title="Against the targets:")
    return 0


if __name__ == "__main__":
    sys.exit(main())
