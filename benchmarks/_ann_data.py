"""Datasets for the ANN benchmark: real MiniLM sentence vectors and a seeded synthetic mixture.

Each dataset is written once under ``<repo>/.bench-cache/ann/`` as ``vectors.npy``,
``queries.npy`` and ``truth.npy`` (exact top-k ids), so every benchmark subprocess memory-maps
the same files instead of regenerating them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

CACHE = Path(__file__).resolve().parents[1] / ".bench-cache" / "ann"
K = 10


def clustered_vectors(n: int, dim: int = 384, seed: int = 0, chunk: int = 65536) -> np.ndarray:
    """A mixture of Gaussians on the unit sphere, seeded (the same call gives the same vectors).

    Two levels of centres (topics, and 64 sub-topics per topic; about ``sqrt(n) / 4`` topics) plus
    noise with a power-law spectrum (variance of axis ``i`` proportional to ``1 / i``), so that
    nearest neighbours depend on a few hundred directions at very different scales, like sentence
    embeddings, instead of on pure isotropic noise (which no index can beat exact search on).
    With these weights a query's 1st/10th/100th neighbour at 100,000 vectors has cosine
    0.68/0.56/0.40, close to MiniLM sentence vectors (0.69/0.52/0.38 here).
    """
    rng = np.random.default_rng(seed)
    topics_n = max(8, round(n**0.5 / 4))
    subtopics_n = 64
    topics = rng.standard_normal((topics_n, dim)).astype(np.float32) / np.sqrt(dim)
    subtopics = rng.standard_normal((topics_n, subtopics_n, dim)).astype(np.float32) / np.sqrt(dim)
    spectrum = np.arange(1, dim + 1, dtype=np.float32) ** -0.5
    spectrum /= np.sqrt((spectrum**2).sum())
    axes, _ = np.linalg.qr(rng.standard_normal((dim, dim)).astype(np.float32))
    mixing = (axes * spectrum[None, :]).T.astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        topic = rng.integers(0, topics_n, m)
        subtopic = rng.integers(0, subtopics_n, m)
        noise = rng.standard_normal((m, dim)).astype(np.float32) @ mixing
        x = topics[topic] + subtopics[topic, subtopic] + 1.3 * noise
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int = K, chunk: int = 100_000) -> np.ndarray:
    """Exact top-``k`` row ids per query (cosine on unit rows), best first."""
    best_ids = np.zeros((len(queries), 0), dtype=np.int64)
    best_scores = np.zeros((len(queries), 0), dtype=np.float32)
    for start in range(0, len(vectors), chunk):
        scores = queries @ np.asarray(vectors[start : start + chunk], dtype=np.float32).T
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        best_ids = np.concatenate([best_ids, top + start], axis=1)
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        keep = np.argsort(-best_scores, axis=1, kind="stable")[:, :k]
        best_ids = np.take_along_axis(best_ids, keep, axis=1)
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
    return best_ids


def prepare(name: str, n: int | None, n_queries: int) -> Path:
    """Write (once) and return the folder of dataset ``name`` (``real`` or ``synthetic``)."""
    final = CACHE / f"{name}-{n or 'all'}-{n_queries}"
    if (final / "done.json").is_file():
        return final
    # Written into a private folder and renamed into place, so two runs preparing the same
    # dataset at once (a test and a docs block) never read each other's half-written files.
    folder = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if name == "real":
        from _vectors import load_query_vectors, load_sentence_vectors

        vectors, _ = load_sentence_vectors(max_n=n or 60_000)
        queries, _ = load_query_vectors(max_n=n_queries)
    elif name == "synthetic":
        assert n is not None
        both = clustered_vectors(n + n_queries, seed=0)
        vectors, queries = both[:n], both[n:]
    else:
        raise ValueError(f"unknown dataset {name!r}")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    np.save(folder / "vectors.npy", vectors)
    np.save(folder / "queries.npy", queries)
    np.save(folder / "truth.npy", exact_top_k(vectors, queries))
    (folder / "done.json").write_text(json.dumps({
        "name": name, "n": len(vectors), "queries": len(queries), "dim": vectors.shape[1],
        "prepare_s": round(time.perf_counter() - started, 1),
    }))
    try:
        folder.rename(final)
    except OSError:  # another run finished first: keep its copy
        shutil.rmtree(folder, ignore_errors=True)
        if not (final / "done.json").is_file():
            raise
    return final


def metadata_for(i: int) -> dict:
    """The metadata every contender stores with vector ``i`` (a chunk of a file, as agentfs does)."""
    return {"path": f"/knowledge/d{i // 4000}/f{i // 8}.md", "kind": "chunk", "owner": "user:bench", "chunk": i % 8}
