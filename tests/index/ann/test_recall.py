"""Recall@10 against brute force, on several seeds and sizes, flat and with posting lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentfs.index.ann import AnnIndex, BuildParams
from tests.index.ann.conftest import SMALL_LISTS, brute_force, clustered, metadata, recall


@pytest.mark.parametrize(("n", "seed", "params"), [
    (800, 0, BuildParams()),          # flat: exact scan, recall 1
    (3000, 1, SMALL_LISTS),
    (6000, 2, SMALL_LISTS),
    (12000, 3, BuildParams(kmeans_iterations=6)),
    (12000, 4, BuildParams(kmeans_iterations=6, replicas=1)),
])
def test_recall_against_brute_force(tmp_path: Path, n: int, seed: int, params: BuildParams) -> None:
    both = clustered(n + 100, seed=seed)
    vectors, queries = both[:n], both[n:]
    ids = [str(i) for i in range(n)]
    index = AnnIndex.build(tmp_path, ids, vectors, [metadata(i) for i in range(n)], params=params)
    try:
        truth = [[str(i) for i in brute_force(vectors, [], q, 10)] for q in queries]
        found = [[h.id for h in row] for row in index.search(queries, 10)]
        assert recall(found, truth) >= (1.0 if index.info()["lists"] == 0 else 0.95)
        # More effort never hurts: every list probed finds what an exact scan finds.
        everything = [[h.id for h in row] for row in index.search(queries, 10, nprobe=10**6, candidates=2000, rerank=1000)]
        assert recall(everything, truth) >= 0.995
        # Scores are cosine similarities of the stored (int16) vectors.
        row = index.search(queries[0], 3)[0]
        for hit in row:
            assert hit.score == pytest.approx(float(vectors[int(hit.id)] @ queries[0]), abs=1e-3)
    finally:
        index.close()


def test_more_lists_probed_means_more_recall(tmp_path: Path) -> None:
    n = 6000
    both = clustered(n + 100, seed=7)
    vectors, queries = both[:n], both[n:]
    index = AnnIndex.build(tmp_path, [str(i) for i in range(n)], vectors, [{}] * n, params=SMALL_LISTS)
    try:
        truth = [[str(i) for i in brute_force(vectors, [], q, 10)] for q in queries]
        values = [recall([[h.id for h in r] for r in index.search(queries, 10, nprobe=p)], truth) for p in (2, 8, 64)]
        assert values == sorted(values) and values[-1] > values[0]
    finally:
        index.close()


def test_queries_are_normalised_and_k_larger_than_the_index(tmp_path: Path) -> None:
    vectors = clustered(300, seed=1)
    index = AnnIndex.build(tmp_path, [str(i) for i in range(300)], vectors * 7.0, [{}] * 300,
                           params=BuildParams(flat_below=100, lists=4))
    try:
        hits = index.search(vectors[5] * 0.01, 1000)[0]
        assert len(hits) == 300 and hits[0].id == "5"
        assert hits[0].score == pytest.approx(1.0, abs=1e-3)
        assert index.search(np.zeros((0, vectors.shape[1])), 5) == []
    finally:
        index.close()
