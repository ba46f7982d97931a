"""The compiled scan kernel against the numpy scan: identical scores and candidates, a numpy
fallback when it cannot be built, a cache keyed by the source hash.

Needs a C compiler for the comparisons (skipped without one); the fallback tests simulate a
missing or broken compiler whatever the machine has.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from agentfs.index.ann import AnnFormatError, AnnIndex, BuildParams, kernel
from agentfs.index.ann.search import Scratch, integer_query, ivf_search, refine_scores, scan
from agentfs.index.backend import VectorFilter
from tests.index.ann.conftest import clustered, metadata


@pytest.fixture
def kernel_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private kernel cache, and kernels forgotten before and after the test."""
    directory = tmp_path / "kernel-cache"
    monkeypatch.setenv(kernel.ENV_CACHE, str(directory))
    monkeypatch.delenv(kernel.ENV_CHOICE, raising=False)
    kernel.reset()
    yield directory
    kernel.reset()


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> kernel.Kernel:
    if kernel.find_compiler() is None:
        pytest.skip("no C compiler on this machine")
    return kernel.load(kernel.build(tmp_path_factory.mktemp("kernel")))


def _reference(codes: np.ndarray, rows: np.ndarray, offsets: np.ndarray, sizes: np.ndarray, lists: np.ndarray,
               query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact integer scores, in int64, of the lists' entries in list order."""
    positions = np.concatenate([np.arange(offsets[i], offsets[i] + sizes[i]) for i in lists] + [np.zeros(0, int)])
    picked = codes[positions.astype(np.int64), : len(query)].astype(np.int64)
    return rows[positions.astype(np.int64)], picked @ query.astype(np.int64)


@pytest.mark.parametrize(("seed", "entries", "stride", "n"), [
    (0, 1000, 128, 128), (1, 517, 64, 64), (2, 333, 40, 37), (3, 64, 256, 256), (4, 200, 131, 131), (5, 1, 16, 3),
])
def test_scan_lists_matches_integer_reference(compiled: kernel.Kernel, seed: int, entries: int, stride: int,
                                              n: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(-128, 128, (entries, stride), dtype=np.int8)
    rows = rng.permutation(entries).astype(np.int32)
    # Lists of random sizes, some empty, with gaps between them (as page padding leaves).
    sizes = rng.integers(0, 12, 40).astype(np.int64)
    sizes[rng.random(40) < 0.25] = 0
    gaps = rng.integers(0, 3, 40)
    offsets = np.concatenate(([0], np.cumsum(sizes + gaps)[:-1])).astype(np.int64)
    inside = offsets + sizes <= entries
    sizes[~inside], offsets[~inside] = 0, 0
    lists = rng.permutation(40)[:25].astype(np.int64)
    limit = (2**24 - 1) // (128 * n)
    query = rng.integers(-limit, limit + 1, n).astype(np.int16)
    total = int(sizes[lists].sum())
    scores, out_rows = np.empty(total + 5, np.float32), np.empty(total + 5, np.int32)
    written = compiled.scan_lists(codes, rows, offsets, sizes, lists, query, scores, out_rows)
    want_rows, want_scores = _reference(codes, rows, offsets, sizes, lists, query)
    assert written == total
    np.testing.assert_array_equal(out_rows[:written], want_rows)
    np.testing.assert_array_equal(scores[:written], want_scores.astype(np.float32))
    assert np.all(np.abs(want_scores) < 2**24)  # so float32 holds them exactly
    # No list at all.
    assert compiled.scan_lists(codes, rows, offsets, sizes, np.zeros(0, np.int64), query, scores, out_rows) == 0
    picked = rng.integers(0, entries, 50).astype(np.int32)
    np.testing.assert_array_equal(compiled.score_rows(codes, picked, query),
                                  (codes[picked, :n].astype(np.int64) @ query.astype(np.int64)).astype(np.float32))


def test_kernel_rejects_what_it_cannot_read(compiled: kernel.Kernel) -> None:
    codes = np.zeros((10, 16), np.int8)
    rows, sizes, offsets = np.arange(10, dtype=np.int32), np.array([5, 5], np.int64), np.array([0, 6], np.int64)
    out, out_rows = np.empty(10, np.float32), np.empty(10, np.int32)
    query = np.zeros(16, np.int16)
    with pytest.raises(ValueError, match="outside"):
        compiled.scan_lists(codes, rows, offsets, sizes, np.array([1], np.int64), query, out, out_rows)
    with pytest.raises(TypeError, match="int16"):
        compiled.scan_lists(codes, rows, offsets, sizes, np.array([0], np.int64), query.astype(np.int32), out, out_rows)
    with pytest.raises(ValueError, match="outside"):
        compiled.score_rows(codes, np.array([10], np.int32), query)


def test_integer_query_sums_stay_exact_in_float32() -> None:
    rng = np.random.default_rng(0)
    for dims in (1, 28, 124, 128, 252, 1020):
        query, factor = integer_query(rng.standard_normal(dims).astype(np.float32), dims + 4)
        assert len(query) == dims + 4 and not query[dims:].any()
        assert 128 * int(np.abs(query.astype(np.int64)).sum()) < 2**24
        assert factor > 0
    query, factor = integer_query(np.zeros(5, np.float32), 8)
    assert not query.any() and factor == 0


@pytest.mark.parametrize(("seed", "n", "dim", "budget"), [
    (0, 3000, 48, 256), (1, 5000, 37, 256), (2, 4000, 50, 0.01), (3, 6000, 24, 256),
])
def test_compiled_and_numpy_searches_are_identical(compiled: kernel.Kernel, tmp_path: Path, seed: int, n: int,
                                                   dim: int, budget: float) -> None:
    """Same candidates and scores stage by stage and end to end, on odd dimensions, with codes
    cached in RAM or read through the mapping (a 10 KiB budget), with filters and empty lists."""
    both = clustered(n + 40, dim, seed=seed)
    vectors, queries = both[:n], both[n:]
    params = BuildParams(flat_below=256, kmeans_iterations=4, lists=n // 12, seed=seed)
    index = AnnIndex.build(tmp_path, [str(i) for i in range(n)], vectors, [metadata(i) for i in range(n)],
                           params=params, memory_budget_mb=budget)
    try:
        segment = index._segment
        assert segment is not None and segment.lists
        assert ("codes" in segment.cached) == (budget >= 1)
        fast, slow = Scratch(segment, compiled), Scratch(segment, None)
        allowed = np.random.default_rng(seed).random(segment.rows) < 0.3
        empty = np.flatnonzero(segment.list_sizes == 0)
        for q in queries:
            projected = q @ segment.basis_full
            code_query = projected[: segment.code_dims]
            lists = np.argsort(-(segment.centroid_codes @ code_query))[:17].astype(np.int64)
            lists = np.concatenate([lists, empty[:3]])  # empty lists scan to nothing
            rows_c, scores_c = scan(segment, fast, lists, code_query)
            rows_n, scores_n = scan(segment, slow, lists, code_query)
            np.testing.assert_array_equal(rows_c, rows_n)
            np.testing.assert_array_equal(scores_c, scores_n)
            np.testing.assert_array_equal(refine_scores(segment, fast, rows_c, projected[segment.code_dims:]),
                                          refine_scores(segment, slow, rows_n, projected[segment.code_dims:]))
            for kwargs in ({}, {"allowed": allowed, "lists": lists}):
                got_c = ivf_search(segment, fast, q, 10, nprobe=9, candidates=50, rerank=20, **kwargs)
                got_n = ivf_search(segment, slow, q, 10, nprobe=9, candidates=50, rerank=20, **kwargs)
                np.testing.assert_array_equal(got_c.rows, got_n.rows)
                np.testing.assert_array_equal(got_c.scores, got_n.scores)
                assert got_c.pages == got_n.pages
    finally:
        index.close()


def test_public_search_is_the_same_with_either_kernel(compiled: kernel.Kernel, kernel_cache: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    n = 3000
    both = clustered(n + 20, seed=7)
    vectors, queries = both[:n], both[n:]
    AnnIndex.build(tmp_path / "idx", [str(i) for i in range(n)], vectors, [metadata(i) for i in range(n)],
                   params=BuildParams(flat_below=256, kmeans_iterations=4)).close()
    where = VectorFilter(include_prefixes=("/doc",))
    results = {}
    for choice in ("numpy", "c"):
        monkeypatch.setenv(kernel.ENV_CHOICE, choice)
        kernel.reset()
        with AnnIndex.open(tmp_path / "idx") as index:
            assert index.info()["scan_kernel"] == choice
            results[choice] = [[(h.id, h.score) for h in row] for w in (None, where)
                               for row in index.search(queries, 10, w, nprobe=6)]
    assert results["numpy"] == results["c"]
    assert list(kernel_cache.glob("ann-kernel-*.so")) == [kernel.library_path(kernel_cache)]


def test_numpy_choice_never_compiles(kernel_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernel.ENV_CHOICE, "numpy")
    monkeypatch.setattr(kernel, "build", lambda *a, **k: pytest.fail("compiled although numpy was chosen"))
    assert kernel.get() is None and kernel.name() == "numpy"
    assert not kernel_cache.exists()


@pytest.mark.parametrize("how", ["missing", "failing"])
def test_falls_back_to_numpy_without_a_working_compiler(kernel_cache: Path, tmp_path: Path, how: str,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    if how == "missing":
        monkeypatch.setattr(kernel, "find_compiler", lambda: None)
    else:
        broken = tmp_path / "broken-cc"
        broken.write_text("#!/bin/sh\necho 'cc: internal error' >&2\nexit 1\n")
        broken.chmod(0o755)
        monkeypatch.setenv("CC", str(broken))
    monkeypatch.setenv(kernel.ENV_CHOICE, "c")
    with caplog.at_level(logging.WARNING, logger=kernel.__name__):
        assert kernel.get() is None
        assert kernel.get() is None
    assert len([r for r in caplog.records if "using numpy" in r.message]) == 1  # logged once
    assert ("no C compiler" if how == "missing" else "internal error") in caplog.text
    assert not list(kernel_cache.glob("*.so")) and not list(kernel_cache.glob(".ann-kernel-*"))
    n = 1500
    vectors = clustered(n, seed=3)
    index = AnnIndex.build(tmp_path / "idx", [str(i) for i in range(n)], vectors, [metadata(i) for i in range(n)],
                           params=BuildParams(flat_below=256, kmeans_iterations=4))
    try:
        assert index.info()["scan_kernel"] == "numpy"
        assert index.search(vectors[5], 1)[0][0].id == "5"
    finally:
        index.close()


def test_source_hash_keys_the_cache(kernel_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if kernel.find_compiler() is None:
        pytest.skip("no C compiler on this machine")
    first = kernel.build(kernel_cache)
    assert first == kernel.library_path(kernel_cache) and first.name == f"ann-kernel-{kernel.source_hash()}.so"
    assert kernel.build(kernel_cache) == first  # cached: not rebuilt
    monkeypatch.setattr(kernel, "C_SOURCE", kernel.C_SOURCE + "\n/* changed */\n")
    second = kernel.build(kernel_cache)
    assert second != first and first.is_file() and second.is_file()
    assert kernel.load(second).score_rows(np.ones((1, 4), np.int8), np.zeros(1, np.int32),
                                          np.arange(4, dtype=np.int16))[0] == 6
    # Built under a temporary name and renamed: nothing else is left in the cache.
    assert sorted(p.name for p in kernel_cache.iterdir()) == sorted([first.name, second.name])


def test_unknown_choice_means_auto(kernel_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernel.ENV_CHOICE, "fortran")
    assert kernel.choice() == "auto"


def test_compiled_row_reads_match_page_reads(compiled: kernel.Kernel, tmp_path: Path) -> None:
    """The re-rank's rows read with one compiled pread each equal those copied page by page; a
    file cut short under an open index is a format error, not garbage."""
    n, dim = 3000, 40  # 80-byte rows: 51 per page, so rows straddle no page and pages end in padding
    vectors = clustered(n, dim, seed=9)
    index = AnnIndex.build(tmp_path, [str(i) for i in range(n)], vectors, [metadata(i) for i in range(n)],
                           params=BuildParams(flat_below=256, kmeans_iterations=4), memory_budget_mb=0.01)
    try:
        segment = index._segment
        assert segment is not None and segment.reads_vectors_with_pread
        rows = np.random.default_rng(9).integers(0, n, 300)
        segment.read_vectors_with_pread(True, compiled)
        fast = segment.raw_vectors(rows)
        segment.read_vectors_with_pread(True, None)
        slow = segment.raw_vectors(rows)
        np.testing.assert_array_equal(fast, slow)
        original = [int(segment.id_of(int(r))) for r in rows]  # the file orders rows by list
        np.testing.assert_allclose(fast / segment.scale, vectors[original], atol=1e-4)
        segment.read_vectors_with_pread(True, compiled)
        with pytest.raises(IndexError):
            segment.raw_vectors(np.array([n]))
        start = segment.file.span("vectors")[0]
        with open(tmp_path / "main.ann", "r+b") as handle:
            handle.truncate(start + 4096)
        with pytest.raises(AnnFormatError, match="truncated"):
            segment.raw_vectors(np.array([n - 1]))
    finally:
        index.close()
