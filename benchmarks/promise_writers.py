"""The promise extractor by writer: precision and recall on writers it was never built on.

Scores labelled sentences of `tests/data/writers/` (see its README: sent
mail of 52 enron-more writers, 60 sentences each, half drawn among sentences
with a first-person future cue and half uniformly) and reports, as issue 15
asks:

* precision, recall and F1 on the **natural mix** of each writer's sent-mail
  sentences: every labelled sentence weighs as many sentences of its
  writer's pool as it stands for (`pools.json`: the cue stratum stands for
  the writer's cue sentences, the others the rest), so the
  oversampled cue sentences do not inflate recall or hide false alarms;
* the same on the sample as drawn (the hard part, unweighted);
* a 95% bootstrap interval over writers (writers resampled with
  replacement, 2,000 rounds, seed 15), because sentences of one writer are
  not independent;
* recall per writer, so a writer the model fails is visible;
* the prefilter's recall (labelled promises that reach the model at all)
  and how many misses are that candidate loss rather than the decision.

The shipped model was built without any of these writers, so scoring it
here is already leave-writers-out. A model trained on some of them must be
scored with group k-fold by writer (``--fold ADAPTER ... --combination
FILE``, from ``make train-encoder-writers``), never on writers it saw. The
ten set-aside writers (``labels-aside.jsonl``) were scored at the end of
issue 15's work (docs/promises.md).

Usage::

    .venv/bin/python benchmarks/promise_writers.py [--labels tests/data/writers/labels-train.jsonl]
        [--errors] [--per-writer] [--threshold T] [--fold ADAPTER ... --combination FILE]
"""

from __future__ import annotations

import argparse
import atexit
import json
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.targets import Target, print_against_targets  # noqa: E402
from kept.extractors.promises import PromiseExtractor  # noqa: E402
from training.writer_folds import natural_weights, writer_of  # noqa: E402

WRITERS = ROOT / "tests" / "data" / "writers"
DEFAULT_LABELS = WRITERS / "labels-train.jsonl"
BOOTSTRAP_ROUNDS = 2_000
BOOTSTRAP_SEED = 15

TARGETS = (
    Target("precision (natural mix)", "≥", 0.90, "", "issue 15"),
    Target("recall (natural mix)", "≥", 0.85, "", "issue 15"),
    Target("prefilter recall (natural mix)", "≥", 0.99, "", "issue 15"),
)


@dataclass(frozen=True)
class Scored:
    """One labelled sentence and what the extractor decided.

    :ivar writer: the writer (from the row's id).
    :ivar weight: how many sentences of the writer's pool it stands for.
    :ivar gold: the label.
    :ivar predicted: the extractor found a promise in it.
    """

    id: str
    sentence: str
    writer: str
    weight: float
    gold: bool
    predicted: bool


def prf(items: Sequence[Scored], *, weighted: bool) -> tuple[float, float, float]:
    """Precision, recall and F1 of `items` (weighted by pool share, or as drawn)."""
    tp = fp = fn = 0.0
    for item in items:
        w = item.weight if weighted else 1.0
        if item.predicted and item.gold:
            tp += w
        elif item.predicted:
            fp += w
        elif item.gold:
            fn += w
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def bootstrap(items: Sequence[Scored], *, weighted: bool) -> list[tuple[float, float]]:
    """95% intervals of precision, recall and F1, resampling writers."""
    by_writer: dict[str, list[Scored]] = defaultdict(list)
    for item in items:
        by_writer[item.writer].append(item)
    writers = sorted(by_writer)
    rng = random.Random(BOOTSTRAP_SEED)
    samples: list[tuple[float, float, float]] = []
    for _ in range(BOOTSTRAP_ROUNDS):
        drawn = [item for writer in rng.choices(writers, k=len(writers)) for item in by_writer[writer]]
        samples.append(prf(drawn, weighted=weighted))
    intervals = []
    for index in range(3):
        values = sorted(sample[index] for sample in samples)
        intervals.append((values[int(0.025 * len(values))], values[int(0.975 * len(values)) - 1]))
    return intervals


def score(rows: Sequence[dict], pools: dict[str, dict[str, int]], extractor: PromiseExtractor) -> list[Scored]:
    """Run the extractor on every labelled sentence."""
    items = [(row["sentence"], datetime.fromisoformat(row["sent_at"]) if row.get("sent_at") else None) for row in rows]
    found = list(extractor.extract_many(items))
    return [
        Scored(row["id"], row["sentence"], writer_of(row["id"]), weight, bool(row["is_promise"]), bool(promises))
        for row, weight, promises in zip(rows, natural_weights(rows, pools), found, strict=True)
    ]


def score_by_fold(rows: Sequence[dict], pools: dict[str, dict[str, int]],
                  by_writer: dict[str, PromiseExtractor]) -> list[Scored]:
    """`score`, each writer's rows by its own fold's extractor, in the rows' order."""
    weight_of = dict(zip((row["id"] for row in rows), natural_weights(rows, pools), strict=True))
    result: dict[str, Scored] = {}
    for extractor in {id(e): e for e in by_writer.values()}.values():
        mine = [row for row in rows if by_writer[writer_of(row["id"])] is extractor]
        items = [(row["sentence"], datetime.fromisoformat(row["sent_at"]) if row.get("sent_at") else None) for row in mine]
        for row, promises in zip(mine, extractor.extract_many(items), strict=True):
            result[row["id"]] = Scored(row["id"], row["sentence"], writer_of(row["id"]), weight_of[row["id"]],
                                       bool(row["is_promise"]), bool(promises))
    return [result[row["id"]] for row in rows]


def report(scored: Sequence[Scored], *, per_writer: bool, errors: bool) -> dict[str, float]:
    """Print the figures; return those `TARGETS` names."""
    writers = sorted({item.writer for item in scored})
    promises = sum(item.gold for item in scored)
    print(f"{len(scored)} sentences from {len(writers)} writers, {promises} promises")
    figures: dict[str, float] = {}
    for label, weighted in (("natural mix", True), ("as drawn", False)):
        p, r, f = prf(scored, weighted=weighted)
        (p_lo, p_hi), (r_lo, r_hi), (f_lo, f_hi) = bootstrap(scored, weighted=weighted)
        print(f"  {label:12} P {p:.2f} [{p_lo:.2f}-{p_hi:.2f}]  R {r:.2f} [{r_lo:.2f}-{r_hi:.2f}]  "
              f"F1 {f:.2f} [{f_lo:.2f}-{f_hi:.2f}]  (95% bootstrap over writers)")
        if weighted:
            figures = {"precision (natural mix)": p, "recall (natural mix)": r}
    recalls = []
    for writer in writers:
        mine = [item for item in scored if item.writer == writer]
        gold = sum(item.gold for item in mine)
        hit = sum(item.gold and item.predicted for item in mine)
        false = sum(item.predicted and not item.gold for item in mine)
        recalls.append((hit / gold if gold else None, writer, gold, hit, false))
    print("  recall per writer (lowest first):")
    shown = [entry for entry in sorted(recalls, key=lambda e: (e[0] is None, e[0] or 0.0))]
    for recall, writer, gold, hit, false in shown if per_writer else shown[:10]:
        text = f"{recall:.2f}" if recall is not None else "  - "
        print(f"    {writer:18} {text}  ({hit}/{gold} promises found, {false} false alarms)")
    if errors:
        print("  missed:")
        for item in scored:
            if item.gold and not item.predicted:
                print(f"    {item.id}: {item.sentence}")
        print("  false alarms:")
        for item in scored:
            if item.predicted and not item.gold:
                print(f"    {item.id}: {item.sentence}")
    return figures


def candidate_loss(scored: Sequence[Scored], extractor: PromiseExtractor) -> dict[str, float]:
    """How many labelled promises never become a candidate for the decision.

    A promise with no commitment the re-scorer can score is lost before any
    model sees it, whatever the threshold; the rest of the misses are the
    decision's. Prints the prefilter's recall (natural mix and as drawn)
    and the split of the misses; returns the natural-mix recall.
    """
    from kept.extractors.promise_sentences import _parse_text
    from kept.extractors.promises import candidate_sentences

    def reaches_model(sentence: str) -> bool:
        for text in candidate_sentences(sentence):
            if any(True for _ in extractor.matcher.rescorable(extractor.nlp(_parse_text(text)))):
                return True
        return False

    gold = [item for item in scored if item.gold]
    if not gold:
        print("  prefilter recall: no promises labelled")
        return {}
    lost = [item for item in gold if not reaches_model(item.sentence)]
    lost_ids = {item.id for item in lost}
    missed = [item for item in gold if not item.predicted]
    recall_weighted = 1 - sum(i.weight for i in lost) / sum(i.weight for i in gold)
    print(f"  prefilter recall: {recall_weighted:.3f} natural mix, {1 - len(lost) / len(gold):.3f} as drawn "
          f"({len(lost)} of {len(gold)} promises never reach the model)")
    print(f"  of {len(missed)} missed promises: {sum(i.id in lost_ids for i in missed)} never a candidate, "
          f"{sum(i.id not in lost_ids for i in missed)} decided against")
    for item in lost:
        print(f"    not a candidate: {item.id}: {item.sentence[:150]}")
    return {"prefilter recall (natural mix)": recall_weighted}


def fold_extractors(adapters: Sequence[Path], combination: Path, threshold: float | None) -> dict[str, PromiseExtractor]:
    """Leave-writers-out: for each writer, an extractor whose encoder never saw it.

    Each adapter (``train_promise_encoder.py --leave-out-writers K/N``)
    records the writers it left out. They all run with the weights and
    threshold of one `combination` (fitted on their out-of-fold scores by
    ``fit_promise_combination.py --fold``), re-pointed at each adapter.
    """
    from kept.extractors.encoder import load_classifier
    from kept.extractors.promises import file_sha256

    fitted = json.loads(combination.read_text(encoding="utf-8"))
    by_writer: dict[str, PromiseExtractor] = {}
    for adapter in adapters:
        writers = load_classifier(adapter).meta.get("training", {}).get("left_out_writers")
        if not writers:
            raise SystemExit(f"{adapter} left no writer out (train it with --leave-out-writers K/N)")
        folder = tempfile.mkdtemp(prefix="kept-fold-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        pointed = Path(folder) / "combination.json"
        pointed.write_text(json.dumps({**fitted, "encoder_sha256": file_sha256(adapter)}), encoding="utf-8")
        extractor = PromiseExtractor(encoder=adapter, combination=pointed, threshold=threshold)
        for writer in writers:
            by_writer[writer] = extractor
    return by_writer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, action="append",
                        help=f"labelled sentences (default {DEFAULT_LABELS.relative_to(ROOT)})")
    parser.add_argument("--pools", type=Path, default=WRITERS / "pools.json")
    parser.add_argument("--per-writer", action="store_true", help="every writer's recall, not the ten lowest")
    parser.add_argument("--errors", action="store_true", help="print every miss and false alarm")
    parser.add_argument("--fold", type=Path, action="append", metavar="ADAPTER",
                        help="leave-writers-out: score each writer with the fold adapter that left it out "
                             "(repeatable; needs --combination)")
    parser.add_argument("--combination", type=Path, help="the combination fitted on the folds' out-of-fold scores")
    parser.add_argument("--threshold", type=float, help="override the combination's threshold")
    args = parser.parse_args(argv)
    if args.fold and not args.combination:
        parser.error("--fold needs --combination")
    pools = json.loads(args.pools.read_text(encoding="utf-8"))
    started = time.perf_counter()
    shipped = PromiseExtractor(threshold=args.threshold)
    shipped.extract("I will send it tomorrow.")
    print(f"extractor loaded in {time.perf_counter() - started:.2f} s")
    by_writer = fold_extractors(args.fold, args.combination, args.threshold) if args.fold else {}
    for path in args.labels or [DEFAULT_LABELS]:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        print(f"\n{path.name}" + (" (leave-writers-out: each writer scored by a fold that never saw it)" if by_writer else ""))
        if by_writer:
            unseen = sorted({writer_of(row["id"]) for row in rows} - set(by_writer))
            if unseen:
                raise SystemExit(f"no fold left out {', '.join(unseen)}: every writer must be scored by a fold that never saw it")
            scored = score_by_fold(rows, pools, by_writer)
        else:
            scored = score(rows, pools, shipped)
        figures = report(scored, per_writer=args.per_writer, errors=args.errors)
        figures.update(candidate_loss(scored, shipped))
        print_against_targets(TARGETS, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
