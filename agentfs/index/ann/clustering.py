"""Spherical k-means for the posting lists, and assignment of vectors to lists.

Lists are trained on a sample (their quality saturates long before the full collection) and every
vector is then assigned in chunks, so memory stays flat however large the collection is.

Boundary replication (SPANN): a vector that lies almost as close to its second (third, ...)
centroid as to its first is also stored in that list, so a query that lands on the other side of a
boundary still finds it without probing more lists. "Almost as close" is the SPANN closure rule on
Euclidean distances between unit vectors: ``d(x, c_j) <= (1 + eps) * d(x, c_1)``.
"""

from __future__ import annotations

import numpy as np

# Rows per matrix product during assignment: 8,192 x 4,096 float32 scores is 128 MiB.
_CHUNK = 8192


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0).astype(np.float32)


def spherical_kmeans(
    vectors: np.ndarray, n_clusters: int, *, iterations: int = 12, sample: int = 200_000, seed: int = 0
) -> np.ndarray:
    """Unit-length centroids of ``n_clusters`` clusters of unit vectors (cosine k-means).

    Args:
        vectors: ``(n, d)`` unit rows.
        n_clusters: Number of clusters (at most ``n``).
        iterations: Lloyd iterations.
        sample: Train on at most this many rows, drawn at random.
        seed: Seed of the sample and of the initial centroids.

    Returns:
        ``(n_clusters, d)`` float32 unit rows.
    """
    rng = np.random.default_rng(seed)
    n = len(vectors)
    n_clusters = max(1, min(n_clusters, n))
    if n > sample:
        train = np.asarray(vectors[np.sort(rng.choice(n, sample, replace=False))], dtype=np.float32)
    else:
        train = np.asarray(vectors, dtype=np.float32)
    centroids = train[rng.choice(len(train), n_clusters, replace=False)].copy()
    for _ in range(iterations):
        labels = assign_nearest(train, centroids)
        counts = np.bincount(labels, minlength=n_clusters)
        # Sums per cluster by sorting once and reducing contiguous runs: np.add.at is ~50x slower.
        order = np.argsort(labels, kind="stable")
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        filled = counts > 0
        sums = np.zeros_like(centroids)
        sums[filled] = np.add.reduceat(train[order], starts[filled], axis=0)
        # An empty cluster restarts on a random training row rather than staying dead.
        empty = np.flatnonzero(~filled)
        if len(empty):
            sums[empty] = train[rng.choice(len(train), len(empty), replace=False)]
        centroids = normalize_rows(sums)
    return centroids


def assign_nearest(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the most similar centroid of each row (chunked matrix products)."""
    out = np.empty(len(vectors), dtype=np.int32)
    for start in range(0, len(vectors), _CHUNK):
        block = np.asarray(vectors[start : start + _CHUNK], dtype=np.float32)
        out[start : start + len(block)] = np.argmax(block @ centroids.T, axis=1)
    return out


def assign_with_replicas(
    vectors: np.ndarray, centroids: np.ndarray, *, replicas: int = 2, epsilon: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assign each row to its nearest list and, by the closure rule, to up to ``replicas - 1`` more.

    Args:
        vectors: ``(n, d)`` unit rows.
        centroids: ``(n_lists, d)`` unit rows.
        replicas: Most lists a vector may be stored in.
        epsilon: Closure tolerance (0 disables replication).

    Returns:
        ``(primary, entry_rows, entry_lists)``: the nearest list of each row, and one
        ``(row, list)`` pair per stored entry (primary entries included).
    """
    n = len(vectors)
    replicas = max(1, min(replicas, len(centroids)))
    primary = np.empty(n, dtype=np.int32)
    rows_out: list[np.ndarray] = []
    lists_out: list[np.ndarray] = []
    tolerance = (1.0 + epsilon) ** 2
    for start in range(0, n, _CHUNK):
        block = np.asarray(vectors[start : start + _CHUNK], dtype=np.float32)
        scores = block @ centroids.T
        if replicas == 1 or epsilon <= 0:
            best = np.argmax(scores, axis=1).astype(np.int32)
            primary[start : start + len(block)] = best
            rows_out.append(np.arange(start, start + len(block), dtype=np.int32))
            lists_out.append(best)
            continue
        top = np.argpartition(-scores, replicas - 1, axis=1)[:, :replicas]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1)
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        # Squared distance between unit vectors is 2 - 2 cos.
        distances = np.maximum(2.0 - 2.0 * top_scores, 0.0)
        keep = distances <= tolerance * distances[:, :1]
        keep[:, 0] = True
        primary[start : start + len(block)] = top[:, 0]
        rows_out.append(np.repeat(np.arange(start, start + len(block), dtype=np.int32), keep.sum(axis=1)))
        lists_out.append(top[keep].astype(np.int32))
    if not rows_out:
        return primary, np.zeros(0, np.int32), np.zeros(0, np.int32)
    return primary, np.concatenate(rows_out), np.concatenate(lists_out)
