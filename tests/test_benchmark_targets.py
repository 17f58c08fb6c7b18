"""Benchmarks print each figure against its target (issue 19), and say so honestly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from benchmarks.targets import Target, print_against_targets, verdicts

ROOT = Path(__file__).resolve().parent.parent

#: Benchmarks that declare `TARGETS` and print against them.
WITH_TARGETS = ["store_bench.py", "promises.py", "parse_enron.py", "nudges.py", "fuzz_parser.py"]


def test_a_figure_is_met_not_met_or_not_measured(capsys: pytest.CaptureFixture[str]) -> None:
    targets = [
        Target("open", "<", 1.5, "s", "issue 16"),
        Target("recall", "≥", 0.85, "", "issue 15"),
        Target("crashes", "=", 0, "", "issue 7"),
    ]
    assert [v for _, _, v in verdicts(targets, {"open": 0.4, "recall": 0.84, "crashes": 0})] == [
        "met", "NOT MET", "met",
    ]
    assert [v for _, _, v in verdicts(targets, {"open": 1.5, "recall": 0.85})] == ["NOT MET", "met", "not measured"]
    assert print_against_targets(targets, {"open": 0.4, "recall": 0.9, "crashes": 0}) is True
    # A figure the run did not measure is never counted as met.
    assert print_against_targets(targets, {"open": 0.4, "recall": 0.9}) is False
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("crashes") and "not measured" in line and "issue 7" in line for line in lines)
    assert any(line.startswith("open") and "0.4 s" in line and "< 1.5 s" in line for line in lines)


def test_a_target_needs_a_known_relation() -> None:
    with pytest.raises(ValueError, match="relation"):
        Target("open", "<<", 1.5, "s", "issue 16")


@pytest.mark.parametrize("name", WITH_TARGETS)
def test_the_benchmark_prints_its_targets_with_their_sources(name: str) -> None:
    tree = ast.parse((ROOT / "benchmarks" / name).read_text(encoding="utf-8"))
    assigned = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) for t in node.targets
                if isinstance(t, ast.Name)}
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "TARGETS" in assigned and "print_against_targets" in called
    sources = [node.args[4].value for node in ast.walk(tree) if isinstance(node, ast.Call)
               and isinstance(node.func, ast.Name) and node.func.id == "Target" and len(node.args) == 5
               and isinstance(node.args[4], ast.Constant)]
    assert sources and all("issue" in str(source) or "tests/" in str(source) for source in sources)
