"""How benchmarks/digest_quality.py counts labels: a label of an earlier answer of kept's, or a null, counts for nothing."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.digest_quality import merge_labels, read_labels, score, write_relabel


def promise_packet(key: str, due: str = "2001-03-15", status: str = "open", evidence: str | None = None) -> dict:
    return {"key": key, "type": "promise", "origin": "digest",
            "kept_says": {"due": due, "due_is_default": False, "status": status, "evidence": evidence}}


def write_rows(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def test_labels_of_an_earlier_answer_are_left_out_and_written_to_relabel(tmp_path: Path) -> None:
    labels_dir = tmp_path / "labels"
    labels_dir.mkdir()
    packets = [promise_packet("a"), promise_packet("b"), {"key": "w", "type": "waiting_on_me", "origin": "digest"}]
    labelled = tmp_path / "labelled.jsonl"
    write_rows(labelled, [
        {"key": "a", "labels": {"is_promise": True, "due_right": False, "kept_right": None, "delivered": True}},
        {"key": "b", "labels": {"is_promise": True, "due_right": True, "kept_right": None, "delivered": False}},
        {"key": "w", "labels": {"waiting": None}, "note": "cannot tell"},
    ])
    merge_labels(packets, labelled, labels_dir / "round.jsonl")
    assert all("seen" in json.loads(line) for line in (labels_dir / "round.jsonl").read_text().splitlines()[:2])
    labels = read_labels(labels_dir)
    assert score(packets, labels)["due date right"] == (1, 2)

    # kept now says another day for "a", and "b" was kept: their judged labels no longer count.
    later = [promise_packet("a", due="2001-03-16"), promise_packet("b", status="kept", evidence="forward in <x>"),
             packets[2]]
    tally = score(later, labels)
    assert tally["due date right"] == (1, 1)  # only b's day is still the one judged
    assert tally["open but delivered (at most)"] == (1, 1)  # a is still open: its verdict label holds
    assert "kept status right" not in tally  # b's status was never judged
    assert tally["promise precision"] == (2, 2) and tally["stale"] == (2, 2)
    assert tally["cannot tell"] == (1, 1) and "waiting on you" not in tally

    relabel = tmp_path / "relabel.jsonl"
    write_relabel(relabel, later, labels)
    assert [json.loads(line)["key"] for line in relabel.read_text().splitlines()] == ["a", "b", "w"]
