"""A chosen commitment becomes a `PromiseCandidate`: its action phrase,
kind, named person, due date (`kept.extractors.dates.resolve_due`) and
confidence."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from kept.extractors.dates import resolve_due
from kept.extractors.promise_patterns import FALLBACK_CONFIDENCE, SentenceMatch
from kept.models import PromiseCandidate

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

__all__ = ["promise_record", "rule_confidence"]


_ACTION_DEPS = {
    "dobj", "dative", "prt", "prep", "xcomp", "ccomp", "acomp", "oprd", "attr",
    "advmod", "pobj", "compound", "agent", "dep", "npadvmod", "acl", "relcl",
}  # fmt: skip
_NOT_PERSONS = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december", "enron", "ees", "ena", "houston",
    "i", "ferc", "eol", "ect", "corp", "inc", "llc", "am", "pm", "today", "tomorrow",
}  # fmt: skip
_MAX_ACTION_TOKENS = 16
#: Vague time words trailing an action phrase ("have lunch soon").
_TIME_WORDS = {"soon", "shortly", "asap", "later", "today", "tonight", "tomorrow", "again", "then", "now", "also", "too"}


def _action_phrase(action: Token, due_span: tuple[int, int] | None) -> str:
    """The action verb with its objects and particles, without the due date."""

    def in_due(token: Token) -> bool:
        return due_span is not None and due_span[0] <= token.idx < due_span[1]

    pieces: list[Token] = [action]
    for child in action.rights:
        if child.dep_ not in _ACTION_DEPS or child.is_punct or in_due(child):
            break
        pieces.extend(token for token in child.subtree if not in_due(token))
        if len(pieces) >= _MAX_ACTION_TOKENS:
            break
    pieces = sorted({token.i: token for token in pieces}.values(), key=lambda token: token.i)[:_MAX_ACTION_TOKENS]
    while len(pieces) > 1 and (pieces[-1].is_punct or pieces[-1].dep_ in ("cc", "mark", "det") or pieces[-1].lower_ in _TIME_WORDS):
        pieces.pop()
    return " ".join(token.text for token in pieces).replace(" 's", "'s").replace(" n't", "n't")


def _named_person(action: Token, due_span: tuple[int, int] | None) -> str | None:
    """A proper name the action is directed at ("call John", "send it to Sally Beck")."""
    for token in action.subtree:
        if token.i <= action.i or token.pos_ != "PROPN" or token.dep_ not in ("dobj", "dative", "pobj", "nsubj"):
            continue
        if token.dep_ == "pobj" and token.head.lower_ not in ("to", "with", "for", "from"):
            continue
        if due_span is not None and due_span[0] <= token.idx < due_span[1]:
            continue
        if token.lower_ in _NOT_PERSONS or not token.text[:1].isupper() or token.text.isupper():
            continue
        words = [t for t in token.subtree if t.pos_ == "PROPN" and t.i <= token.i]
        name = " ".join(t.text for t in words[-3:])
        return name or token.text
    return None


# Left dependents of the action that open another clause: "Since I am out
# tomorrow, I will ...", "I don't have it today, but will bring it ...".
_OTHER_CLAUSE = frozenset({"advcl", "mark", "punct", "cc", "ccomp", "parataxis", "conj", "intj", "dep"})


def _clause_start(found: SentenceMatch) -> int:
    """Where the promise's own clause starts in its sentence, in characters.

    Its subject, auxiliaries and fronted adverbials belong to it ("Tomorrow
    I will send", "By Friday, I will send"); a clause before it does not.
    """
    starts = [found.action.idx]
    starts += [child.left_edge.idx for child in found.action.lefts if child.dep_ not in _OTHER_CLAUSE]
    return max(0, min(starts) - found.sentence.start_char)


def rule_confidence(found: SentenceMatch) -> float:
    """Without a model: the rule's share of true promises, capped for the fallback kind."""
    if found.kind_rule is not None:
        return found.rule.confidence
    return min(found.rule.confidence, FALLBACK_CONFIDENCE)


def promise_record(found: SentenceMatch, sentence: str, doc: Doc, sent_at: datetime | None) -> PromiseCandidate:
    """The record of a chosen commitment found in the candidate text `sentence`, parsed as `doc`;
    its due date is resolved against `sent_at` (None without it)."""
    # Usually the whole candidate is one sentence; when spaCy split it
    # further, report only the part holding the promise.
    whole = found.sentence.start == 0 and found.sentence.end == len(doc)
    text = sentence if whole else found.sentence.text
    due, due_text, due_span = None, None, None
    if sent_at is not None:
        due, due_text = resolve_due(found.sentence.text, sent_at, _clause_start(found))
        if due_text is not None:
            start = found.sentence.text.find(due_text)
            if start >= 0:
                offset = found.sentence.start_char
                due_span = (offset + start, offset + start + len(due_text))
    return PromiseCandidate(
        sentence=text,
        action=_action_phrase(found.action, due_span),
        kind=found.kind,
        due=due,
        due_text=due_text,
        confidence=found.probability if found.probability is not None else rule_confidence(found),
        rule_id=found.rule.id,
        named_person=_named_person(found.action, due_span),
    )
