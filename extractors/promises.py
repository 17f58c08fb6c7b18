"""Finding the promises in the fresh text of sent mail.

The extractor works in four steps:

1. **Sentences and prefilter.** The text is split into sentences with cheap
   regular expressions and only sentences with a first-person future cue
   ("I'll", "we will", "going to", "let's", a leading "Will ...") go on.
   Most sentences of mail have none, so the parser sees a small fraction.
2. **Matching.** Candidate sentences are parsed with spaCy (`nlp.pipe`,
   batched across messages) and matched against patterns kept as data in
   ``patterns/promises.jsonl``. Each row has an ``id``, a ``label`` and a
   spaCy ``pattern``:

   * ``COMMIT`` rows find a first person taking on a future action
     ("I will send", "let me check", "we need to have lunch"); they mark
     the action verb (the dependency node named ``action``, or the token at
     index ``action`` for token patterns) and carry a ``confidence``;
   * ``NEG_*`` rows veto: a dependency veto cancels the commitment on the
     same action verb ("I will not send"), a token veto cancels every
     commitment in its sentence ("if you need anything", a question);
   * ``soft`` ``NEG_*`` rows (``"soft": true``) are the data-driven lists of
     stative, mental and whereabouts verbs ("I will be in Houston", "we
     will see", "I will need two originals"): they cancel a commitment only
     when no kind row names its action, so an idiom such as "I will be
     there!" (an RSVP) still counts;
   * rows labelled with a promise kind say what the action is; the first
     such row (in file order) starting at the action verb wins. An action
     verb no kind row names is still a commitment, of kind ``other``: any
     action verb a first person commits to is something someone could hold
     them to, so the lexicon decides the kind, never whether it is a promise.
     When a sentence has several commitments, one with a named kind is
     preferred over a fallback one, then the earliest.

3. **Re-scoring.** Every ``COMMIT`` match is a candidate; what the other
   rows said about it (vetoes, kind rows, frames) becomes features of a
   logistic regression, with its subject, modal and frame words, the
   action verb, negation, questions, conditions, hedges and a small lemma
   window (`commitment_features`). The model is data,
   ``patterns/promise_model.json``, trained by
   ``benchmarks/train_promise_model.py`` and scored here in plain Python;
   its probability is then combined with a second judgement of the whole
   sentence by a fine-tuned transformer (`kept.extractors.encoder`) into
   one calibrated probability (`PromiseCombination`); a sentence is a
   promise when its best commitment's combined probability reaches the
   combination's threshold, and that probability is the confidence. Token vetoes on the whole sentence (a
   question mark, "if you need", quoted speech) stay hard. Without a model
   (``scorer=False``) the vetoes decide as described in step 2.
4. **Records.** Each sentence with an accepted commitment gives one
   `PromiseCandidate` with the action phrase, the kind, the named person and
   the due date (`kept.extractors.dates.resolve_due`).

`run_extract_jsonl` is the ``kept extract --jsonl`` evaluation interface.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from kept.errors import UserError
from kept.extractors.dates import resolve_due
from kept.extractors.encoder import SentenceClassifier, bundled_adapter, load_classifier
from kept.extractors.nlp import DEFAULT_MODEL, load_pipeline
from kept.models import PROMISE_KINDS, PromiseCandidate

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span, Token

__all__ = [
    "FEATURES_VERSION",
    "FLOOR_FEATURES",
    "MODEL_FORMAT_VERSION",
    "Commitment",
    "PatternError",
    "PatternRow",
    "PromiseExtractor",
    "PromiseMatcher",
    "PromiseModel",
    "PromiseModelError",
    "SentenceMatch",
    "candidate_sentences",
    "choose",
    "commitment_features",
    "load_model",
    "load_patterns",
    "logit",
    "run_extract_jsonl",
    "split_sentences",
]

logger = logging.getLogger(__name__)

COMMIT_LABEL = "COMMIT"
VETO_PREFIX = "NEG_"
DEFAULT_CONFIDENCE = 0.8

#: Longest text of one message that is analysed; mail longer than this is a
#: log dump or a table, not something a person promised anything in.
MAX_TEXT_CHARS = 100_000
#: Longer "sentences" are tables or run-on lists: never parsed.
MAX_SENTENCE_CHARS = 600
#: Messages handled per chunk by `extract_many` and `run_extract_jsonl`: enough
#: candidate sentences for the encoder to batch them by length with little padding.
CHUNK_MESSAGES = 1024
#: Parsed candidate sentences judged together (see `PromiseExtractor._extract_chunk`).
JUDGE_DOCS = 1024


class PatternError(UserError):
    """A pattern file is invalid; the message names the file and line."""


# --------------------------------------------------------------------------
# Patterns as data


@dataclass(frozen=True, slots=True)
class PatternRow:
    """One validated row of a pattern file.

    :ivar id: unique id; reported as a promise's ``rule_id``.
    :ivar label: ``COMMIT``, ``NEG_<reason>`` or a promise kind.
    :ivar pattern: the spaCy Matcher or DependencyMatcher pattern.
    :ivar matcher: ``"token"`` or ``"dependency"``.
    :ivar confidence: for ``COMMIT`` rows, the share of true promises
        among the rule's hits.
    :ivar action: for token ``COMMIT`` rows, the index of the action verb
        in the pattern.
    :ivar soft: for ``NEG_*`` dependency rows, veto only actions that no
        kind row names.
    :ivar fallback: for ``COMMIT`` rows, whether an action no kind row
        names still counts (as `FALLBACK_KIND`). Off for frames that are as
        often plans or suggestions as promises ("let's", "going to", "will
        be doing"): there only a named action is a commitment.
    :ivar strong: for ``COMMIT`` rows, an unambiguous commitment frame
        ("Will do.", "let me check", "X will follow", "I will have Patti
        call"): when the rules accept such a match, its probability is
        floored at the model's ``floor``, the measured share of promises
        among such matches in the labelled data.
    :ivar vague: for kind rows, the verb names effort but not its result
        ("work on"): a more specific kind on a verb linked to the action
        ("I will work on an agenda and send it to you") is reported instead.
    :ivar source: ``file:line`` the row came from, for error messages.
    """

    id: str
    label: str
    pattern: list[Any]
    matcher: str = "token"
    confidence: float = DEFAULT_CONFIDENCE
    action: int | None = None
    soft: bool = False
    fallback: bool = True
    strong: bool = False
    vague: bool = False
    source: str = ""


_ROW_KEYS = {"id", "label", "pattern", "matcher", "confidence", "action", "soft", "fallback", "strong", "vague"}
#: The kind of a commitment whose action verb no kind row names.
FALLBACK_KIND = "other"
#: Ceiling on the confidence of such a commitment: an action outside the
#: lexicon is a promise less often than a named one (about 0.7 against 0.94
#: on the dev and validation sets).
FALLBACK_CONFIDENCE = 0.7


def _bundled_pattern_file() -> Path:
    return Path(str(resources.files("kept.extractors").joinpath("patterns", "promises.jsonl")))


def _check_row(raw: Any, where: str) -> PatternRow:
    """Schema check of one decoded row; spaCy validates the pattern itself later."""
    if not isinstance(raw, dict):
        raise PatternError(f"{where}: a row must be a JSON object")
    unknown = set(raw) - _ROW_KEYS
    if unknown:
        raise PatternError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    row_id, label, pattern = raw.get("id"), raw.get("label"), raw.get("pattern")
    if not isinstance(row_id, str) or not row_id:
        raise PatternError(f"{where}: 'id' must be a non-empty string")
    if not isinstance(label, str) or not (
        label == COMMIT_LABEL or label in PROMISE_KINDS or (label.startswith(VETO_PREFIX) and len(label) > 4)
    ):
        raise PatternError(
            f"{where}: unknown label {label!r} in row {row_id!r}; expected {COMMIT_LABEL}, "
            f"NEG_<reason> or one of {', '.join(PROMISE_KINDS)}"
        )
    if not isinstance(pattern, list) or not pattern or not all(isinstance(p, dict) for p in pattern):
        raise PatternError(f"{where}: 'pattern' of row {row_id!r} must be a non-empty list of objects")
    matcher = raw.get("matcher", "token")
    if matcher not in ("token", "dependency"):
        raise PatternError(f"{where}: 'matcher' of row {row_id!r} must be 'token' or 'dependency'")
    confidence = raw.get("confidence", DEFAULT_CONFIDENCE)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0.0 <= confidence <= 1.0:
        raise PatternError(f"{where}: 'confidence' of row {row_id!r} must be a number from 0 to 1")
    action = raw.get("action")
    needs_action = label in (COMMIT_LABEL,) or label.startswith(VETO_PREFIX)
    if matcher == "dependency":
        node_ids = [node.get("RIGHT_ID") for node in pattern]
        if needs_action and "action" not in node_ids:
            raise PatternError(f"{where}: dependency row {row_id!r} needs a node with RIGHT_ID 'action'")
        if action is not None:
            raise PatternError(f"{where}: 'action' is only for token rows (row {row_id!r})")
        if label in PROMISE_KINDS:
            raise PatternError(f"{where}: kind rows must be token patterns (row {row_id!r})")
    elif label == COMMIT_LABEL:
        if isinstance(action, bool) or not isinstance(action, int) or not 0 <= action < len(pattern):
            raise PatternError(f"{where}: token COMMIT row {row_id!r} needs 'action', an index into its pattern")
        # The action's offset in a match equals its index only if nothing
        # before it can repeat or be skipped.
        if any("OP" in element for element in pattern[: action + 1]):
            raise PatternError(f"{where}: row {row_id!r} has an 'OP' at or before its action token")
    elif action is not None:
        raise PatternError(f"{where}: 'action' is only for COMMIT rows (row {row_id!r})")
    soft = raw.get("soft", False)
    if not isinstance(soft, bool):
        raise PatternError(f"{where}: 'soft' of row {row_id!r} must be true or false")
    if soft and not (label.startswith(VETO_PREFIX) and matcher == "dependency"):
        raise PatternError(f"{where}: 'soft' is only for dependency NEG_* rows (row {row_id!r})")
    fallback = raw.get("fallback", True)
    if not isinstance(fallback, bool):
        raise PatternError(f"{where}: 'fallback' of row {row_id!r} must be true or false")
    if "fallback" in raw and label != COMMIT_LABEL:
        raise PatternError(f"{where}: 'fallback' is only for COMMIT rows (row {row_id!r})")
    strong = raw.get("strong", False)
    if not isinstance(strong, bool):
        raise PatternError(f"{where}: 'strong' of row {row_id!r} must be true or false")
    if strong and label != COMMIT_LABEL:
        raise PatternError(f"{where}: 'strong' is only for COMMIT rows (row {row_id!r})")
    vague = raw.get("vague", False)
    if not isinstance(vague, bool):
        raise PatternError(f"{where}: 'vague' of row {row_id!r} must be true or false")
    if vague and label not in PROMISE_KINDS:
        raise PatternError(f"{where}: 'vague' is only for kind rows (row {row_id!r})")
    return PatternRow(
        id=row_id,
        label=label,
        pattern=pattern,
        matcher=matcher,
        confidence=float(confidence),
        action=action,
        soft=soft,
        fallback=fallback,
        strong=strong,
        vague=vague,
        source=where,
    )


def load_patterns(path: str | Path | None = None) -> list[PatternRow]:
    """Read and schema-check a JSONL pattern file (the bundled one by default).

    Blank lines and lines starting with ``//`` are skipped.

    :raises PatternError: bad JSON, a row breaking the schema or a duplicate
        id; the message names the file and line.
    """
    file = Path(path) if path is not None else _bundled_pattern_file()
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise PatternError(f"{file}: cannot read pattern file: {exc.strerror or exc}") from exc
    rows: list[PatternRow] = []
    seen: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        where = f"{file}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PatternError(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
        row = _check_row(raw, where)
        if row.id in seen:
            raise PatternError(f"{where}: duplicate id {row.id!r} (first used at {seen[row.id]})")
        seen[row.id] = where
        rows.append(row)
    if not any(row.label == COMMIT_LABEL for row in rows):
        raise PatternError(f"{file}: no {COMMIT_LABEL} rows")
    return rows


@dataclass(frozen=True, slots=True)
class SentenceMatch:
    """A commitment chosen for its sentence, before it becomes a record.

    :ivar sentence: the spaCy sentence.
    :ivar action: the action verb.
    :ivar rule: the ``COMMIT`` row that found it.
    :ivar kind: the promise kind.
    :ivar kind_rule: the kind row that named the kind: the action's own,
        or a linked verb's (`Commitment.reported_kind`); None when no row
        names either and the kind is `FALLBACK_KIND`.
    :ivar probability: the re-scorer's calibrated probability, or None when
        the hand-written veto rules alone decided.
    """

    sentence: Span
    action: Token
    rule: PatternRow
    kind: str
    kind_rule: PatternRow | None
    probability: float | None = None


@dataclass(frozen=True, slots=True)
class Commitment:
    """One ``COMMIT`` match with everything the other rows said about it.

    Nothing is decided here: the hand-written decision is `rules_accept`,
    and the learned re-scorer reads the same evidence as features.

    :ivar sentence: the spaCy sentence holding the action.
    :ivar action: the action verb.
    :ivar rule: the ``COMMIT`` row.
    :ivar kind_rule: the kind row naming the action, or None.
    :ivar vetoes: ids of dependency ``NEG_*`` rows on this action.
    :ivar soft_vetoes: ids of soft (stative) ``NEG_*`` rows on this action.
    :ivar sentence_vetoes: ids of token ``NEG_*`` rows in the sentence.
    :ivar is_frame: the action's complement is itself a committed action
        ("ask Patti to set up a meeting"): the complement names the kind.
    :ivar far_vetoes: ids of token ``NEG_CONDITIONAL`` rows in the sentence
        whose clause hangs off another verb ("I will send it ... and we will
        be standing by in case there are revisions"): not a condition on
        this action, so only a feature, never a hard veto.
    :ivar linked_kind_rule: when no kind row names the action, or only a
        vague one ("I will work on it and forward it to you", "I will try
        to catch David and have him look at the list"), the first kind row
        naming a kind other than
        `FALLBACK_KIND` on a verb coordinated with or completing it;
        reported as the kind (`reported_kind`), never a feature of the
        re-scorer.
    """

    sentence: Span
    action: Token
    rule: PatternRow
    kind_rule: PatternRow | None
    vetoes: tuple[str, ...]
    soft_vetoes: tuple[str, ...]
    sentence_vetoes: tuple[str, ...]
    is_frame: bool
    far_vetoes: tuple[str, ...] = ()
    linked_kind_rule: PatternRow | None = None

    @property
    def kind(self) -> str:
        """The kind row's label, or `FALLBACK_KIND`."""
        return self.kind_rule.label if self.kind_rule is not None else FALLBACK_KIND

    @property
    def reported_kind(self) -> tuple[str, PatternRow | None]:
        """The kind a promise record gets, and the row that named it: the
        action's own, unless it has none or a vague one and a linked verb names one."""
        if self.linked_kind_rule is not None:
            return self.linked_kind_rule.label, self.linked_kind_rule
        return self.kind, self.kind_rule

    @property
    def rules_accept(self) -> bool:
        """The hand-written decision: no veto, and a named kind or a fallback rule."""
        if self.vetoes or self.sentence_vetoes:
            return False
        return self.kind_rule is not None or (not self.soft_vetoes and self.rule.fallback)

    def order(self) -> tuple[bool, bool, int, float]:
        """Which commitment speaks for its sentence: a named kind first, then a
        complement over its frame, then the earliest action, then the surest rule."""
        return (self.kind_rule is None, self.is_frame, self.action.i, -self.rule.confidence)


#: Token vetoes with this label are conditions: hard only on the actions
#: their clause qualifies (`_governs`).
CONDITIONAL_LABEL = "NEG_CONDITIONAL"
#: Dependency veto labels a subjectless conjunct shares with its head verb.
_SHARED_VETOES = frozenset({"NEG_CONDITIONAL", "NEG_HEDGE", "NEG_NEGATION"})
_CLAUSE_DEPS = frozenset({"advcl", "ccomp", "conj", "ROOT", "relcl", "xcomp", "pcomp", "acl", "parataxis"})


#: Dependencies joining a verb to the action it completes or is coordinated with.
_LINKED_DEPS = frozenset({"conj", "xcomp", "ccomp"})

_CONDITION_WORDS = frozenset({"if", "whenever", "unless", "in", "should", "assuming", "provided", "providing", "depending"})


def _condition_anchor(span: Span) -> Token:
    """The verb a condition match ("if you need", "in case there are")
    qualifies: the head of its clause, or the verb an "in case" phrase hangs off."""
    marker = next((token for token in span if token.lower_ in _CONDITION_WORDS), span[0])
    token = marker
    for _ in range(8):
        if token.dep_ in _CLAUSE_DEPS or token.head.i == token.i:
            break
        token = token.head
    if marker.dep_ == "prep" and marker.head.i == token.i:
        return token
    return token if token.dep_ == "ROOT" else token.head


def _governs(anchor: Token, action: Token) -> bool:
    """Whether a condition qualifies `action`: it hangs off the action or a verb above it."""
    return anchor.i == action.i or anchor.is_ancestor(action)


class PromiseMatcher:
    """Pattern rows compiled into spaCy matchers for one vocabulary.

    `commitments` only finds; `match` applies the hand-written vetoes;
    turning matches into records is the extractor's job.

    :param rows: validated rows, e.g. from `load_patterns`.
    :param nlp: the pipeline whose vocabulary the matchers use.
    :raises PatternError: a row is not a valid spaCy pattern.
    """

    def __init__(self, rows: Sequence[PatternRow], nlp: Language) -> None:
        from spacy.matcher import DependencyMatcher, Matcher

        self.rows = list(rows)
        self.nlp = nlp
        self._token_rows: dict[str, PatternRow] = {}
        self._dep_rows: dict[str, PatternRow] = {}
        self._row_order: dict[str, int] = {}
        self._token_matcher = Matcher(self.nlp.vocab, validate=True)
        self._dep_matcher = DependencyMatcher(self.nlp.vocab, validate=True)
        for order, row in enumerate(self.rows):
            self._row_order[row.id] = order
            try:
                if row.matcher == "dependency":
                    self._dep_matcher.add(row.id, [row.pattern])
                    self._dep_rows[row.id] = row
                else:
                    self._token_matcher.add(row.id, [row.pattern])
                    self._token_rows[row.id] = row
            except Exception as exc:  # spaCy raises ValueError/KeyError/MatchPatternError
                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise PatternError(f"{row.source}: row {row.id!r} is not a valid spaCy pattern: {first_line}") from exc
        self._action_node = {
            row.id: [node.get("RIGHT_ID") for node in row.pattern].index("action")
            for row in self._dep_rows.values()
            if any(node.get("RIGHT_ID") == "action" for node in row.pattern)
        }

    def commitments(self, doc: Doc) -> list[Commitment]:
        """Every ``COMMIT`` match in `doc` (one per action verb and rule), with
        the vetoes and kind rows that fired on it, in `Commitment.order`."""
        strings = self.nlp.vocab.strings
        commits: list[tuple[int, PatternRow]] = []
        vetoes: dict[int, list[str]] = {}
        soft_vetoes: dict[int, list[str]] = {}
        sentence_vetoes: dict[int, list[str]] = {}
        kinds: dict[int, tuple[int, int, PatternRow]] = {}

        conditions: dict[int, list[tuple[str, Token]]] = {}
        for match_id, start, end in self._token_matcher(doc):
            row = self._token_rows[strings[match_id]]
            if row.label == COMMIT_LABEL:
                commits.append((start + (row.action or 0), row))
            elif row.label == CONDITIONAL_LABEL:
                conditions.setdefault(doc[start].sent.start, []).append((row.id, _condition_anchor(doc[start:end])))
            elif row.label.startswith(VETO_PREFIX):
                sentence_vetoes.setdefault(doc[start].sent.start, []).append(row.id)
            else:
                # The first kind row (file order) matching at a token wins,
                # then the longer match: idioms are listed before verb lists.
                rank = (-self._row_order[row.id], end - start)
                if start not in kinds or rank > kinds[start][:2]:
                    kinds[start] = (*rank, row)
        for match_id, token_ids in self._dep_matcher(doc):
            row = self._dep_rows[strings[match_id]]
            action_index = token_ids[self._action_node[row.id]]
            if row.label == COMMIT_LABEL:
                commits.append((action_index, row))
            elif row.soft:
                soft_vetoes.setdefault(action_index, []).append(row.id)
            elif row.label.startswith(VETO_PREFIX):
                vetoes.setdefault(action_index, []).append(row.id)

        # A verb whose complement is itself a committed action ("ask Patti
        # to set up a meeting", "plan to get together") is a frame: the
        # complement says what will be done, so it names the kind.
        committed = {action_i for action_i, _ in commits}
        frames = {
            doc[action_i].head.i
            for action_i in committed
            if doc[action_i].dep_ in ("xcomp", "ccomp") and doc[action_i].head.i in committed
        }

        def linked_kind(action: Token) -> PatternRow | None:
            # Breadth first over verbs joined to the action ("work on it and
            # forward it") or completing it ("try to reach her"), nearest first.
            frontier, depth = [action], 0
            while frontier and depth < 3:
                following: list[Token] = []
                for token in frontier:
                    for child in token.children:
                        if child.dep_ == "prep":
                            following.extend(c for c in child.children if c.dep_ == "pcomp")
                        elif child.dep_ in _LINKED_DEPS:
                            following.append(child)
                for token in sorted(following, key=lambda t: t.i):
                    kind = kinds.get(token.i)
                    if kind is not None and kind[2].label != FALLBACK_KIND:
                        return kind[2]
                frontier, depth = following, depth + 1
            return None

        found: list[Commitment] = []
        seen: set[tuple[int, str]] = set()
        for action_i, row in commits:
            if (action_i, row.id) in seen:
                continue
            seen.add((action_i, row.id))
            action = doc[action_i]
            kind = kinds.get(action_i)
            own_vetoes = list(vetoes.get(action_i, ()))
            # A conjunct without its own subject shares its head's clause:
            # "Let me know if you have it, otherwise I'll call Mike and discuss."
            if action.dep_ == "conj" and not any(c.dep_ in ("nsubj", "nsubjpass") for c in action.children):
                own_vetoes.extend(v for v in vetoes.get(action.head.i, ()) if self._dep_rows[v].label in _SHARED_VETOES)
            hard = list(sentence_vetoes.get(action.sent.start, ()))
            far: list[str] = []
            for veto_id, anchor in conditions.get(action.sent.start, ()):
                (hard if _governs(anchor, action) else far).append(veto_id)
            found.append(
                Commitment(
                    sentence=action.sent,
                    action=action,
                    rule=row,
                    kind_rule=kind[2] if kind is not None else None,
                    vetoes=tuple(sorted(set(own_vetoes))),
                    soft_vetoes=tuple(sorted(set(soft_vetoes.get(action_i, ())))),
                    sentence_vetoes=tuple(sorted(set(hard))),
                    is_frame=action_i in frames,
                    far_vetoes=tuple(sorted(set(far))),
                    linked_kind_rule=linked_kind(action) if kind is None or kind[2].vague else None,
                )
            )
        found.sort(key=Commitment.order)
        return found

    def rescorable(self, doc: Doc) -> list[Commitment]:
        """The commitments the learned re-scorer judges.

        Token vetoes on the whole sentence (a question mark, "if you need",
        "feel free", quoted speech, disclaimers) stay hard: they name the
        issue's exclusions outright, and in cross-validation letting the
        model overrule them bought no recall at the same precision.
        """
        return [commitment for commitment in self.commitments(doc) if not commitment.sentence_vetoes]

    def match(self, doc: Doc) -> list[SentenceMatch]:
        """The commitments the hand-written vetoes let through, at most one per
        sentence (the first in `Commitment.order`)."""
        found: dict[int, SentenceMatch] = {}
        for commitment in self.commitments(doc):
            sentence = commitment.sentence
            if sentence.start in found or not commitment.rules_accept:
                continue
            found[sentence.start] = SentenceMatch(sentence, commitment.action, commitment.rule, *commitment.reported_kind)
        return [found[start] for start in sorted(found)]


# --------------------------------------------------------------------------
# The learned re-scorer
#
# The pattern rows find candidate commitments with high recall; whether one
# is a promise is decided by a logistic regression over features of the
# candidate: which rows fired on it, its subject, modal and frame words, the
# action verb, negation, questions, conditions, hedges and a small lexical
# window. It is trained by ``benchmarks/train_promise_model.py`` (scikit-learn
# there only) and shipped as data, ``patterns/promise_model.json``, which is
# scored here in plain Python so kept needs no learning library at run time.

#: Format of the model file; bumped when its keys change.
MODEL_FORMAT_VERSION = 1
#: Version of `commitment_features`; a model trained on other features would
#: score silently wrong, so loading one is an error.
FEATURES_VERSION = 4
_MODEL_KEYS = {"format", "version", "features_version", "bias", "weights", "calibration", "threshold", "training"}
#: Features that mark unambiguous commitment frames; training measures a
#: probability floor for each (`PromiseModel.floors`).
FLOOR_FEATURES = ("strong",)
_OPTIONAL_MODEL_KEYS = {"floors"}
_MODEL_FORMAT = "kept-promise-model"

_FRAME_WORDS = frozenset(
    "will 'll shall wil going gon let 's us need have should must ought got try plan intend able want would could "
    "can might may hope think sure happy glad like love please not never n't also just definitely".split()
)
_CONDITION_MARKERS = frozenset({"if", "when", "once", "unless", "whenever", "after", "until", "upon", "assuming", "provided"})
_DELIVERABLES = frozenset(
    "copy draft file document report contract agreement list information info number spreadsheet invoice "
    "check letter memo schedule proposal presentation summary comment redline blackline confirm confirmation "
    "form statement quote estimate analysis".split()
)
_CONDITION_SUBJECTS = frozenset(
    {"you", "u", "i", "we", "he", "she", "they", "it", "there", "anyone", "anybody", "someone", "needed", "necessary", "this", "that"}
)
_HEDGE_WORDS = frozenset(
    {"probably", "maybe", "perhaps", "possibly", "hopefully", "might", "could", "may", "hope", "think", "guess", "try",
     "should", "would", "likely", "unlikely", "eventually", "sometime", "someday"}
)  # fmt: skip
_SUBJECTS = frozenset({"i", "we", "me", "us", "'s", "you", "u", "he", "she", "they", "it", "this", "that"})
_TIME_CUE = re.compile(
    r"\b(?:today|tonight|tomorrow|mon|tues?|wed|thurs?|fri|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"next\s+(?:week|month)|this\s+(?:week|weekend|morning|afternoon|evening)|end\s+of|asap|soon|shortly|"
    r"by\s+\d|in\s+the\s+morning|later\s+today|\d{1,2}/\d{1,2}|\d{1,2}(?::\d\d)?\s*[ap]\.?m\b)",
    re.IGNORECASE,
)


def _bucket(value: int, edges: Sequence[int]) -> str:
    """The first edge `value` does not exceed ("<=5"), or ">last"."""
    for edge in edges:
        if value <= edge:
            return f"<={edge}"
    return f">{edges[-1]}"


def _subject_of(action: Token) -> Token | None:
    """The subject of the action, or of the verbs it hangs from ("I will try to send")."""
    token = action
    for _ in range(3):
        for child in token.children:
            if child.dep_ in ("nsubj", "nsubjpass"):
                return child
        if token.dep_ not in ("xcomp", "ccomp", "conj", "advcl") or token.head is token:
            return None
        token = token.head
    return None


def commitment_features(commitment: Commitment) -> list[str]:
    """The re-scorer's binary features of one commitment, sorted.

    Changing what this returns changes what a trained model means: bump
    `FEATURES_VERSION` and retrain (``make train-promises``).
    """
    sentence, action = commitment.sentence, commitment.action
    doc = action.doc
    features = {
        "commit=" + commitment.rule.id,
        "kind=" + commitment.kind,
        "kind_rule=" + (commitment.kind_rule.id if commitment.kind_rule is not None else "none"),
        "verb=" + action.lemma_.lower(),
        "tag=" + action.tag_,
        "dep=" + action.dep_,
        "root_tag=" + sentence.root.tag_,
        "length" + _bucket(len(sentence), (5, 10, 20, 35)),
        "position" + _bucket(action.i - sentence.start, (1, 3, 6, 10)),
    }
    features.update("veto=" + veto for veto in commitment.vetoes)
    features.update("soft=" + veto for veto in commitment.soft_vetoes)
    features.update("sveto=" + veto for veto in commitment.sentence_vetoes)
    features.update("far_veto=" + veto for veto in commitment.far_vetoes)
    if commitment.rules_accept:
        features.add("rules_accept")
        features.add("rules_accept&" + ("named" if commitment.kind_rule is not None else "fallback"))
    if commitment.is_frame:
        features.add("frame")
    # The candidate text before the action, across spaCy's own sentence
    # splits: "Just let me know and I will be there" is an open offer.
    before = [token.lower_ for token in doc[: action.i]]
    if any(before[i : i + 3] == ["let", "me", "know"] for i in range(len(before) - 2)):
        features.add("let_me_know_before")
    if action.sent.start > 0 and any(word in _CONDITION_MARKERS for word in before[: action.sent.start]):
        features.add("cond_before_sentence")
    if action.dep_ in ("xcomp", "ccomp", "conj", "advcl"):
        features.add("head=" + action.head.lemma_.lower())
    subject = _subject_of(action)
    if subject is None:
        features.add("subj=none")
    elif subject.lower_ in _SUBJECTS:
        features.add("subj=" + subject.lower_)
    else:
        features.add("subj=" + ("propn" if subject.pos_ == "PROPN" else "other"))
    first = sentence[0]
    features.add("first=" + (first.lower_ if first.is_alpha or first.lower_ in _FRAME_WORDS else "#"))

    # A small window of lemmas around the subject and verb.
    left = [token for token in doc[max(sentence.start, action.i - 5) : action.i] if not token.is_punct]
    right = [token for token in doc[action.i + 1 : min(sentence.end, action.i + 4)] if not token.is_punct]
    for token in left:
        if token.lower_ in _FRAME_WORDS:
            features.add("frame_word=" + token.lower_)
        features.add("l=" + token.lemma_.lower())
    for token in right:
        features.add("r=" + token.lemma_.lower())
    window = [*(token.lemma_.lower() for token in left[-3:]), "<" + action.lemma_.lower() + ">"]
    window += [token.lemma_.lower() for token in right[:2]]
    features.update(f"bi={a}_{b}" for a, b in zip(window, window[1:], strict=False))

    # Whole-sentence cues: negation, questions, conditions, hedges, time.
    for token in sentence:
        lower = token.lower_
        if token.dep_ == "neg":
            features.add("negation" + ("_on_action" if token.head.i == action.i else ""))
        if lower in _CONDITION_MARKERS:
            where = "before" if token.i < action.i else "after"
            features.add(f"cond={lower}_{where}")
            following = doc[token.i + 1] if token.i + 1 < sentence.end else None
            if following is not None and following.lower_ in _CONDITION_SUBJECTS:
                features.add(f"cond={lower}_{following.lower_}")
        if lower in _HEDGE_WORDS:
            features.add("hedge=" + lower)
        if token.dep_ in ("nsubj", "nsubjpass") and lower in ("you", "u") and token.head.i != action.i:
            features.add("you_subject_elsewhere")
    # Directed at the reader, or about a thing that can be handed over.
    for child in action.children:
        if child.dep_ in ("dobj", "dative") and child.lower_ in ("you", "u", "y'all"):
            features.add("to_you")
        elif child.dep_ == "prep" and child.lower_ in ("to", "with", "for"):
            if any(grand.dep_ == "pobj" and grand.lower_ in ("you", "u") for grand in child.children):
                features.add("to_you")
    if any(token.lemma_.lower() in _DELIVERABLES for token in action.subtree if token.i > action.i):
        features.add("deliverable")
    root = sentence.root
    if root.i != action.i and root.tag_ == "VB" and not any(c.dep_ in ("nsubj", "nsubjpass") for c in root.children):
        features.add("imperative_root")
    if "?" in sentence.text:
        features.add("question")
    if _TIME_CUE.search(sentence.text):
        features.add("time_cue")
        # "Let's discuss on Thursday": a let's with a named action and a time
        # is a social commitment, not a suggestion (15 of 15 in the labelled data).
        if commitment.rule.id.startswith("lets") and commitment.kind_rule is not None:
            features.add("lets&time")
    # An unqualified match of an unambiguous frame ("Will do."); a stative
    # reading the kind rows overrule ("do") is no qualifier here.
    strong_qualifiers = ("negation", "cond=", "hedge=", "question", "you_subject_elsewhere")
    if commitment.rule.strong and commitment.rules_accept and not any(f.startswith(strong_qualifiers) for f in features):
        features.add("strong")
    # A plain commitment: the rules accept it and nothing in the sentence
    # qualifies it. A linear model cannot form this conjunction itself.
    qualifiers = ("negation", "cond=", "hedge=", "question", "you_subject_elsewhere", "soft=")
    if commitment.rules_accept and not any(f.startswith(qualifiers) for f in features):
        features.add("plain&" + ("first" if subject is not None and subject.lower_ in ("i", "we", "me", "'s", "us") else "other"))
        # "I will ..." opening the sentence, unqualified: the plainest promise.
        if subject is not None and subject.lower_ == "i" and subject.i == sentence.start:
            features.add("plain&i_opening")

    return sorted(features)


class PromiseModelError(UserError):
    """The re-scorer's model file is unusable; the message names the file."""


@dataclass(frozen=True, slots=True)
class PromiseModel:
    """A logistic re-scorer shipped as data.

    The probability of a commitment is ``sigmoid(scale * z + offset)`` with
    ``z = bias + sum(weights[f] for f in features)``: a linear model whose
    raw score is Platt-calibrated on cross-validated predictions, so the
    probability is what `confidence` reports.

    :ivar bias: the intercept.
    :ivar weights: feature name -> weight; features it does not know weigh 0.
    :ivar scale, offset: the calibration of the raw score.
    :ivar threshold: the lowest calibrated probability reported as a promise.
    :ivar training: provenance (files, row counts, the data's SHA-256, figures).
    :ivar source: the file it was read from, for messages.
    :ivar floors: feature -> the least probability of a commitment with
        that feature: the smoothed share of promises among the training
        sentences with it (`FLOOR_FEATURES`), so unambiguous frames ("Will
        do.", "I will join you ...") are not lost to thin lexical evidence.
    """

    bias: float
    weights: dict[str, float]
    scale: float
    offset: float
    threshold: float
    training: dict[str, Any]
    source: str = ""
    floors: dict[str, float] = field(default_factory=dict)

    def raw_score(self, features: Iterable[str]) -> float:
        """The uncalibrated linear score; summed in sorted order so it is deterministic."""
        weights = self.weights
        return self.bias + sum(weights.get(feature, 0.0) for feature in sorted(features))

    def probability(self, features: Collection[str]) -> float:
        """The calibrated probability that the features describe a promise."""
        value = self.scale * self.raw_score(features) + self.offset
        # Clamped so math.exp never overflows on a runaway score.
        value = max(-60.0, min(60.0, value))
        probability = 1.0 / (1.0 + math.exp(-value))
        for feature, floor in self.floors.items():
            if floor > probability and feature in features:
                probability = floor
        return probability

    def to_json(self) -> dict[str, Any]:
        """The file form, as `load_model` reads it."""
        floors = {"floors": dict(sorted(self.floors.items()))} if self.floors else {}
        return {
            **floors,
            "format": _MODEL_FORMAT,
            "version": MODEL_FORMAT_VERSION,
            "features_version": FEATURES_VERSION,
            "bias": self.bias,
            "calibration": {"scale": self.scale, "offset": self.offset},
            "threshold": self.threshold,
            "training": self.training,
            "weights": dict(sorted(self.weights.items())),
        }


def _bundled_model_file() -> Path:
    return Path(str(resources.files("kept.extractors").joinpath("patterns", "promise_model.json")))


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def load_model(path: str | Path | None = None) -> PromiseModel:
    """Read and validate a re-scorer model file (the bundled one by default).

    :raises PromiseModelError: unreadable, bad JSON, missing or unknown keys,
        a version this code cannot score, or a value of the wrong type; the
        message names the file.
    """
    file = Path(path) if path is not None else _bundled_model_file()
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PromiseModelError(
            f"{file}: cannot read the promise model: {exc.strerror or exc}", hint="run `make train-promises`"
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PromiseModelError(f"{file}: the promise model is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise PromiseModelError(f"{file}: the promise model must be a JSON object")
    missing = _MODEL_KEYS - set(raw)
    if missing:
        raise PromiseModelError(f"{file}: the promise model lacks keys {', '.join(sorted(missing))}")
    unknown = set(raw) - _MODEL_KEYS - _OPTIONAL_MODEL_KEYS
    if unknown:
        raise PromiseModelError(f"{file}: the promise model has unknown keys {', '.join(sorted(unknown))}")
    if raw["format"] != _MODEL_FORMAT:
        raise PromiseModelError(f"{file}: 'format' must be {_MODEL_FORMAT!r}, not {raw['format']!r}")
    for key, expected in (("version", MODEL_FORMAT_VERSION), ("features_version", FEATURES_VERSION)):
        if raw[key] != expected:
            raise PromiseModelError(
                f"{file}: promise model {key} {raw[key]!r} does not match this kept ({expected})",
                hint="retrain it with `make train-promises`",
            )
    weights, calibration = raw["weights"], raw["calibration"]
    if not isinstance(weights, dict) or not all(isinstance(k, str) and _finite(v) for k, v in weights.items()):
        raise PromiseModelError(f"{file}: 'weights' must map feature names to numbers")
    if not isinstance(calibration, dict) or set(calibration) != {"scale", "offset"}:
        raise PromiseModelError(f"{file}: 'calibration' must hold exactly 'scale' and 'offset'")
    if not all(_finite(calibration[key]) for key in ("scale", "offset")) or calibration["scale"] <= 0:
        raise PromiseModelError(f"{file}: calibration 'scale' must be a positive number and 'offset' a number")
    if not _finite(raw["bias"]):
        raise PromiseModelError(f"{file}: 'bias' must be a number")
    if not _finite(raw["threshold"]) or not 0.0 < raw["threshold"] < 1.0:
        raise PromiseModelError(f"{file}: 'threshold' must be a number between 0 and 1")
    floors = raw.get("floors", {})
    if not isinstance(floors, dict) or not all(
        isinstance(k, str) and _finite(v) and 0.0 < v < 1.0 for k, v in floors.items()
    ):
        raise PromiseModelError(f"{file}: 'floors' must map feature names to numbers between 0 and 1")
    if not isinstance(raw["training"], dict) or not isinstance(raw["training"].get("sha256"), str):
        raise PromiseModelError(f"{file}: 'training' must be an object with the training data's 'sha256'")
    model = PromiseModel(
        bias=float(raw["bias"]),
        weights={key: float(value) for key, value in weights.items()},
        scale=float(calibration["scale"]),
        offset=float(calibration["offset"]),
        threshold=float(raw["threshold"]),
        training=raw["training"],
        source=str(file),
        floors={key: float(value) for key, value in floors.items()},
    )
    logger.debug("loaded promise model %s: %d weights, threshold %.3f", file, len(model.weights), model.threshold)
    return model


#: Format of the combination file (`PromiseCombination`).
COMBINATION_FORMAT = "kept-promise-combination"
COMBINATION_VERSION = 1
_COMBINATION_KEYS = {
    "format", "version", "scorer_weight", "encoder_weight", "bias", "encoder_clip", "threshold",
    "scorer_sha256", "encoder_sha256", "fit",
}  # fmt: skip


def logit(probability: float) -> float:
    """log(p / (1 - p)), with p kept inside (1e-9, 1 - 1e-9)."""
    probability = min(max(probability, 1e-9), 1.0 - 1e-9)
    return math.log(probability / (1.0 - probability))


@dataclass(frozen=True, slots=True)
class PromiseCombination:
    """How the re-scorer's and the encoder's judgements become one probability.

    ``sigmoid(scorer_weight * logit(p_rules) + encoder_weight *
    clip(encoder_logit) + bias)``, where ``p_rules`` is the re-scorer's
    probability of one commitment and ``encoder_logit`` the encoder's raw
    score of its sentence, clipped to ``±encoder_clip``. The weights are a
    logistic regression fitted by ``benchmarks/fit_promise_combination.py``
    on labelled sentences neither part was trained on, so the result is
    calibrated; ``threshold`` is chosen there for precision.

    :ivar scorer_sha256, encoder_sha256: the files it was fitted for; any
        other re-scorer or adapter makes it meaningless (`load_combination`
        refuses them).
    :ivar fit: provenance: files, rows, figures at the threshold.
    """

    scorer_weight: float
    encoder_weight: float
    bias: float
    encoder_clip: float
    threshold: float
    scorer_sha256: str
    encoder_sha256: str
    fit: dict[str, Any]

    def probability(self, scorer_probability: float, encoder_logit: float) -> float:
        """The combined, calibrated probability."""
        clipped = max(-self.encoder_clip, min(self.encoder_clip, encoder_logit))
        value = self.scorer_weight * logit(scorer_probability) + self.encoder_weight * clipped + self.bias
        value = max(-60.0, min(60.0, value))
        return 1.0 / (1.0 + math.exp(-value))

    def reachable(self, scorer_probability: float, threshold: float | None = None) -> bool:
        """Whether any encoder score could lift this commitment to
        `threshold` (the fitted one by default); when not, the encoder need
        not run (an exact shortcut)."""
        # The same arithmetic as `probability` at the encoder's best score:
        # compared in logit space, rounding made a commitment whose encoder
        # score is at the clip unreachable at exactly its own probability.
        best_score = self.encoder_clip if self.encoder_weight >= 0 else -self.encoder_clip
        return self.probability(scorer_probability, best_score) >= (self.threshold if threshold is None else threshold)

    def to_json(self) -> dict[str, Any]:
        """The file form, as `load_combination` reads it."""
        return {
            "format": COMBINATION_FORMAT, "version": COMBINATION_VERSION,
            "scorer_weight": self.scorer_weight, "encoder_weight": self.encoder_weight, "bias": self.bias,
            "encoder_clip": self.encoder_clip, "threshold": self.threshold,
            "scorer_sha256": self.scorer_sha256, "encoder_sha256": self.encoder_sha256, "fit": self.fit,
        }  # fmt: skip


def _bundled_combination_file() -> Path:
    return Path(str(resources.files("kept.extractors").joinpath("patterns", "promise_combination.json")))


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_combination(path: str | Path | None, scorer_file: str | Path, encoder_file: str | Path) -> PromiseCombination:
    """Read and validate a combination file (the bundled one by default) and
    check that it was fitted for `scorer_file` and `encoder_file`.

    :raises PromiseModelError: unreadable, malformed, or fitted for other files.
    """
    file = Path(path) if path is not None else _bundled_combination_file()
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PromiseModelError(f"{file}: cannot read the promise combination: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PromiseModelError(f"{file}: the promise combination is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or set(raw) != _COMBINATION_KEYS:
        raise PromiseModelError(f"{file}: a promise combination holds exactly {', '.join(sorted(_COMBINATION_KEYS))}")
    if raw["format"] != COMBINATION_FORMAT or raw["version"] != COMBINATION_VERSION:
        raise PromiseModelError(f"{file}: not a version-{COMBINATION_VERSION} {COMBINATION_FORMAT} file")
    numbers = ("scorer_weight", "encoder_weight", "bias", "encoder_clip", "threshold")
    if not all(_finite(raw[key]) for key in numbers) or not 0.0 < raw["threshold"] < 1.0 or raw["encoder_clip"] <= 0:
        raise PromiseModelError(f"{file}: {', '.join(numbers)} must be numbers (threshold between 0 and 1, clip > 0)")
    for key, other in (("scorer_sha256", scorer_file), ("encoder_sha256", encoder_file)):
        if raw[key] != file_sha256(other):
            raise PromiseModelError(
                f"{file} was fitted for another {Path(other).name}",
                hint="refit it: make train-encoder (or benchmarks/fit_promise_combination.py --fold ...)",
            )
    return PromiseCombination(
        scorer_weight=float(raw["scorer_weight"]), encoder_weight=float(raw["encoder_weight"]),
        bias=float(raw["bias"]), encoder_clip=float(raw["encoder_clip"]), threshold=float(raw["threshold"]),
        scorer_sha256=raw["scorer_sha256"], encoder_sha256=raw["encoder_sha256"],
        fit=raw["fit"] if isinstance(raw["fit"], dict) else {},
    )  # fmt: skip


def choose(
    commitments: Sequence[Commitment], probabilities: Sequence[float], threshold: float
) -> list[SentenceMatch]:
    """The promise of each sentence the re-scorer accepts, in text order.

    A sentence is a promise when its most probable commitment reaches
    `threshold`; among its commitments that do, the first in
    `Commitment.order` names the action and kind (a named kind over the
    fallback, a complement over its frame), and the sentence's probability
    is its confidence.
    """
    best: dict[int, float] = {}
    for commitment, probability in zip(commitments, probabilities, strict=True):
        start = commitment.sentence.start
        best[start] = max(best.get(start, 0.0), probability)
    found: dict[int, SentenceMatch] = {}
    for commitment, probability in sorted(
        zip(commitments, probabilities, strict=True), key=lambda item: item[0].order()
    ):
        start = commitment.sentence.start
        if start in found or probability < threshold:
            continue
        found[start] = SentenceMatch(
            commitment.sentence, commitment.action, commitment.rule, *commitment.reported_kind, best[start]
        )
    return [found[start] for start in sorted(found)]


# --------------------------------------------------------------------------
# Sentences and prefilter

_QUOTE_LINE = re.compile(r"^\s*(?:>|\|)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022o]\s|\d{1,2}[.)]\s|[a-z][.)]\s)")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])|(?<=[!?])\s+|\s+-{2,}\s+|\s*;\s+(?=I\b)")
_QUOTE_MARK = re.compile('["\u201c\u201d]')
_SENTENCE_END_KEEP = re.compile(f"({_SENTENCE_END.pattern})")
_WHITESPACE = re.compile(r"\s+")
# The word before a full stop that may be an abbreviation rather than the end
# of a sentence: "Ms", "e.g", "p.m", "U.S", an initial. Bounded: the
# splitter looks at most _ABBREVIATION_LOOK characters back and ahead.
_ABBREVIATION_LOOK = 16
_ABBREVIATION_TAIL = re.compile(r"(?:^|[\s(\[\"'/-])([A-Za-z]{1,7}(?:\.[A-Za-z]{1,2}){0,3})\.$")
#: A full stop after these never ends a sentence: a title comes before a
#: name ("I shall forward your message to Ms. Patrick"), the Latin ones
#: before an example.
_NEVER_FINAL = frozenset(
    "mr mrs ms messrs mssrs dr prof sen rep gov hon rev capt lt sgt approx appr vs cf viz e.g i.e".split()
)
#: A full stop after these ends a sentence unless a number follows
#: ("on Sept. 7", "No. 5", "Wed. 3/14") - or, for days, a month ("Fri. Dec. 7").
_BEFORE_NUMBER = frozenset(
    "jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun "
    "no nos ext fig vol pp sec art para".split()
)
_MONTH_AHEAD = re.compile(r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\b\.?")
#: "at 3 p.m. Central time" goes on; "at 3 p.m. Please call" is a new sentence.
_ZONE_AHEAD = re.compile(
    r"(?:Central|Eastern|Mountain|Pacific|Houston|London|New\s+York|[CEMP][SD]T|GMT|BST|CET)\b"
)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "`": "'"})

#: Cheap cue for a first-person commitment; sentences without one never
#: reach the parser.
_CUE = re.compile(
    r"\b(?:i|we)\b(?:[^.!?]{0,40}?)(?:'ll\b|\b(?:will|shall|wil|going\s+to|gonna|plan|planning|intend)\b)"
    r"|\bwe\s+(?:\w+\s+)?(?:should|need|must|ought|have\s+to|got\s+to)\b"
    r"|\b(?:i|we)\s+should\s+be\s+able\b"
    r"|\blet(?:'s|\s+us)\b|^\W*lets\b|\blet\s+me\s+(?!know\b)"
    r"|^\W*(?:\w+\W+)?will\s+[a-z]"
    # "Redline of this document will follow."
    r"|\bwill\s+follow\b"
    # "Those items will be sent to you tomorrow."
    r"|\bwill\s+be\s+(?:sent|forwarded|faxed|e-?mailed|mailed|delivered|provided|distributed|circulated|overnighted)\b",
    re.IGNORECASE,
)


_BARE_LETS = re.compile(r"^(\W*)lets\b", re.IGNORECASE)
#: "e-mail", "e:mail" (a Lotus Notes habit), "e mail": the tagger reads
#: "e:mail" as a noun and "e-mail" as an adjective, so "I will e:mail you"
#: had no verb to commit to.
_E_MAIL = re.compile(r"\b(e)[-: ]?(mail)", re.IGNORECASE)


def split_sentences(text: str) -> list[str]:
    """Split cleaned mail text into sentences, whitespace collapsed.

    Hard-wrapped lines of a paragraph are joined; list items and quoted
    lines (``>``) are kept apart, quoted lines dropped.
    """
    return [sentence for sentence, _spoken in _sentences(text)]


def _sentences(text: str) -> list[tuple[str, bool]]:
    """`split_sentences` with, for each sentence, whether it starts inside quotation marks.

    A sentence that starts inside a quotation closed later in its paragraph
    is someone else's speech - the dialogue of a pasted joke ("I'll give you
    back 10 years," said the monkey), a quoted message - never a promise of
    the author's.
    """
    sentences: list[tuple[str, bool]] = []
    for paragraph in _PARAGRAPH_BREAK.split(text[:MAX_TEXT_CHARS]):
        units: list[str] = []
        for line in paragraph.splitlines():
            if _QUOTE_LINE.match(line):
                continue
            # A line ending in a colon introduces a block (an address, a
            # list, a table) that is not part of its sentence.
            if not units or _LIST_ITEM.match(line) or units[-1].rstrip().endswith(":"):
                units.append(line)
            else:
                units[-1] += " " + line
        for unit in units:
            unit = _WHITESPACE.sub(" ", unit).strip()
            if not unit:
                continue
            spans = _speech_spans(unit)
            for part, start in _split_unit(unit):
                part = part.strip()
                if part:
                    sentences.append((part, any(opened < start < closed for opened, closed in spans)))
    return sentences


def _speech_spans(unit: str) -> list[tuple[int, int]]:
    """(opening, closing) positions of the quotations in `unit`.

    A straight quote opens after a space and before a word, and closes
    after a word and before a space or punctuation; one that fits neither
    (the inch mark of '12" pipe' outside a quotation) is ignored, and a
    quotation never closed counts for nothing.
    """
    if '"' not in unit and "\u201c" not in unit:
        return []
    spans: list[tuple[int, int]] = []
    opened: int | None = None
    for mark in _QUOTE_MARK.finditer(unit):
        index = mark.start()
        before = unit[index - 1] if index else " "
        after = unit[index + 1] if index + 1 < len(unit) else " "
        if opened is None:
            if mark.group() == "\u201c" or (mark.group() == '"' and before in " ([" and not after.isspace()):
                opened = index
        elif mark.group() == "\u201d" or (mark.group() == '"' and not before.isspace() and after in " .,;:!?)]"):
            spans.append((opened, index))
            opened = None
    return spans


def _split_unit(unit: str) -> list[tuple[str, int]]:
    """Split one whitespace-collapsed line or paragraph at sentence ends, not at abbreviations.

    Returns each sentence with its position in `unit`.
    """
    # Split in C keeping the separators, then glue back the few pieces
    # that end in an abbreviation: a Python loop over every match cost
    # more than the rest of the splitting.
    pieces = _SENTENCE_END_KEEP.split(unit)
    parts = [(pieces[0], 0)]
    position = len(pieces[0])
    for index in range(1, len(pieces) - 1, 2):
        separator, following = pieces[index] or "", pieces[index + 1]
        start = position + len(separator)
        last, last_start = parts[-1]
        if last.endswith(".") and separator[:1].isspace() and _abbreviation_before(last, following):
            parts[-1] = (last + separator + following, last_start)
        else:
            parts.append((following, start))
        position = start + len(following)
    return parts


def _abbreviation_before(text: str, ahead: str) -> bool:
    """True if the full stop ending `text` closes an abbreviation, judged by the text `ahead`."""
    found = _ABBREVIATION_TAIL.search(text[-_ABBREVIATION_LOOK:])
    if found is None:
        return False
    word = found.group(1)
    lowered = word.lower()
    ahead = ahead[:_ABBREVIATION_LOOK]
    if lowered in _NEVER_FINAL:
        return True
    if len(word) == 1:
        # An initial ("J. Smith"); a lone "I." is the pronoun ending a sentence.
        return word.isupper() and word != "I"
    if lowered in _BEFORE_NUMBER:
        return ahead[:1].isdigit() or (
            lowered[:3] in {"mon", "tue", "wed", "thu", "fri", "sat", "sun"} and bool(_MONTH_AHEAD.match(ahead))
        )
    if lowered in {"a.m", "p.m"}:
        return bool(_ZONE_AHEAD.match(ahead))
    return False


def candidate_sentences(text: str) -> list[str]:
    """The sentences of `text` worth parsing: those with a commitment cue."""
    return [
        sentence
        for sentence, spoken in _sentences(text)
        if not spoken and len(sentence) <= MAX_SENTENCE_CHARS and _CUE.search(sentence.translate(_APOSTROPHES))
    ]


def _parse_text(sentence: str) -> str:
    """The form of a sentence the parser sees: plain apostrophes, a final stop."""
    # "Lets meet" without its apostrophe parses as a plural noun subject.
    text = _BARE_LETS.sub(r"\1Let's", sentence.translate(_APOSTROPHES))
    text = _E_MAIL.sub(r"\1\2", text)
    return text if text[-1:] in ".!?" else text + "."


# --------------------------------------------------------------------------
# Records

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


# --------------------------------------------------------------------------
# The extractor


class PromiseExtractor:
    """Finds promises in already-cleaned fresh text of sent mail.

    The spaCy pipeline is loaded once per process and shared between
    extractors; patterns and the re-scorer's model are read and validated
    when the extractor is made.

    :param model: spaCy pipeline package name.
    :param patterns: a JSONL pattern file; the bundled one by default.
    :param scorer: the re-scorer's model file (the bundled one by default),
        or False for the hand-written veto rules alone (a baseline for
        benchmarks).
    :param threshold: overrides the decision threshold.
    :param encoder: the fine-tuned sentence encoder's adapter file (the
        bundled one by default), or False to decide with the re-scorer
        alone. Used only with a re-scorer; its judgement and the
        re-scorer's are combined by `PromiseCombination`.
    :param combination: the combination file (the bundled one by default).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        patterns: str | Path | None = None,
        scorer: str | Path | Literal[False] | None = None,
        threshold: float | None = None,
        encoder: str | Path | Literal[False] | None = None,
        combination: str | Path | None = None,
    ) -> None:
        self.model = model
        self.nlp = load_pipeline(model)
        self.rows = load_patterns(patterns)
        self.matcher = PromiseMatcher(self.rows, self.nlp)
        self.scorer: PromiseModel | None = None if scorer is False else load_model(scorer)
        self.encoder: SentenceClassifier | None = None
        self.combination: PromiseCombination | None = None
        if self.scorer is not None and encoder is not False:
            self.encoder = load_classifier(encoder)
            self.combination = load_combination(combination, self.scorer.source, encoder or bundled_adapter())
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be from 0 to 1, not {threshold!r}")
        if threshold is not None:
            self.threshold = threshold
        elif self.combination is not None:
            self.threshold = self.combination.threshold
        else:
            self.threshold = self.scorer.threshold if self.scorer else 0.5

    def matches(self, doc: Doc) -> list[SentenceMatch]:
        """The promises of one parsed candidate text: the re-scorer's (and
        encoder's) choice, or the hand-written vetoes' without a model."""
        return self.judge([doc])[0]

    def judge(self, docs: Sequence[Doc]) -> list[list[SentenceMatch]]:
        """`matches` for many parsed candidate texts; the encoder runs once,
        batched, over every sentence that needs it."""
        if self.scorer is None:
            return [self.matcher.match(doc) for doc in docs]
        return [
            choose(found, probabilities, self.threshold) if found else []
            for found, probabilities in self.scores(docs)
        ]

    def scores(self, docs: Sequence[Doc]) -> list[tuple[list[Commitment], list[float]]]:
        """Each doc's rescorable commitments with the probability the
        decision uses: the re-scorer's, combined with the encoder's judgement
        of the doc's text (one candidate sentence) when there is an encoder.

        A commitment the encoder could not lift to the threshold whatever
        it said (`PromiseCombination.reachable`) gets its combined
        probability with the encoder's lowest score, without running it.
        """
        if self.scorer is None:
            raise ValueError("scores need a re-scorer")
        scorer = self.scorer
        per_doc = [self.matcher.rescorable(doc) for doc in docs]
        rule_probabilities = [[scorer.probability(commitment_features(c)) for c in found] for found in per_doc]
        combination, encoder = self.combination, self.encoder
        if combination is None or encoder is None:
            return list(zip(per_doc, rule_probabilities, strict=True))
        # The encoder judges the whole candidate sentence, as it was trained:
        # spaCy may split "If you need it, let me know and I will forward
        # it." in two, and "and I will forward it." alone is a promise.
        wanted: dict[int, str] = {}
        for number, probabilities in enumerate(rule_probabilities):
            if any(combination.reachable(probability, self.threshold) for probability in probabilities):
                wanted[number] = docs[number].text
        # Mail repeats itself (greetings, sign-offs, forwarded lines): each
        # distinct text is scored once.
        texts = list(dict.fromkeys(wanted.values()))
        by_text = dict(zip(texts, encoder.logits(texts), strict=True))
        results: list[tuple[list[Commitment], list[float]]] = []
        for number, (found, probabilities) in enumerate(zip(per_doc, rule_probabilities, strict=True)):
            combined = []
            text = wanted.get(number)
            for probability in probabilities:
                if text is None or not combination.reachable(probability, self.threshold):
                    combined.append(combination.probability(probability, -combination.encoder_clip))
                else:
                    combined.append(combination.probability(probability, by_text[text]))
            results.append((found, combined))
        return results

    def extract(self, text: str, sent_at: datetime | None = None) -> list[PromiseCandidate]:
        """The promises in one message's fresh text, in text order.

        :param text: cleaned fresh text (no quotes, no signature).
        :param sent_at: when it was sent; due dates are resolved against it
            and are None without it.
        """
        return next(self.extract_many([(text, sent_at)]))

    def extract_many(
        self, items: Iterable[tuple[str, datetime | None]], *, batch_size: int = 256
    ) -> Iterator[list[PromiseCandidate]]:
        """Like `extract` for many messages, parsing them in batches; order kept.

        Messages are consumed lazily, `CHUNK_MESSAGES` at a time, so memory
        stays flat over any number of messages.
        """
        chunk: list[tuple[str, datetime | None]] = []
        for item in items:
            chunk.append(item)
            if len(chunk) >= CHUNK_MESSAGES:
                yield from self._extract_chunk(chunk, batch_size)
                chunk = []
        if chunk:
            yield from self._extract_chunk(chunk, batch_size)

    def _extract_chunk(
        self, chunk: Sequence[tuple[str, datetime | None]], batch_size: int
    ) -> list[list[PromiseCandidate]]:
        jobs: list[tuple[int, str]] = []
        for index, (text, _sent_at) in enumerate(chunk):
            for sentence in candidate_sentences(text or ""):
                jobs.append((index, sentence))
        results: list[list[PromiseCandidate]] = [[] for _ in chunk]
        parsed = self.nlp.pipe((_parse_text(sentence) for _, sentence in jobs), batch_size=batch_size)
        # Judged JUDGE_DOCS at a time: enough for the encoder to batch by
        # length, and a bound on the parsed docs held however many candidate
        # sentences a chunk of (hostile) mail has.
        for start in range(0, len(jobs), JUDGE_DOCS):
            part = jobs[start : start + JUDGE_DOCS]
            docs = list(itertools.islice(parsed, len(part)))
            for (index, sentence), doc, matches in zip(part, docs, self.judge(docs), strict=True):
                sent_at = chunk[index][1]
                for found in matches:
                    results[index].append(self._candidate(found, sentence, doc, sent_at))
        return results

    @staticmethod
    def _rule_confidence(found: SentenceMatch) -> float:
        """Without a model: the rule's share of true promises, capped for the fallback kind."""
        if found.kind_rule is not None:
            return found.rule.confidence
        return min(found.rule.confidence, FALLBACK_CONFIDENCE)

    def _candidate(
        self, found: SentenceMatch, sentence: str, doc: Doc, sent_at: datetime | None
    ) -> PromiseCandidate:
        # Usually the whole candidate is one sentence; when spaCy split it
        # further, report only the part holding the promise.
        whole = found.sentence.start == 0 and found.sentence.end == len(doc)
        text = sentence if whole else found.sentence.text
        due, due_text, due_span = None, None, None
        if sent_at is not None:
            due, due_text = resolve_due(found.sentence.text, sent_at)
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
            confidence=found.probability if found.probability is not None else self._rule_confidence(found),
            rule_id=found.rule.id,
            named_person=_named_person(found.action, due_span),
        )


# --------------------------------------------------------------------------
# kept extract --jsonl


def _parse_sent_at(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("'sent_at' must be an ISO 8601 string")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def _promise_json(candidate: PromiseCandidate) -> dict[str, Any]:
    due: date | None = candidate.due
    return {
        "sentence": candidate.sentence,
        "action": candidate.action,
        "kind": candidate.kind,
        "due": due.isoformat() if due is not None else None,
        "confidence": round(candidate.confidence, 3),
    }


def run_extract_jsonl(
    infile: TextIO,
    outfile: TextIO,
    *,
    model: str = DEFAULT_MODEL,
    clean: Callable[[str], str],
    extractor: PromiseExtractor | None = None,
    chunk_size: int = CHUNK_MESSAGES,
) -> int:
    """``kept extract --jsonl``: one JSON line of promises per JSON line of mail.

    Input lines are ``{"id": ..., "body": ..., "sent_at": ISO-8601}``
    (``sent_at`` optional); output lines, in input order, are
    ``{"id": ..., "promises": [{"sentence", "action", "kind", "due",
    "confidence"}]}``. A line that cannot be used (bad JSON, no body, a
    cleaning failure) gives ``{"id": ..., "promises": [], "error": ...}``
    and the run goes on. Blank lines are skipped. Lines are handled in
    chunks and the output is flushed after each, so memory stays flat.

    :param clean: turns a raw body into fresh text (the daemon's cleaning).
    :param extractor: an existing extractor to reuse; one is made from
        `model` otherwise.
    :returns: the number of lines answered.
    """
    extractor = extractor or PromiseExtractor(model)
    processed = 0
    chunk: list[str] = []

    def flush(lines: list[str]) -> None:
        records: list[dict[str, Any]] = []
        work: list[tuple[int, str, datetime | None]] = []
        for line in lines:
            record: dict[str, Any] = {"id": None, "promises": []}
            records.append(record)
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise ValueError("line is not a JSON object")
                record["id"] = item.get("id")
                body = item.get("body")
                if not isinstance(body, str):
                    raise ValueError("'body' must be a string")
                sent_at = _parse_sent_at(item.get("sent_at"))
                work.append((len(records) - 1, clean(body), sent_at))
            except Exception as exc:  # one bad line must never end the run
                record["error"] = f"{type(exc).__name__}: {exc}"[:300]
        try:
            outputs = list(extractor.extract_many((text, sent_at) for _, text, sent_at in work))
        except Exception:
            logger.warning("extraction of a chunk failed; retrying its messages one by one", exc_info=True)
            outputs = []
            for position, text, sent_at in work:
                try:
                    outputs.append(extractor.extract(text, sent_at))
                except Exception as exc:
                    outputs.append([])
                    records[position]["error"] = f"{type(exc).__name__}: {exc}"[:300]
        for (position, _, _), promises in zip(work, outputs, strict=True):
            records[position]["promises"] = [_promise_json(candidate) for candidate in promises]
        for record in records:
            outfile.write(json.dumps(record, ensure_ascii=False) + "\n")
        outfile.flush()

    for line in infile:
        if not line.strip():
            continue
        chunk.append(line)
        if len(chunk) >= chunk_size:
            flush(chunk)
            processed += len(chunk)
            chunk = []
    if chunk:
        flush(chunk)
        processed += len(chunk)
    return processed
