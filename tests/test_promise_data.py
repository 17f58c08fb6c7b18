"""The hand-labelled promise sets in tests/data: well-formed, and the
evaluation sets never leak into training data.

The benchmark figures in docs/promises.md are only as good as this: a sentence of
``final-check.jsonl`` or ``heldout-cue3-sent.jsonl`` that is also in a file
the re-scorer or the encoder trains on would make them look better than
kept is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parent / "data"
EVALUATION_SETS = ("final-check.jsonl", "heldout-cue3-sent.jsonl")
KINDS = {"deliver", "call-or-meet", "follow-up", "introduce", "other"}


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _normalised(sentence: str) -> str:
    return re.sub(r"\s+", " ", sentence).strip().lower()


LABELLED = sorted(DATA.glob("*.jsonl"))


def test_the_labelled_sets_are_there() -> None:
    names = {path.name for path in LABELLED}
    assert {*EVALUATION_SETS, "promises-dev.jsonl", "counterfactual-pairs.jsonl"} <= names


@pytest.mark.parametrize("path", LABELLED, ids=lambda path: path.name)
def test_rows_are_well_formed(path: Path) -> None:
    for row in _rows(path):
        where = f"{path.name} {row.get('id')}"
        assert isinstance(row["id"], str) and row["sentence"].strip(), where
        assert isinstance(row["is_promise"], bool), where
        if row["is_promise"]:
            assert row["kind"] in KINDS, where
        else:
            assert row["kind"] is None and row["due"] is None, where
        if row["due"] is not None:
            assert re.fullmatch(r"\d{4}-\d\d-\d\d", row["due"]), where


def test_ids_are_unique_across_every_set() -> None:
    seen: dict[str, str] = {}
    for path in LABELLED:
        for row in _rows(path):
            assert row["id"] not in seen, f"{row['id']} in {path.name} and {seen.get(row['id'])}"
            seen[row["id"]] = path.name


def test_no_evaluation_sentence_is_in_training_data() -> None:
    evaluation = {_normalised(row["sentence"]) for name in EVALUATION_SETS for row in _rows(DATA / name)}
    for path in LABELLED:
        if path.name in EVALUATION_SETS:
            continue
        leaked = [row["id"] for row in _rows(path) if _normalised(row["sentence"]) in evaluation]
        assert not leaked, f"{path.name} repeats evaluation sentences: {leaked[:5]}"


def test_counterfactuals_flip_a_training_sentence() -> None:
    training = {
        row["id"]: row
        for path in LABELLED
        if path.name not in EVALUATION_SETS and not path.name.startswith("counterfactual-")
        for row in _rows(path)
    }
    pairs = _rows(DATA / "counterfactual-pairs.jsonl")
    assert len(pairs) > 1000
    for row in pairs:
        original = training.get(row["of"])
        assert original is not None, f"{row['id']}: {row['of']} is not a training sentence"
        assert row["is_promise"] is not original["is_promise"], row["id"]
        assert _normalised(row["sentence"]) != _normalised(original["sentence"]), row["id"]
    # Both directions, so the edits teach the boundary rather than one side.
    flips = {row["is_promise"] for row in pairs}
    assert flips == {True, False}


def test_cross_fitting_leaves_out_a_fold_and_its_counterfactuals() -> None:
    from training.train_promise_encoder import DEFAULT_CALIBRATION, DEFAULT_TRAIN, _rows, fold_of, split_fold

    rows = _rows(DEFAULT_TRAIN)
    calibration = _rows(DEFAULT_CALIBRATION)
    train, left_out = split_fold(rows, calibration, 0, 2)
    other_train, other_left_out = split_fold(rows, calibration, 1, 2)
    # Every calibration sentence is left out by exactly one fold...
    assert sorted(row["id"] for row in left_out + other_left_out) == sorted(row["id"] for row in calibration)
    assert all(fold_of(row, 2) == 0 for row in left_out)
    # ...and neither it nor an edit of it is trained on in that fold.
    held = {row["id"] for row in left_out}
    assert not any(row["id"] in held or row.get("of") in held for row in train)
    edits_of_held = [row for row in rows if row.get("of") in held]
    assert edits_of_held and len(train) == len(rows) - len(left_out) - len(edits_of_held)
    assert {row["id"] for row in other_left_out} <= {row["id"] for row in train}
