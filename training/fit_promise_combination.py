"""Fit how the re-scorer and the fine-tuned encoder are combined.

Usage::

    .venv/bin/python training/fit_promise_combination.py
        [--calibrate 'tests/data/heldout-cue2-*.jsonl' ...]
        [--evaluate tests/data/heldout-cue3-sent.jsonl ...]
        [--target-precision 0.9] [--out extractors/patterns/promise_combination.json] [--no-write]

The combination is fitted on labelled sentences neither part saw: the
re-scorer was trained on ``promises-*.jsonl`` only, and the encoder's scores
come from cross-fitting (``--fold ADAPTER=ROWS``: each fold's encoder scores
the rows it was not trained on: ``make train-encoder`` the cue2 sentences
by message, ``make train-encoder-writers`` the writers of issue 15, three
folds of writers left out in turn by ``training/train_promise_encoder.py
--leave-out-writers``), or, without
``--fold``, from the given encoder on ``--calibrate`` files it never saw.
For each sentence, the commitment the re-scorer likes best gives
``logit(p_rules)``, and the encoder's raw score of its sentence (clipped)
the second input of a two-input logistic regression (scikit-learn, the
``train`` extra). Rows that carry a ``weight`` (the writers' sentences: how
many sentences of their writer's sent mail each stands for) weigh that much
in the fit and in the counts, so both describe the natural mix of mail, not
the oversampled sentences with a future cue. The threshold is the one with
the best F1 among those whose precision on the calibration rows reaches
``--target-precision`` (0.85; ``make train-encoder-writers``: 0.9, issue
15's target).

Then the extractor itself, with the new file, is run once over the
calibration and ``--evaluate`` files and the figures are printed; the
evaluation files play no part in the fit.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
DEFAULT_CALIBRATE = [str(DATA / "heldout-cue2-*.jsonl")]
DEFAULT_EVALUATE = [str(DATA / "heldout-cue3-sent.jsonl"), str(DATA / "final-check.jsonl")]
DEFAULT_OUT = ROOT / "extractors" / "patterns" / "promise_combination.json"
#: The encoder's raw score is clipped (to +-1.5: probability 0.18 to 0.82)
#: in the combination, so that kept can skip the encoder for commitments the
#: rules already rule out. The smaller the clip the more it skips; +-1.5 is
#: the smallest whose cross-fitted calibration F1 was within 0.005 of +-3's
#: (0.849 against 0.851; +-1: 0.844). On the Enron sent mail it cut the
#: sentences the encoder runs on from 1,404 to 960 (docs/benchmarks.md, "Scanning real mail").
ENCODER_CLIP = 1.5


def _paths(specs: list[str]) -> list[Path]:
    paths: list[Path] = []
    for spec in specs:
        found = sorted(Path(p) for p in glob.glob(spec))
        if not found:
            raise SystemExit(f"{spec}: no such file")
        paths.extend(found)
    return paths


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main(argv: list[str] | None = None) -> int:
    """Fit, write, and print the figures; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrate", action="append")
    parser.add_argument("--evaluate", action="append")
    parser.add_argument("--target-precision", type=float, default=0.85)
    parser.add_argument("--encoder", type=Path, help="adapter file (default: the bundled one)")
    parser.add_argument(
        "--fold", action="append", metavar="ADAPTER=ROWS",
        help="cross-fitted calibration: score the rows of ROWS with ADAPTER (an encoder that never saw them); "
        "replaces --calibrate",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--clip", type=float, default=ENCODER_CLIP, help="clip of the encoder's raw score")
    args = parser.parse_args(argv)

    from kept.extractors.encoder import bundled_adapter
    from kept.extractors.encoder import load_classifier
    from kept.extractors.promise_sentences import _parse_text
    from kept.extractors.promises import (
        PromiseCombination,
        PromiseExtractor,
        candidate_sentences,
        commitment_features,
        file_sha256,
        logit,
    )

    base = PromiseExtractor(encoder=False)
    assert base.scorer is not None

    encoder_file = args.encoder or bundled_adapter()
    # (rows file, the adapter that scores it)
    if args.fold:
        jobs = [(Path(rows), Path(adapter)) for adapter, _, rows in (spec.partition("=") for spec in args.fold)]
    else:
        jobs = [(path, encoder_file) for path in _paths(args.calibrate or DEFAULT_CALIBRATE)]
    calibrate = [path for path, _ in jobs]
    # Scores of sentences an encoder was trained on are overconfident: a
    # combination fitted on them would trust it too much.
    for path, adapter in jobs:
        trained_on = set(load_classifier(adapter).meta.get("training", {}).get("files", []))
        if path.name in trained_on:
            raise SystemExit(
                f"{adapter} was trained on {path.name}: calibrate on sentences it never saw "
                "(--fold ADAPTER=ROWS from train_promise_encoder.py --fold; make train-encoder does this)"
            )

    # scikit-learn is in requirements-train.lock only; the refusal above
    # needs none of it (the test suite runs it without).
    from sklearn.linear_model import LogisticRegression

    # One example per sentence: its best commitment by the re-scorer, as at
    # run time the best commitment speaks for the sentence.
    # A row's "weight" (the writers' rows of train_promise_encoder.py
    # --leave-out-writers: how many sentences of its writer's sent mail it
    # stands for) makes the fit and the threshold those of the natural mix.
    features: list[tuple[float, float]] = []
    labels: list[int] = []
    weights: list[float] = []
    rows_seen = 0
    promises_seen = 0.0
    for path, adapter in jobs:
        encoder = load_classifier(adapter)
        for row in _rows(path):
            rows_seen += 1
            weight = float(row.get("weight", 1.0))
            promises_seen += weight * bool(row["is_promise"])
            best: tuple[float, str] | None = None
            for text in candidate_sentences(row["sentence"]):
                doc = base.nlp(_parse_text(text))
                for commitment in base.matcher.rescorable(doc):
                    probability = base.scorer.probability(commitment_features(commitment))
                    if best is None or probability > best[0]:
                        best = (probability, doc.text)  # the encoder reads the whole candidate
            if best is None:
                continue
            (score,) = encoder.logits([best[1]])
            features.append((logit(best[0]), max(-args.clip, min(args.clip, score))))
            labels.append(int(bool(row["is_promise"])))
            weights.append(weight)
    regression = LogisticRegression(C=1.0).fit(features, labels, sample_weight=weights)
    scorer_weight, encoder_weight = (float(w) for w in regression.coef_[0])
    bias = float(regression.intercept_[0])
    scores = [float(p) for p in regression.predict_proba(features)[:, 1]]
    # promises with no commitment: never found
    missed = promises_seen - sum(w for w, y in zip(weights, labels, strict=True) if y)

    def counts(threshold: float) -> tuple[float, float, float]:
        tp = sum(w for s, y, w in zip(scores, labels, weights, strict=True) if s >= threshold and y)
        fp = sum(w for s, y, w in zip(scores, labels, weights, strict=True) if s >= threshold and not y)
        return tp, fp, promises_seen - tp

    # Weighted (natural-mix) rows reach the precision target at lower
    # thresholds than the cue sentences: the grid reaches down for them only,
    # so `make train-encoder` chooses among the thresholds it always did.
    low = 0.05 if any(w != 1.0 for w in weights) else 0.30
    grid = [round(low + 0.005 * i, 3) for i in range(int((0.99 - low) / 0.005) + 1)]
    # As for the re-scorer alone (train_promise_model.choose_threshold): the
    # best F1 among thresholds whose precision reaches the target. The
    # calibration sentences all carry a future cue, the hard part of mail;
    # on sent mail as a whole precision comes out higher at the same
    # threshold, since sentences without a cue are almost never listed.
    eligible = [t for t in grid if sum(counts(t)[:2]) and _prf(*counts(t))[0] >= args.target_precision]
    threshold = max(eligible, key=lambda t: (_prf(*counts(t))[2], t)) if eligible else grid[-1]
    precision, recall, f1 = _prf(*counts(threshold))
    print(f"calibration: {rows_seen} sentences, {promises_seen:g} promises ({missed:g} without any commitment)"
          + (" (weighted to the natural mix)" if any(w != 1.0 for w in weights) else ""))
    print(f"fit: {scorer_weight:.3f} * logit(p_rules) + {encoder_weight:.3f} * encoder + {bias:.3f}")
    print(f"threshold {threshold}: P={precision:.3f} R={recall:.3f} F1={f1:.3f} on the calibration sentences")
    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        p, r, f = _prf(*counts(t))
        print(f"  at {t}: P={p:.3f} R={r:.3f} F1={f:.3f}")

    combination = PromiseCombination(
        scorer_weight=scorer_weight, encoder_weight=encoder_weight, bias=bias, encoder_clip=args.clip,
        threshold=threshold, scorer_sha256=file_sha256(base.scorer.source), encoder_sha256=file_sha256(encoder_file),
        fit={
            "files": [p.name for p in calibrate], "rows": rows_seen, "promises": round(promises_seen, 2),
            "cross_fitted": bool(args.fold),
            "target_precision": args.target_precision,
            "at_threshold": {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)},
        },
    )  # fmt: skip
    out = args.out
    if args.no_write:
        out = Path("/tmp/promise_combination.json")
    out.write_text(json.dumps(combination.to_json(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out}")

    extractor = PromiseExtractor(encoder=encoder_file, combination=out)
    # The shipped encoder was trained on the calibration sentences when they
    # were cross-fitted, so only the evaluation files say anything here.
    for path in [*([] if args.fold else calibrate), *_paths(args.evaluate or DEFAULT_EVALUATE)]:
        rows = _rows(path)
        items = [(row["sentence"], datetime.fromisoformat(row["sent_at"]) if row.get("sent_at") else None) for row in rows]
        found = [bool(promises) for promises in extractor.extract_many(items)]
        tp = sum(1 for f, row in zip(found, rows, strict=True) if f and row["is_promise"])
        fp = sum(1 for f, row in zip(found, rows, strict=True) if f and not row["is_promise"])
        fn = sum(1 for f, row in zip(found, rows, strict=True) if not f and row["is_promise"])
        p, r, f = _prf(tp, fp, fn)
        role = "calibration" if path in calibrate else "held out"
        print(f"{path.name} ({role}): P={p:.3f} R={r:.3f} F1={f:.3f} (tp={tp} fp={fp} fn={fn})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
