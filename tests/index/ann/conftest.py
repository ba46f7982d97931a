"""Shared data for the ANN index tests: clustered unit vectors with metadata, and brute force."""

from __future__ import annotations

from typing import Any

import numpy as np

from agentfs.index.ann import BuildParams
from agentfs.index.backend import VectorFilter

DIM = 48
# Small collections still get posting lists in tests (the default is flat below 4,096 vectors).
SMALL_LISTS = BuildParams(flat_below=256, kmeans_iterations=6)

OWNERS = ("agent:a", "agent:b", "user:c")
FOLDERS = ("/doc", "/doc/sub", "/docs", "/memory/semantic", "/memory/episodic", "/knowledge", "")


def clustered(n: int, dim: int = DIM, *, seed: int = 0, clusters: int | None = None) -> np.ndarray:
    """Unit vectors around random centres with a decaying noise spectrum (not uniform noise)."""
    rng = np.random.default_rng(seed)
    clusters = clusters or max(4, int(np.sqrt(n) / 2))
    centres = rng.standard_normal((clusters, dim))
    spectrum = np.arange(1, dim + 1) ** -0.5
    noise = rng.standard_normal((n, dim)) * spectrum * (1.6 / np.sqrt((spectrum**2).sum()))
    rows = centres[rng.integers(0, clusters, n)] / np.sqrt(dim) * 1.2 + noise / np.sqrt(1.0)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def metadata(i: int) -> dict[str, Any]:
    folder = FOLDERS[i % len(FOLDERS)]
    return {"path": f"{folder}/f{i}.md", "kind": [*folder.split("/"), "root"][1] or "root",
            "owner": OWNERS[i % len(OWNERS)], "n": i}


def dataset(n: int, dim: int = DIM, seed: int = 0) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    return [f"id-{seed}-{i}" for i in range(n)], clustered(n, dim, seed=seed), [metadata(i) for i in range(n)]


def brute_force(vectors: np.ndarray, metas: list[dict[str, Any]], query: np.ndarray, k: int,
                where: VectorFilter | None = None) -> list[int]:
    """Exact top-k rows under the reference filter semantics."""
    order = np.argsort(-(vectors @ query), kind="stable")
    return [int(i) for i in order if where is None or where.matches(metas[i])][:k]


def recall(found: list[list[str]], truth: list[list[str]]) -> float:
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    total = sum(len(t) for t in truth)
    return hits / total if total else 1.0
