"""Join the two blind labellings of the writers' sentences into one labelled set.

Each batch of ``tests/data/writers/candidates-*.jsonl`` (about 100
sentences) is labelled by two helper sessions, A and B, that see only the
guidelines and the batch (see ``tests/data/writers/README.md``). This script
reads their label files (``BATCH.A.jsonl`` and ``BATCH.B.jsonl`` in
``--labels``) and, optionally, a third person's decisions on the sentences
they disagreed on (``BATCH.C.jsonl``), and writes:

* ``labels-aside.jsonl`` and ``labels-train.jsonl`` beside the candidates:
  one row per sentence both labellers labelled, with the candidate's fields,
  ``writer``, the final ``is_promise``, ``kind`` and ``due``, and
  ``labellers`` (A's and B's labels, and C's where there was one). A row
  whose labellers disagree on ``is_promise`` and has no decision from C is
  left out, and listed;
* ``disagreements.jsonl`` in ``--labels``: the sentences still to decide,
  for a third labeller (id, sentence, sent_at only).

When A and B agree that a sentence is a promise but not on its kind or due
date, A's is kept and the difference counted. It prints Cohen's kappa on
``is_promise`` per set.

Usage::

    .venv/bin/python training/merge_writer_labels.py --labels /work/labels15/out
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WRITERS = ROOT / "tests" / "data" / "writers"
sys.path.insert(0, str(ROOT))

from training.label_agreement import confusion, kappa  # noqa: E402

LABEL_FIELDS = ("is_promise", "kind", "due")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file; a missing file has none."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def writer_of(row_id: str) -> str:
    """``writers-aside-gay-r-0031`` -> ``gay-r``."""
    return row_id.removeprefix("writers-").removeprefix("aside-").rsplit("-", 1)[0]


def labels_by_id(folder: Path, letter: str) -> dict[str, dict[str, Any]]:
    """Every label of labeller `letter` in `folder`, by sentence id (the last line wins)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob(f"*.{letter}.jsonl")):
        for row in read_jsonl(path):
            found[row["id"]] = {name: row.get(name) for name in LABEL_FIELDS}
    return found


def merge(candidates: list[dict[str, Any]], a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]],
          c: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]]:
    """(labelled rows, sentences to decide, counts) for one candidate file."""
    rows: list[dict[str, Any]] = []
    undecided: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for candidate in candidates:
        first, second = a.get(candidate["id"]), b.get(candidate["id"])
        if first is None or second is None:
            counts["not yet labelled twice"] += 1
            continue
        labellers = {"A": first, "B": second}
        if bool(first["is_promise"]) == bool(second["is_promise"]):
            final = first
            counts["agreed"] += 1
            if first["is_promise"] and (first["kind"], first["due"]) != (second["kind"], second["due"]):
                counts["agreed promise, kind or due differ"] += 1
        elif candidate["id"] in c:
            final = c[candidate["id"]]
            labellers["C"] = final
            counts["decided by C"] += 1
        else:
            undecided.append({key: candidate[key] for key in ("id", "sentence", "sent_at")})
            counts["disagreed, undecided"] += 1
            continue
        rows.append({
            **candidate,
            "writer": writer_of(candidate["id"]),
            "is_promise": bool(final["is_promise"]),
            "kind": final["kind"] if final["is_promise"] else None,
            "due": final["due"] if final["is_promise"] else None,
            "labellers": labellers,
        })
    return rows, undecided, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, required=True, help="folder of BATCH.A/B/C.jsonl label files")
    parser.add_argument("--out", type=Path, default=WRITERS)
    args = parser.parse_args(argv)
    a, b, c = (labels_by_id(args.labels, letter) for letter in "ABC")
    undecided_all: list[dict[str, Any]] = []
    for name in ("aside", "train"):
        candidates = read_jsonl(WRITERS / f"candidates-{name}.jsonl")
        rows, undecided, counts = merge(candidates, a, b, c)
        undecided_all += undecided
        both = [row["id"] for row in candidates if row["id"] in a and row["id"] in b]
        tp, fp, fn, tn = confusion((bool(a[i]["is_promise"]) for i in both), (bool(b[i]["is_promise"]) for i in both))
        path = args.out / f"labels-{name}.jsonl"
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
        print(f"{name}: {len(rows)} labelled rows ({sum(r['is_promise'] for r in rows)} promises) -> {path}")
        print(f"  {dict(counts)}")
        if both:
            print(f"  A and B on is_promise: {len(both)} sentences, agreement {(tp + tn) / len(both):.3f}, "
                  f"kappa {kappa(tp, fp, fn, tn):.3f}")
    out = args.labels / "disagreements.jsonl"
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in undecided_all), encoding="utf-8")
    print(f"{len(undecided_all)} sentences to decide -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
