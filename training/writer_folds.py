"""Writers of `tests/data/writers/`: which fold each is in, and what each labelled sentence weighs.

Issue 15 scores the promise extractor leave-writers-out: group k-fold by
writer, so that no writer's sentences are both trained on and scored. The
folds are fixed by the writers' names alone (`writer_folds`: ordered by a
hash of the name, then dealt out in turn, so they differ in size by one
writer at most), so that ``train_promise_encoder.py --leave-out-writers K/N``
and ``benchmarks/promise_writers.py`` agree on them without passing lists.

The writers' sentences were drawn in two strata (half among sentences with
a first-person future cue, half uniformly); `natural_weights` gives each
labelled sentence the number of its writer's sent-mail sentences it stands
for, so figures and fits on them describe the natural mix of a writer's
mail, not the oversampled cue sentences.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from training.sample_promise_candidates import FUTURE_CUE

WRITERS_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "writers"
POOLS = WRITERS_DIR / "pools.json"


def writer_of(row_id: str) -> str:
    """``writers-aside-gay-r-0031`` -> ``gay-r``."""
    name = row_id.removeprefix("writers-").removeprefix("aside-")
    return name.rsplit("-", 1)[0]


def writer_folds(writers: Iterable[str], folds: int) -> dict[str, int]:
    """Each writer's fold, 0 to `folds` - 1, balanced by number of writers."""
    if folds < 2:
        raise ValueError(f"need at least 2 folds, not {folds}")
    ordered = sorted(set(writers), key=lambda name: hashlib.sha256(name.encode("utf-8")).hexdigest())
    return {writer: index % folds for index, writer in enumerate(ordered)}


def parse_fold(spec: str) -> tuple[int, int]:
    """``"1/3"`` -> ``(1, 3)``, refusing a fold outside its range."""
    fold_text, _, folds_text = spec.partition("/")
    try:
        fold, folds = int(fold_text), int(folds_text)
    except ValueError:
        raise ValueError(f"{spec!r} is not K/N") from None
    if not 0 <= fold < folds:
        raise ValueError(f"{spec!r}: fold must be from 0 to {folds - 1}")
    return fold, folds


def has_cue(row: dict[str, Any]) -> bool:
    """True if the row's sentence is in its writer's cue pool (the sampler's `FUTURE_CUE`)."""
    return row.get("stratum") == "cue" or bool(FUTURE_CUE.search(row["sentence"]))


def natural_weights(rows: Sequence[dict[str, Any]], pools: dict[str, dict[str, int]] | None = None) -> list[float]:
    """Per row, the number of its writer's pool sentences it stands for.

    The cue draw is uniform among the writer's cue sentences and the
    uniform draw among everything else the cue draw left, so together the
    drawn cue sentences (of either stratum) are a uniform sample of the
    writer's cue sentences, and the drawn others of the rest.
    """
    if pools is None:
        pools = json.loads(POOLS.read_text(encoding="utf-8"))
    drawn: dict[tuple[str, bool], int] = defaultdict(int)
    for row in rows:
        drawn[writer_of(row["id"]), has_cue(row)] += 1
    result = []
    for row in rows:
        writer, cue = writer_of(row["id"]), has_cue(row)
        pool = pools[writer]
        size = pool["cue"] if cue else pool["sentences"] - pool["cue"]
        result.append(size / drawn[writer, cue])
    return result
