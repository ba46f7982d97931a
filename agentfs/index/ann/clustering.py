"""Spherical k-means for the posting lists, and assignment of vectors to lists.

Lists are trained on a sample (their quality saturates long before the full collection) and every
vector is then assigned in chunks, so memory stays flat however large the collection is.

Boundary replication (SPANN): a vector that lies almost as close to its second (third, ...)
centroid as to its first is also stored in that list, so a query that lands on the other side of a
boundary still finds it without probing more lists. "Almost as close" is the SPANN closure rule on
Euclidean distances between unit vectors: ``d(x, c_j) <= (1 + eps) * d(x, c_1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
        filled = counts > 0
        sums = cluster_sums(train, labels, n_clusters)
        # An empty cluster restarts on a random training row rather than staying dead.
        empty = np.flatnonzero(~filled)
        if len(empty):
            sums[empty] = train[rng.choice(len(train), len(empty), replace=False)]
        centroids = normalize_rows(sums)
    return centroids


def cluster_sums(rows: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sum of the rows of each cluster, as ``(n_clusters, d)`` float32.

    A one-hot matrix product per chunk of rows: it costs as many flops as one assignment pass and
    runs in BLAS. ``np.add.at`` is ~50x slower, and ``np.add.reduceat`` along axis 0 walks the
    rows column by column (~3 ms for a thousand 384-d rows).
    """
    sums = np.zeros((n_clusters, rows.shape[1]), dtype=np.float32)
    # Chunks keep the one-hot matrix near 32 MiB whatever the number of clusters.
    chunk = max(256, (8 << 20) // max(1, n_clusters))
    for start in range(0, len(rows), chunk):
        block = labels[start : start + chunk]
        one_hot = np.zeros((n_clusters, len(block)), dtype=np.float32)
        one_hot[block, np.arange(len(block))] = 1.0
        sums += one_hot @ rows[start : start + chunk]
    return sums


@dataclass
class Partition:
    """Two-level list centroids: ``groups`` coarse centroids, each owning a run of fine ones.

    Attributes:
        centroids: ``(lists, d)`` fine centroids (the posting lists), grouped by coarse centroid.
        coarse: ``(groups, d)`` coarse centroids.
        group_starts: ``(groups + 1,)``: fine centroids of group ``g`` are
            ``centroids[group_starts[g]:group_starts[g + 1]]``.
    """

    centroids: np.ndarray
    coarse: np.ndarray
    group_starts: np.ndarray


def train_partition(sample: np.ndarray, lists: int, *, iterations: int = 12, seed: int = 0) -> Partition:
    """Centroids of ``lists`` posting lists, trained as ``sqrt(lists)`` coarse clusters each split
    into fine ones in proportion to its size.

    Flat k-means costs ``sample x lists`` per iteration: at 16,000 lists and 200,000 samples that is
    30 TFLOP for 12 iterations, half an hour on one core. Two levels cost ``sample x 2 sqrt(lists)``,
    ~60x less, for lists of the same quality.
    """
    sample = np.asarray(sample, dtype=np.float32)
    lists = max(1, min(lists, len(sample)))
    groups = round(np.sqrt(lists))
    if groups < 8:
        centroids = spherical_kmeans(sample, lists, iterations=iterations, sample=len(sample), seed=seed)
        return Partition(centroids, centroids, np.arange(lists + 1))
    coarse = spherical_kmeans(sample, groups, iterations=iterations, sample=len(sample), seed=seed)
    labels = assign_nearest(sample, coarse)
    counts = np.bincount(labels, minlength=groups)
    share = _allocate(counts, lists)
    fine, starts = [], [0]
    order = np.argsort(labels, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(counts)))
    for group in range(groups):
        members = sample[order[bounds[group] : bounds[group + 1]]]
        if share[group]:
            fine.append(spherical_kmeans(members, int(share[group]), iterations=iterations,
                                         sample=len(members), seed=seed + group + 1))
        starts.append(starts[-1] + int(share[group]))
    centroids = np.concatenate(fine) if fine else coarse
    return Partition(centroids, coarse, np.asarray(starts, dtype=np.int64))


def _allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` in proportion to ``counts`` (largest remainders), at most ``counts[i]`` each."""
    share = np.minimum(counts, np.floor(counts / max(1, counts.sum()) * total)).astype(np.int64)
    remainders = counts / max(1, counts.sum()) * total - share
    for index in np.argsort(-remainders):
        if share.sum() >= min(total, counts.sum()):
            break
        if share[index] < counts[index]:
            share[index] += 1
    return share


def assign_nearest(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the most similar centroid of each row (chunked matrix products)."""
    out = np.empty(len(vectors), dtype=np.int32)
    for start in range(0, len(vectors), _CHUNK):
        block = np.asarray(vectors[start : start + _CHUNK], dtype=np.float32)
        out[start : start + len(block)] = np.argmax(block @ centroids.T, axis=1)
    return out


def assign_with_replicas(
    vectors: Any, partition: Partition, *, replicas: int = 1, epsilon: float = 0.1, groups_checked: int = 3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assign each row to its nearest list and, by the closure rule, to up to ``replicas - 1`` more.

    Each row is compared with the fine centroids of its ``groups_checked`` nearest coarse groups
    only, so assignment costs ``n x (groups + groups_checked x lists per group)`` instead of
    ``n x lists``; the work is one matrix product per group over all rows that look at it.

    Args:
        vectors: ``(n, d)`` unit rows (anything that supports ``len`` and fancy indexing).
        partition: The lists.
        replicas: Most lists a vector may be stored in.
        epsilon: Closure tolerance (0 disables replication).
        groups_checked: Coarse groups searched per row.

    Returns:
        ``(primary, entry_rows, entry_lists)``: the nearest list of each row, and one
        ``(row, list)`` pair per stored entry (primary entries included).
    """
    n = len(vectors)
    count = 1 if epsilon <= 0 else max(1, min(replicas, len(partition.centroids)))
    groups = len(partition.coarse)
    checked = min(groups_checked, groups)
    near = np.empty((n, checked), dtype=np.int32)
    for start in range(0, n, _CHUNK):
        block = np.asarray(vectors[np.arange(start, min(n, start + _CHUNK))], dtype=np.float32)
        similarity = block @ partition.coarse.T
        near[start : start + len(block)] = (np.argpartition(-similarity, checked - 1, axis=1)[:, :checked]
                                            if checked < groups else np.arange(groups))
    best_scores = np.full((n, count), -np.inf, dtype=np.float32)
    best_lists = np.full((n, count), -1, dtype=np.int64)
    pair_rows = np.repeat(np.arange(n), checked)
    pair_groups = near.reshape(-1)
    order = np.argsort(pair_groups, kind="stable")
    bounds = np.searchsorted(pair_groups[order], np.arange(groups + 1))
    for group in range(groups):
        first, last = int(partition.group_starts[group]), int(partition.group_starts[group + 1])
        members = pair_rows[order[bounds[group] : bounds[group + 1]]]
        for piece in range(0, len(members), _CHUNK):
            rows = members[piece : piece + _CHUNK]
            if not len(rows) or first == last:
                continue
            scores = np.asarray(vectors[rows], dtype=np.float32) @ partition.centroids[first:last].T
            labels = np.broadcast_to(np.arange(first, last), scores.shape)
            merged = _top(np.concatenate([best_scores[rows], scores], axis=1),
                          np.concatenate([best_lists[rows], labels], axis=1), count)
            best_scores[rows], best_lists[rows] = merged
    primary = best_lists[:, 0].astype(np.int32)
    # Squared distance between unit vectors is 2 - 2 cos.
    distances = np.maximum(2.0 - 2.0 * best_scores, 0.0)
    keep = (distances <= (1.0 + epsilon) ** 2 * distances[:, :1]) & (best_lists >= 0)
    keep[:, 0] = True
    entry_rows = np.repeat(np.arange(n, dtype=np.int32), keep.sum(axis=1))
    return primary, entry_rows, best_lists[keep].astype(np.int32)


def _top(scores: np.ndarray, labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``count`` best scores (best first) and their labels."""
    if count == 1:
        best = np.argmax(scores, axis=1)[:, None]
        return np.take_along_axis(scores, best, axis=1), np.take_along_axis(labels, best, axis=1)
    top = np.argpartition(-scores, count - 1, axis=1)[:, :count]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return np.take_along_axis(scores, top, axis=1), np.take_along_axis(labels, top, axis=1)
