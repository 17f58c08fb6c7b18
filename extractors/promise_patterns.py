"""Promise patterns as data, and the matcher that applies them.

The rows of ``patterns/promises.jsonl`` (`load_patterns`, schema-checked into
`PatternRow`) are compiled into spaCy matchers (`PromiseMatcher`). The matcher
finds every ``COMMIT`` match with what the other rows said about it (a
`Commitment`: vetoes, kind rows, frames) and, without a learned model, makes
the hand-written decision (`PromiseMatcher.match`, giving `SentenceMatch`).
See `kept.extractors.promises` for the whole extraction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kept.errors import UserError
from kept.models import PROMISE_KINDS

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span, Token

__all__ = [
    "COMMIT_LABEL",
    "CONDITIONAL_LABEL",
    "DEFAULT_CONFIDENCE",
    "FALLBACK_CONFIDENCE",
    "FALLBACK_KIND",
    "VETO_PREFIX",
    "Commitment",
    "PatternError",
    "PatternRow",
    "PromiseMatcher",
    "SentenceMatch",
    "load_patterns",
]

COMMIT_LABEL = "COMMIT"
VETO_PREFIX = "NEG_"
DEFAULT_CONFIDENCE = 0.8


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
    :ivar hard: for ``NEG_*`` dependency rows, a veto the re-scorer never
        overrules (like a token veto): the action is the writer's own
        itinerary or inbox ("I will arrive on Monday night", "I will check
        messages during breaks"), never something owed to anyone, and the
        re-scorer's features do not tell such verbs from promises.
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
    hard: bool = False
    fallback: bool = True
    strong: bool = False
    vague: bool = False
    source: str = ""


_ROW_KEYS = {"id", "label", "pattern", "matcher", "confidence", "action", "soft", "hard", "fallback", "strong", "vague"}
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
    hard = raw.get("hard", False)
    if not isinstance(hard, bool):
        raise PatternError(f"{where}: 'hard' of row {row_id!r} must be true or false")
    if hard and not (label.startswith(VETO_PREFIX) and matcher == "dependency"):
        raise PatternError(f"{where}: 'hard' is only for dependency NEG_* rows (row {row_id!r})")
    if hard and soft:
        raise PatternError(f"{where}: row {row_id!r} cannot be both 'soft' and 'hard'")
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
        hard=hard,
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
    :ivar sentence_vetoes: ids of the hard vetoes: token ``NEG_*`` rows in
        the sentence (conditions only where their clause governs the
        action), and ``hard`` dependency rows on this action.
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
        # spaCy (0.5 s) loads with the first pipeline, see nlp
        from spacy.matcher import Matcher

        from kept.extractors.dependency_matching import NodeSharingDependencyMatcher

        self.rows = list(rows)
        self.nlp = nlp
        self._token_rows: dict[str, PatternRow] = {}
        self._dep_rows: dict[str, PatternRow] = {}
        self._row_order: dict[str, int] = {}
        self._token_matcher = Matcher(self.nlp.vocab, validate=True)
        self._dep_matcher = NodeSharingDependencyMatcher(self.nlp.vocab, validate=True)
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
        hard_vetoes: dict[int, list[str]] = {}
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
            elif row.hard:
                hard_vetoes.setdefault(action_index, []).append(row.id)
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
            hard = [*sentence_vetoes.get(action.sent.start, ()), *hard_vetoes.get(action_i, ())]
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
