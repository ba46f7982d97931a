"""The memory budget bounds what the index holds while serving, and info() says what it holds."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from agentfs.index.ann import AnnIndex, BuildParams
from tests.index.ann.conftest import clustered, dataset, recall

DIM = 128
N = 20000


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("memory")
    ids, vectors, metas = dataset(N, dim=DIM, seed=2)
    AnnIndex.build(path, ids, vectors, metas, params=BuildParams(flat_below=1000, kmeans_iterations=4)).close()
    return path


def _serve(folder: Path, budget_mb: float, queries: int = 300) -> tuple[AnnIndex, int]:
    process = psutil.Process()
    before = process.memory_info().rss
    index = AnnIndex.open(folder, memory_budget_mb=budget_mb)
    for query in clustered(queries, DIM, seed=2)[:queries]:
        index.search(query, 10, with_metadata=False)
    return index, process.memory_info().rss - before


def test_small_budget_bounds_the_resident_set(folder: Path) -> None:
    file_mb = (folder / "main.ann").stat().st_size / 2**20
    assert file_mb > 12
    index, held = _serve(folder, budget_mb=4)
    try:
        memory = index.info()["memory"]
        assert memory["held_bytes"] <= memory["budget_bytes"] * 1.1
        assert memory["releases"] > 0
        # The process's own view: well under the file, around the budget (plus Python's own).
        assert held < 10 * 2**20, held / 2**20
        assert index.info()["in_ram"] == ["ids"]
    finally:
        index.close()


def test_large_budget_caches_codes_and_keeps_pages(folder: Path) -> None:
    index, _held = _serve(folder, budget_mb=256)
    try:
        info = index.info()
        assert info["in_ram"] == ["codes", "ids", "refine"]
        assert info["memory"]["releases"] == 0
        assert 0 < info["memory"]["pages_per_query"] < 60
    finally:
        index.close()


def test_results_do_not_depend_on_the_budget(folder: Path) -> None:
    queries = clustered(40, DIM, seed=2)
    runs = []
    for budget in (2, 32, 512):
        index = AnnIndex.open(folder, memory_budget_mb=budget)
        try:
            runs.append([[h.id for h in row] for row in index.search(queries, 10)])
        finally:
            index.close()
    assert runs[0] == runs[1] == runs[2]
    assert recall(runs[0], runs[2]) == 1.0


def test_vectors_are_read_with_pread_when_they_do_not_fit(folder: Path) -> None:
    """Re-rank pages are copied with pread under a budget smaller than the vectors (nothing of
    them stays mapped) and mapped under a large one; the hits are the same either way."""
    queries = clustered(60, DIM, seed=3)
    hits = {}
    for budget, mode in ((6, "pread"), (512, "mmap")):
        index = AnnIndex.open(folder, memory_budget_mb=budget)
        try:
            assert index.info()["vector_reads"] == mode
            hits[mode] = [[(h.id, h.score) for h in row] for row in index.search(queries, 10, rerank=300)]
            if mode == "pread":
                assert index.info()["memory"]["mapped_bytes"] < 2 * 2**20
        finally:
            index.close()
    assert hits["pread"] == hits["mmap"]


def test_info_reports_disk_and_pages(folder: Path) -> None:
    index = AnnIndex.open(folder)
    try:
        index.search(clustered(5, DIM, seed=2), 10)
        info = index.info()
        assert info["bytes_on_disk"] >= (folder / "main.ann").stat().st_size
        assert info["memory"]["queries"] == 5 and info["memory"]["pages_per_query"] > 0
        assert info["lists"] > 0 and info["code_dims"] > 0
    finally:
        index.close()
