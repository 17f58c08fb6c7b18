"""The learned re-scorer of promise commitments: features and model.

`commitment_features` turns a `Commitment` into binary features; a
`PromiseModel` (``patterns/promise_model.json``, read by `load_model`) turns
them into a calibrated probability, in plain Python.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kept.errors import UserError
from kept.extractors.promise_patterns import Commitment

if TYPE_CHECKING:
    from spacy.tokens import Token

__all__ = [
    "FEATURES_VERSION",
    "FLOOR_FEATURES",
    "MODEL_FORMAT_VERSION",
    "PromiseModel",
    "PromiseModelError",
    "commitment_features",
    "load_model",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------
# The learned re-scorer
#
# The pattern rows find candidate commitments with high recall; whether one
# is a promise is decided by a logistic regression over features of the
# candidate: which rows fired on it, its subject, modal and frame words, the
# action verb, negation, questions, conditions, hedges and a small lexical
# window. It is trained by ``training/train_promise_model.py`` (scikit-learn
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
