"""The promise encoder as an ONNX graph, built from kept's merged weights.

`kept.extractors.encoder` merges the adapter into the base weights; this
module writes those weights and the forward pass as an ONNX model that ONNX
Runtime executes. The graph is built here, from the pinned base package and
the shipped adapter, rather than exported by the training framework: the
repository ships no multi-megabyte graph, and the same inputs always give
the same graph (no training venv needed to rebuild it).

The layers use ONNX Runtime's fused transformer operators (``Attention``,
``SkipLayerNormalization``, ``FastGelu``: the tanh form of GELU the adapter
was trained with). A quantisation scheme (`SCHEMES`) says how the weights of
each dense layer are stored and multiplied:

* float32 (``MatMul``);
* ``dynamic``: int8 per output column, activations quantised to uint8 per
  call as one tensor (``DynamicQuantizeMatMul``, what ONNX Runtime's
  ``quantize_dynamic`` produces);
* ``blocksN``: int8 per block of N inputs of each output column, activations
  quantised per block at run time too and multiplied in int8
  (``MatMulNBits`` with 8 bits, accuracy level 4). The finer scales keep the
  few large hidden dimensions BERT's layer norms produce from swamping the
  rest, which one scale per tensor does not.

The embeddings, layer norms, attention scores and head stay float.

This is the only module of kept that imports ``onnx``, and only to build:
`kept.extractors.encoder` keeps the built graph in a cache file, so a normal
start reads that file and never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["GRAPH_VERSION", "DENSE_LAYERS", "SCHEMES", "EncoderWeights", "LayerWeights", "build_graph"]

#: Bumped whenever the graph this module builds changes; part of the cache key.
GRAPH_VERSION = "1"
#: The dense layers of each transformer layer: the fused query/key/value
#: projection, the attention output and the two feed-forward layers.
DENSE_LAYERS = ("qkv", "attention_out", "intermediate", "output")
#: How each runtime stores the dense layers (absent: float32). See
#: docs/benchmarks.md for what each measured.
SCHEMES: dict[str, dict[str, str]] = {
    "fp32": {},
    "int8": dict.fromkeys(DENSE_LAYERS, "dynamic"),
    "int8-blocks": dict.fromkeys(DENSE_LAYERS, "blocks32"),
}

Array = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class LayerWeights:
    """One transformer layer, linear weights stored transposed (in x out).

    :ivar attention_in: query, key and value side by side (in x 3*hidden),
        the query part pre-scaled by 1/sqrt(head size).
    """

    attention_in: tuple[Array, Array]
    attention_out: tuple[Array, Array]
    attention_norm: tuple[Array, Array]
    intermediate: tuple[Array, Array]
    output: tuple[Array, Array]
    output_norm: tuple[Array, Array]


@dataclass(frozen=True, slots=True)
class EncoderWeights:
    """The adapter merged into the base model: everything the forward pass reads.

    :ivar word: the word embedding table in float16 (most of the model).
    :ivar token_type: the one token-type row every input uses.
    :ivar head: the classification head's weight vector and bias.
    """

    word: npt.NDArray[np.float16]
    position: Array
    token_type: Array
    embedding_norm: tuple[Array, Array]
    layers: Sequence[LayerWeights]
    head: tuple[Array, float]
    heads: int
    eps: float

    @property
    def hidden(self) -> int:
        """The model's width (384 for MiniLM-L6)."""
        return int(self.word.shape[1])


def _quantise_columns(weight: Array) -> tuple[npt.NDArray[np.int8], Array]:
    """Symmetric int8 per output column: ``weight ~= q * scale``."""
    scale = (np.maximum(np.abs(weight).max(axis=0), np.float32(1e-12)) / np.float32(127.0)).astype(np.float32)
    quantised = np.clip(np.rint(weight / scale), -127, 127).astype(np.int8)
    return quantised, scale


def _quantise_blocks(weight: Array, block: int) -> tuple[npt.NDArray[np.uint8], Array]:
    """Symmetric 8-bit per block of `block` inputs of each output column, in
    ``MatMulNBits`` layout: (out, blocks, block) unsigned with zero point 128."""
    inputs, outputs = weight.shape
    blocks = -(-inputs // block)
    padded = np.zeros((blocks * block, outputs), np.float32)
    padded[:inputs] = weight
    grouped = padded.T.reshape(outputs, blocks, block)
    scale = np.maximum(np.abs(grouped).max(axis=-1), np.float32(1e-12)) / np.float32(127.0)
    quantised = np.clip(np.rint(grouped / scale[..., None]), -127, 127).astype(np.int16) + 128
    return quantised.astype(np.uint8), scale.astype(np.float32).reshape(-1)


def build_graph(weights: EncoderWeights, scheme: Mapping[str, str]) -> bytes:
    """The serialised ONNX model computing the head's logit for each row.

    Inputs ``input_ids`` (int64, batch x width) and ``attention_mask``
    (float32, 1 for a token and 0 for padding, padding on the right);
    output ``logits`` (float32, batch).

    :param scheme: how each of `DENSE_LAYERS` is quantised (absent: float32),
        one of `SCHEMES`' values.
    """
    # Imported here, not at the top: only a cache miss builds a graph, and
    # onnx takes longer to import than the whole cached load.
    from onnx import TensorProto, helper, numpy_helper

    initializers = []
    nodes = []

    def constant(name: str, value: npt.NDArray[np.generic]) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: Sequence[str], output: str, *, contrib: bool = False, **attributes: Any) -> str:
        domain = "com.microsoft" if contrib else ""
        nodes.append(helper.make_node(op, list(inputs), [output], domain=domain, **attributes))
        return output

    def dense(name: str, kind: str, value: str, weight: Array) -> str:
        """``value @ weight`` (the bias goes into the operator that follows)."""
        how = scheme.get(kind)
        if how is not None and how.startswith("blocks"):
            blockwise = int(how.removeprefix("blocks"))
            blocks, scale = _quantise_blocks(weight, blockwise)
            return node(
                "MatMulNBits",
                [value, constant(name + ".q", blocks), constant(name + ".scale", scale)],
                name + ".y", contrib=True, K=weight.shape[0], N=weight.shape[1], bits=8, block_size=blockwise,
                accuracy_level=4,
            )  # fmt: skip
        if how == "dynamic":
            quantised, scale = _quantise_columns(weight)
            return node(
                "DynamicQuantizeMatMul",
                [value, constant(name + ".q", quantised), constant(name + ".scale", scale)],
                name + ".y",
                contrib=True,
            )
        if how is not None:
            raise ValueError(f"unknown quantisation {how!r} for {kind}")
        return node("MatMul", [value, constant(name + ".w", weight)], name + ".y")

    hidden, eps = weights.hidden, weights.eps
    # Embeddings: word (float16 table, as the NumPy pass keeps it) + position + token type.
    word = node("Gather", [constant("word", weights.word), "input_ids"], "word16")
    word = node("Cast", [word], "word32", to=TensorProto.FLOAT)
    width = node("Shape", ["input_ids"], "width", start=1, end=2)
    zero = constant("zero", np.array([0], np.int64))
    position = node("Slice", [constant("position", weights.position), zero, width, zero], "position.rows")
    position = node("Add", [position, constant("token_type", weights.token_type)], "position.token_type")
    x = node(
        "SkipLayerNormalization",
        [word, position, constant("embedding.gamma", weights.embedding_norm[0]),
         constant("embedding.beta", weights.embedding_norm[1])],
        "embedded", contrib=True, epsilon=eps,
    )  # fmt: skip
    mask_index = node("Cast", ["attention_mask"], "mask.int32", to=TensorProto.INT32)
    splits = constant("qkv.splits", np.array([hidden, hidden, hidden], np.int64))
    for number, layer in enumerate(weights.layers):
        prefix = f"layer{number}."
        qkv_weight, qkv_bias = layer.attention_in
        if scheme.get("qkv"):
            fused = dense(prefix + "qkv", "qkv", x, qkv_weight)
            fused = node("Add", [fused, constant(prefix + "qkv.bias", qkv_bias)], prefix + "qkv.biased")
            parts = [prefix + "query", prefix + "key", prefix + "value"]
            nodes.append(helper.make_node("Split", [fused, splits], parts, axis=2))
            context = node(
                "MultiHeadAttention", [*parts, "", mask_index], prefix + "context",
                contrib=True, num_heads=weights.heads, scale=1.0,
            )  # fmt: skip
        else:
            context = node(
                "Attention",
                [x, constant(prefix + "qkv.w", qkv_weight), constant(prefix + "qkv.bias", qkv_bias), mask_index],
                prefix + "context", contrib=True, num_heads=weights.heads, scale=1.0,
            )  # fmt: skip
        # The query weights are pre-scaled by 1/sqrt(head size): scale=1.0 above.
        attended = dense(prefix + "attention_out", "attention_out", context, layer.attention_out[0])
        x = node(
            "SkipLayerNormalization",
            [attended, x, constant(prefix + "attention_norm.gamma", layer.attention_norm[0]),
             constant(prefix + "attention_norm.beta", layer.attention_norm[1]),
             constant(prefix + "attention_out.bias", layer.attention_out[1])],
            prefix + "attention.normed", contrib=True, epsilon=eps,
        )  # fmt: skip
        inner = dense(prefix + "intermediate", "intermediate", x, layer.intermediate[0])
        inner = node(
            "FastGelu", [inner, constant(prefix + "intermediate.bias", layer.intermediate[1])],
            prefix + "gelu", contrib=True,
        )  # fmt: skip
        outer = dense(prefix + "output", "output", inner, layer.output[0])
        x = node(
            "SkipLayerNormalization",
            [outer, x, constant(prefix + "output_norm.gamma", layer.output_norm[0]),
             constant(prefix + "output_norm.beta", layer.output_norm[1]),
             constant(prefix + "output.bias", layer.output[1])],
            prefix + "output.normed", contrib=True, epsilon=eps,
        )  # fmt: skip
    # Mean over the real tokens, then the one-unit head.
    mask3 = node("Unsqueeze", ["attention_mask", constant("axis2", np.array([2], np.int64))], "mask3")
    masked = node("Mul", [x, mask3], "masked")
    axis1 = constant("axis1", np.array([1], np.int64))
    summed = node("ReduceSum", [masked, axis1], "summed", keepdims=0)
    count = node("ReduceSum", ["attention_mask", axis1], "count", keepdims=1)
    count = node("Max", [count, constant("one", np.array(1.0, np.float32))], "count.at_least_one")
    pooled = node("Div", [summed, count], "pooled")
    head_weight, head_bias = weights.head
    score = node("MatMul", [pooled, constant("head.w", head_weight.reshape(-1, 1))], "head.y")
    score = node("Add", [score, constant("head.bias", np.array([head_bias], np.float32))], "head.biased")
    node("Squeeze", [score, axis1], "logits")

    graph = helper.make_graph(
        nodes,
        "kept-promise-encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "width"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", "width"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch"])],
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
        producer_name="kept",
        producer_version=GRAPH_VERSION,
    )
    serialised: bytes = model.SerializeToString()
    return serialised
