"""The writers' folds and natural-mix weights (issue 15): what the leave-writers-out figures rest on."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from training.writer_folds import natural_weights, parse_fold, writer_folds, writer_of

WRITERS = Path(__file__).resolve().parent / "data" / "writers"


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (WRITERS / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_folds_are_balanced_fixed_and_keep_the_set_aside_writers_out() -> None:
    train = {row["writer"] for row in rows("labels-train.jsonl")}
    aside = {writer_of(row["id"]) for row in rows("labels-aside.jsonl")}
    assert len(train) >= 40 and len(aside) == 10 and not train & aside
    folds = writer_folds(train, 3)
    assert sorted(Counter(folds.values()).values()) == [14, 14, 14]
    # Fixed by the names alone: the order they come in does not matter.
    assert writer_folds(sorted(train, reverse=True), 3) == folds
    # A writer's fold does not depend on the other writers' folds being asked for.
    assert set(folds) == train


def test_every_row_knows_its_writer() -> None:
    for row in rows("labels-train.jsonl"):
        assert writer_of(row["id"]) == row["writer"]
    assert writer_of("writers-aside-gay-r-0031") == "gay-r"
    assert writer_of("writers-mims-thurston-p-0030") == "mims-thurston-p"


def test_natural_weights_give_back_each_writers_pool() -> None:
    train = rows("labels-train.jsonl")
    pools = json.loads((WRITERS / "pools.json").read_text(encoding="utf-8"))
    total: Counter[str] = Counter()
    for row, weight in zip(train, natural_weights(train, pools), strict=True):
        total[row["writer"]] += weight
    for writer, weight in total.items():
        assert weight == pytest.approx(pools[writer]["sentences"])


@pytest.mark.parametrize("spec", ["3/3", "-1/3", "a/3", "1"])
def test_a_bad_fold_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_fold(spec)
    assert parse_fold("2/3") == (2, 3)
