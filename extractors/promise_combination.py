"""How the re-scorer's and the encoder's judgements of a commitment become
one calibrated probability (`PromiseCombination`, ``patterns/promise_combination.json``).

The encoder itself is `kept.extractors.encoder`; the re-scorer is
`kept.extractors.promise_scorer`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from kept.extractors.promise_scorer import PromiseModelError, _finite

__all__ = [
    "COMBINATION_FORMAT",
    "COMBINATION_VERSION",
    "PromiseCombination",
    "file_sha256",
    "load_combination",
    "logit",
]


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
    logistic regression fitted by ``training/fit_promise_combination.py``
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
                hint="refit it: make train-encoder (or training/fit_promise_combination.py --fold ...)",
            )
    return PromiseCombination(
        scorer_weight=float(raw["scorer_weight"]), encoder_weight=float(raw["encoder_weight"]),
        bias=float(raw["bias"]), encoder_clip=float(raw["encoder_clip"]), threshold=float(raw["threshold"]),
        scorer_sha256=raw["scorer_sha256"], encoder_sha256=raw["encoder_sha256"],
        fit=raw["fit"] if isinstance(raw["fit"], dict) else {},
    )  # fmt: skip
