"""The dense-backend conformance suite: one base class, a short subclass per backend.

It checks the :class:`~agentfs.index.backend.VectorBackend` contract: batch upserts that replace by
id, deletes and lookups that never raise for unknown ids, metadata returned as stored, filters
evaluated *before* ranking (a selective access filter still fills the top-k), segment-wise prefix
semantics, persistence across a reopen, and recall against brute force on clustered vectors.

    class TestEmbeddedChroma(BackendConformance):
        def open_backend(self, folder, dimension):
            return ChromaBackend(path=folder / "chroma", collection="conformance")
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentfs.index.backend import VectorBackend, VectorFilter

DIM = 32


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def clustered(n: int, dim: int, *, clusters: int = 20, seed: int = 0) -> np.ndarray:
    """Unit vectors around random centres: uniform noise cannot tell an index from a scan."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    labels = rng.integers(0, clusters, n)
    return unit(centres[labels] + 0.35 * rng.standard_normal((n, dim)))


def brute_force(vectors: np.ndarray, metas: list[dict[str, Any]], query: np.ndarray, k: int,
                where: VectorFilter | None = None) -> list[int]:
    """Exact top-k row numbers under ``where``'s reference semantics."""
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order if where is None or where.matches(metas[i])][:k]


PATHS = [
    "/doc/a.md", "/doc/b.md", "/doc/sub/c.md", "/docs/d.md", "/docs/sub/e.md", "/memory/semantic/f.md",
    "/memory/semantic/g.md", "/memory/episodic/h.md", "/knowledge/i.md", "/j.md",
]


def sample(n: int, dim: int = DIM, seed: int = 0) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    vectors = clustered(n, dim, seed=seed)
    metas = []
    for i in range(n):
        path = PATHS[i % len(PATHS)].replace(".md", f"-{i}.md")
        metas.append({"path": path, "kind": path.split("/")[1].removesuffix(f"-{i}.md"),
                      "owner": ("agent:a", "agent:b", "user:c")[i % 3], "node_id": i, "weight": i / 7,
                      "flag": bool(i % 2), "label": f"row {i}"})
    return [f"{i}:0" for i in range(n)], vectors, metas


class BackendConformance:
    """Subclass and implement :meth:`open_backend`; every test gets a fresh, empty backend."""

    #: Whether a backend closed and opened again on the same folder keeps its vectors.
    persistent = True

    def open_backend(self, folder: Path, dimension: int) -> VectorBackend:
        raise NotImplementedError

    @pytest.fixture
    def folder(self, tmp_path: Path) -> Path:
        return tmp_path / f"backend-{uuid.uuid4().hex[:8]}"

    @pytest.fixture
    def backend(self, folder: Path) -> Iterator[VectorBackend]:
        backend = self.open_backend(folder, DIM)
        try:
            yield backend
        finally:
            backend.close()

    # --- the contract ---------------------------------------------------------------------------

    def test_is_a_vector_backend(self, backend: VectorBackend) -> None:
        assert isinstance(backend, VectorBackend)
        assert isinstance(backend.name, str) and backend.name
        assert backend.count() == 0
        assert backend.ids() == []
        assert isinstance(backend.info(), dict)

    def test_upsert_then_read_back_metadata_as_stored(self, backend: VectorBackend) -> None:
        ids, vectors, metas = sample(30)
        backend.upsert(ids, vectors, metas)
        assert backend.count() == 30
        assert sorted(backend.ids()) == sorted(ids)
        got = backend.get(ids[:5])
        assert got == {i: m for i, m in zip(ids[:5], metas[:5], strict=True)}
        assert type(got[ids[1]]["node_id"]) is int and type(got[ids[1]]["flag"]) is bool

    def test_upsert_existing_id_replaces(self, backend: VectorBackend) -> None:
        ids, vectors, metas = sample(10)
        backend.upsert(ids, vectors, metas)
        moved = {**metas[3], "path": "/elsewhere/x.md", "kind": "elsewhere"}
        backend.upsert([ids[3]], vectors[7:8], [moved])
        assert backend.count() == 10
        assert backend.get([ids[3]])[ids[3]] == moved
        top = backend.query(vectors[7:8], 2)[0]
        assert {h.id for h in top} == {ids[3], ids[7]}
        assert all(h.score == pytest.approx(1.0, abs=1e-3) for h in top)

    def test_delete_and_get_never_raise_for_unknown_ids(self, backend: VectorBackend) -> None:
        ids, vectors, metas = sample(10)
        backend.upsert(ids, vectors, metas)
        backend.delete([ids[0], "no-such-id", "999:9"])
        backend.delete([])
        assert backend.count() == 9
        assert backend.get([ids[0], "no-such-id", ids[1]]).keys() == {ids[1]}
        assert ids[0] not in backend.ids()
        assert all(h.id != ids[0] for h in backend.query(vectors[0:1], 10)[0])

    def test_empty_batches_are_fine(self, backend: VectorBackend) -> None:
        backend.upsert([], np.zeros((0, DIM), np.float32), [])
        assert backend.query(unit(np.ones((1, DIM))), 5) == [[]]

    def test_query_best_first_and_at_most_k(self, backend: VectorBackend) -> None:
        ids, vectors, metas = sample(50)
        backend.upsert(ids, vectors, metas)
        rows = backend.query(vectors[:3], 7)
        assert len(rows) == 3
        for row, own in zip(rows, ids[:3], strict=True):
            assert len(row) == 7
            assert row[0].id == own and row[0].score == pytest.approx(1.0, abs=1e-3)
            scores = [h.score for h in row]
            assert scores == sorted(scores, reverse=True)
        assert len(backend.query(vectors[:1], 500)[0]) == 50

    def test_scores_are_cosine_similarities(self, backend: VectorBackend) -> None:
        ids, vectors, metas = sample(20)
        backend.upsert(ids, vectors, metas)
        query = unit(np.random.default_rng(5).standard_normal((1, DIM)))[0]
        for hit in backend.query(query[None, :], 5)[0]:
            row = ids.index(hit.id)
            assert hit.score == pytest.approx(float(vectors[row] @ query), abs=2e-3)

    # --- filters ----------------------------------------------------------------------------------

    @pytest.mark.parametrize("where", [
        VectorFilter(include_prefixes=("/doc",)),
        VectorFilter(include_prefixes=("/docs",)),
        VectorFilter(include_prefixes=("/doc", "/memory/semantic")),
        VectorFilter(include_prefixes=("/doc/sub/c-2.md",)),
        VectorFilter(exclude_prefixes=("/doc",)),
        VectorFilter(exclude_prefixes=("/memory/semantic", "/docs/sub")),
        VectorFilter(exclude_prefixes=("/j-9.md/deeper/than/the/path",)),
        VectorFilter(include_prefixes=("/memory",), exclude_prefixes=("/memory/episodic",)),
        VectorFilter(include_prefixes=("/knowledge",), owners=("agent:a",)),
        VectorFilter(include_prefixes=(), owners=("user:c",)),
        VectorFilter(include_prefixes=("/doc",), exclude_prefixes=("/doc/sub",), owners=("agent:b",)),
        VectorFilter(include_prefixes=("/",), exclude_prefixes=("/docs",)),
        VectorFilter(kinds=("memory", "knowledge")),
        VectorFilter(include_prefixes=("/doc", "/docs"), kinds=("docs",)),
        VectorFilter(include_prefixes=()),
        VectorFilter(exclude_prefixes=("/",)),
        VectorFilter(kinds=()),
    ], ids=lambda f: repr(f)[12:70])
    def test_filters_match_reference_semantics(self, backend: VectorBackend, where: VectorFilter) -> None:
        ids, vectors, metas = sample(60)
        backend.upsert(ids, vectors, metas)
        for query in vectors[:4]:
            expected = brute_force(vectors, metas, query, 60, where)
            got = backend.query(query[None, :], 60, where)[0]
            assert all(where.matches(h.metadata) for h in got)
            assert sorted(h.id for h in got) == sorted(ids[i] for i in expected)

    def test_a_selective_filter_still_fills_the_top_k(self, backend: VectorBackend) -> None:
        """Filtering happens before ranking: 2% of rows match, and the top 10 are all of them."""
        n = 1000
        ids, vectors, metas = sample(n)
        for i, meta in enumerate(metas):
            meta["path"] = f"/secret/{i}.md" if i % 50 == 0 else f"/public/{i}.md"
        backend.upsert(ids, vectors, metas)
        where = VectorFilter(include_prefixes=("/secret",))
        far_away = unit(-vectors[::50].mean(axis=0, keepdims=True) + vectors[1:2])
        for query in (vectors[1], far_away[0]):
            got = backend.query(query[None, :], 10, where)[0]
            assert len(got) == 10
            assert [h.id for h in got] == [ids[i] for i in brute_force(vectors, metas, query, 10, where)]

    # --- scale and persistence ------------------------------------------------------------------

    def test_recall_against_brute_force(self, backend: VectorBackend) -> None:
        n, k = 3000, 10
        ids, vectors, metas = sample(n, seed=3)
        for start in range(0, n, 1000):
            backend.upsert(ids[start:start + 1000], vectors[start:start + 1000], metas[start:start + 1000])
        queries = clustered(60, DIM, seed=4)
        found = total = 0
        rows = backend.query(queries, k)
        for query, row in zip(queries, rows, strict=True):
            truth = {ids[i] for i in brute_force(vectors, metas, query, k)}
            found += len(truth & {h.id for h in row})
            total += k
        assert found / total >= 0.95, f"recall@{k} {found / total:.3f}"
        where = VectorFilter(include_prefixes=("/memory",), owners=("agent:a",))
        found = total = 0
        for query, row in zip(queries, backend.query(queries, k, where), strict=True):
            truth = {ids[i] for i in brute_force(vectors, metas, query, k, where)}
            found += len(truth & {h.id for h in row})
            total += len(truth)
        assert found / total >= 0.95, f"filtered recall@{k} {found / total:.3f}"

    def test_reopen_keeps_vectors(self, folder: Path) -> None:
        if not self.persistent:
            pytest.skip("this backend does not keep vectors across a reopen")
        ids, vectors, metas = sample(25)
        first = self.open_backend(folder, DIM)
        first.upsert(ids, vectors, metas)
        first.delete(ids[:5])
        first.close()
        second = self.open_backend(folder, DIM)
        try:
            assert second.count() == 20
            assert second.get([ids[7]])[ids[7]] == metas[7]
            assert second.query(vectors[7:8], 1)[0][0].id == ids[7]
        finally:
            second.close()
