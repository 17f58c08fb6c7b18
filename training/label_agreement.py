"""How well two people agree on what is a promise, next to how well kept agrees with them.

Usage::

    .venv/bin/python training/label_agreement.py [--no-model]

``tests/data/agreement/second-labeller-*.jsonl`` hold a second, independent
labelling of 900 sentences that were labelled before (all of
``promises-test.jsonl`` and ``promises-sent-more.jsonl``, and 300 sentences
drawn at random from ``heldout-cue2-*.jsonl``), and of 200 sentences drawn at
random from ``counterfactual-pairs.jsonl`` (promise or not, no kinds). The second labellers used the
same guidelines (``tests/data/README-promises-dev.md``), read the message
around a sentence when it was unclear, and never saw the first labels or the
extractor.

For each file it prints the raw agreement, Cohen's kappa, the second
labeller's precision and recall measured against the first (the score a
perfect copy of the second person would get), kind agreement on sentences
both call a promise, and, unless ``--no-model``, the shipped extractor's
precision and recall against each labeller on the same sentences. The gap
between the two lines is what the extractor leaves on the table; the first
line is the ceiling any measurement against one person's labels can show.
Sentences the shipped re-scorer or encoder was trained on are marked
``(trained on)``: its figures there flatter it.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def read_rows(path: Path) -> dict[str, dict[str, Any]]:
    """The rows of a JSONL file by id."""
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return {row["id"]: row for row in rows}


def first_labels() -> dict[str, dict[str, Any]]:
    """Every first-labeller row of tests/data by id."""
    rows: dict[str, dict[str, Any]] = {}
    for name in sorted(glob.glob(str(DATA / "*.jsonl"))):
        for key, row in read_rows(Path(name)).items():
            rows[key] = {**row, "_file": Path(name).name}
    return rows


def confusion(reference: Iterable[bool], other: Iterable[bool]) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) of `other` measured against `reference`."""
    tp = fp = fn = tn = 0
    for truth, said in zip(reference, other, strict=True):
        tp += truth and said
        fp += said and not truth
        fn += truth and not said
        tn += not truth and not said
    return tp, fp, fn, tn


def kappa(tp: int, fp: int, fn: int, tn: int) -> float:
    """Cohen's kappa of two binary labellings from their confusion counts."""
    n = tp + fp + fn + tn
    observed = (tp + tn) / n
    expected = ((tp + fn) / n) * ((tp + fp) / n) + ((fp + tn) / n) * ((fn + tn) / n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def precision_recall(tp: int, fp: int, fn: int) -> str:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return f"P={precision:.3f} R={recall:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-model", action="store_true", help="only the agreement between people")
    args = parser.parse_args(argv)

    first = first_labels()
    extractor = None
    if not args.no_model:
        from kept.extractors.promises import PromiseExtractor

        extractor = PromiseExtractor()
        trained_files = set(extractor.scorer.training.get("files", {})) if extractor.scorer else set()
        if extractor.encoder is not None:
            trained_files |= set(extractor.encoder.meta.get("training", {}).get("files", []))
    pooled_people = [0, 0, 0, 0]
    pooled_model = {"first": [0, 0, 0, 0], "second": [0, 0, 0, 0]}
    for path in sorted((DATA / "agreement").glob("second-labeller-*.jsonl")):
        second = read_rows(path)
        ids = list(second)
        a = [bool(first[i]["is_promise"]) for i in ids]
        b = [bool(second[i]["is_promise"]) for i in ids]
        counts = confusion(a, b)
        # Pooled figures are about real mail; the edited sentences are reported on their own.
        real_mail = "counterfactual" not in path.name
        if real_mail:
            pooled_people = [x + y for x, y in zip(pooled_people, counts, strict=True)]
        tp, fp, fn, tn = counts
        both = [i for i in ids if first[i]["is_promise"] and second[i]["is_promise"]]
        same_kind = sum(first[i]["kind"] == second[i]["kind"] for i in both)
        # The counterfactual check labelled promise or not, without kinds.
        kinds = f", kind agreement {same_kind}/{len(both)}" if any(second[i]["kind"] for i in ids) else ""
        print(f"== {path.name}: {len(ids)} sentences, first {tp + fn} promises, second {tp + fp}")
        print(
            f"  people: agree {(tp + tn) / len(ids):.3f}, kappa {kappa(*counts):.3f}, "
            f"second vs first {precision_recall(tp, fp, fn)}{kinds}"
        )
        if extractor is None:
            continue
        trained = sum(1 for i in ids if first[i]["_file"] in trained_files)
        note = f" ({trained} of {len(ids)} trained on)" if trained else " (held out)"
        said = []
        for i in ids:
            row = first[i]
            sent_at = datetime.fromisoformat(row["sent_at"]) if row.get("sent_at") else None
            said.append(bool(extractor.extract(row["sentence"], sent_at)))
        for name, truth in (("first", a), ("second", b)):
            model_counts = confusion(truth, said)
            if real_mail:
                pooled_model[name] = [x + y for x, y in zip(pooled_model[name], model_counts, strict=True)]
            print(f"  kept vs {name:6s} {precision_recall(*model_counts[:3])}{note}")
    tp, fp, fn, _ = pooled_people
    print(f"== pooled over real mail: people kappa {kappa(*pooled_people):.3f}, second vs first {precision_recall(tp, fp, fn)}")
    if extractor is not None:
        for name, model_counts in pooled_model.items():
            print(f"  kept vs {name:6s} {precision_recall(*model_counts[:3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
