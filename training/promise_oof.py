"""Out-of-fold error analysis of the promise re-scorer.

Usage::

    .venv/bin/python training/promise_oof.py [C] [--out /tmp/oof.json]

Every labelled file (``tests/data/promises-*.jsonl``) goes through the
extractor's candidate generation; a 5-fold CV (seed 7) scores each sentence
with a model that never saw it, Platt-calibrated on the pooled out-of-fold
scores, with the probability floors measured on each training fold. Prints
P/R/F1 by threshold for all rows, the sent-mail files, the four files the
rules were not tuned on (``new4``) and the test file, then the threshold
`train_promise_model.choose_threshold` picks on ``new4``; writes
``[file, sentence, label, probability, case]`` rows to ``--out`` for reading
the errors.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import sys
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_promise_model as T  # noqa: E402

from kept.extractors.promises import PromiseExtractor  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GROUPS = {
    "all": lambda e: True,
    "sent": lambda e: "inbox" not in e.file,
    "new4": lambda e: e.file not in T.TUNED_FILES,
    "test": lambda e: e.file == "promises-test.jsonl",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("C", type=float, nargs="?", default=1.0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/oof.json"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-floors", dest="floors", action="store_false", help="ignore the probability floors")
    args = parser.parse_args(argv)
    paths = sorted(Path(p) for p in glob.glob(str(ROOT / "tests/data/promises-*.jsonl")))
    examples = T.load_examples(paths, PromiseExtractor(scorer=False))
    labels = [e.label for e in examples]
    scores: list[float | None] = [None] * len(examples)
    floors: list[dict[str, float]] = [{}] * len(examples)
    folds = StratifiedKFold(n_splits=T.FOLDS, shuffle=True, random_state=args.seed)
    for train_index, test_index in folds.split(np.zeros(len(labels)), [int(y) for y in labels]):
        training = [examples[i] for i in train_index]
        model = T.fit(training, args.C, args.seed)
        floor = T.floors_of(training)
        for i in test_index:
            scores[i] = T.raw_score(model, examples[i])
            floors[i] = floor
    scale, offset = T.platt(scores, labels)
    probs = []
    for example, score, floor in zip(examples, scores, floors, strict=True):
        p = 0.0 if score is None else 1 / (1 + math.exp(-max(-60, min(60, scale * score + offset))))
        probs.append(T.apply_floors(p, example, floor) if args.floors else p)
    for t in (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        line = [f"t={t:.2f}"]
        for name, member in GROUPS.items():
            tp = sum(1 for e, p in zip(examples, probs, strict=True) if member(e) and p >= t and e.label)
            fp = sum(1 for e, p in zip(examples, probs, strict=True) if member(e) and p >= t and not e.label)
            fn = sum(1 for e, p in zip(examples, probs, strict=True) if member(e) and p < t and e.label)
            precision, recall, f1 = T.prf(tp, fp, fn)
            line.append(f"{name}: P={precision:.3f} R={recall:.3f} F1={f1:.3f}")
        print(" | ".join(line))
    fresh = [GROUPS["new4"](e) for e in examples]
    chosen = T.choose_threshold(probs, labels, fresh, 0.85)
    tp = sum(1 for p, y, f in zip(probs, labels, fresh, strict=True) if f and p >= chosen and y)
    fp = sum(1 for p, y, f in zip(probs, labels, fresh, strict=True) if f and p >= chosen and not y)
    fn = sum(1 for p, y, f in zip(probs, labels, fresh, strict=True) if f and p < chosen and y)
    precision, recall, f1 = T.prf(tp, fp, fn)
    print(f"chosen on new4: t={chosen:.3f} P={precision:.3f} R={recall:.3f} F1={f1:.3f}")
    rows = [[e.file, e.row["sentence"], e.label, p, e.row.get("case")] for e, p in zip(examples, probs, strict=True)]
    args.out.write_text(json.dumps(rows), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
