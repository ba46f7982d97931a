"""AnnBackend against the VectorBackend contract: the shared conformance suite, run over the
delta buffer alone, over a flat main file and over posting lists, plus each method's docstring."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from agentfs.index.ann import AnnBackend, BuildParams
from agentfs.index.backend import VectorBackend, VectorFilter, VectorHit
from tests.index.ann.conftest import dataset
from tests.index.conformance import BackendConformance


class TestDeltaOnly(BackendConformance):
    """Small collections never leave the delta buffer (exact scan)."""

    def open_backend(self, folder: Path, dimension: int) -> VectorBackend:
        return AnnBackend(folder, dimension=dimension)


class TestFlatMainFile(BackendConformance):
    """Every write is compacted at once into a flat main file (no lists)."""

    def open_backend(self, folder: Path, dimension: int) -> VectorBackend:
        return AnnBackend(folder, dimension=dimension, compact_min=1, background=False)


class TestPostingLists(BackendConformance):
    """Compacted into posting lists from 64 vectors on, in the background."""

    def open_backend(self, folder: Path, dimension: int) -> VectorBackend:
        return AnnBackend(folder, dimension=dimension, compact_min=50, background=True,
                          build_params=BuildParams(flat_below=64, kmeans_iterations=4))


# --- the contract, method by method ----------------------------------------------------------


@pytest.fixture(params=["delta", "lists"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AnnBackend:
    if request.param == "delta":
        made = AnnBackend(tmp_path / "b")
    else:
        made = AnnBackend(tmp_path / "b", compact_min=1, background=False,
                          build_params=BuildParams(flat_below=32, kmeans_iterations=3))
    yield made
    made.close()


def test_protocol_and_name(backend: AnnBackend) -> None:
    assert isinstance(backend, VectorBackend)
    assert backend.name == "ann"
    for name in ("upsert", "delete", "query", "get", "count", "ids", "info", "close"):
        assert inspect.getdoc(getattr(AnnBackend, name)) or inspect.getdoc(getattr(VectorBackend, name))


def test_lazy_creation_takes_the_first_dimension(tmp_path: Path) -> None:
    backend = AnnBackend(tmp_path / "lazy")
    assert backend.count() == 0 and backend.query(np.ones((1, 5)), 3) == [[]] and backend.get(["x"]) == {}
    assert not (tmp_path / "lazy").exists()
    backend.delete(["nothing"])
    ids, vectors, metas = dataset(10, dim=5)
    backend.upsert(ids, vectors, metas)
    assert backend.count() == 10 and backend.info()["dim"] == 5
    backend.close()
    with pytest.raises(ValueError, match="dimension"):
        AnnBackend(tmp_path / "lazy", dimension=7)


def test_upsert_replaces(backend: AnnBackend) -> None:
    ids, vectors, metas = dataset(200)
    backend.upsert(ids, vectors, metas)
    backend.upsert(ids[:3], vectors[3:6], [{"path": "/x.md", "v": 2}] * 3)
    assert backend.count() == 200
    assert backend.get([ids[0]]) == {ids[0]: {"path": "/x.md", "v": 2}}
    hits = backend.query(vectors[3:4], 2)[0]
    assert {h.id for h in hits} == {ids[0], ids[3]}


def test_delete_unknown_does_not_raise(backend: AnnBackend) -> None:
    ids, vectors, metas = dataset(100)
    backend.upsert(ids, vectors, metas)
    backend.delete(["never-was", ids[5], ids[5]])
    assert backend.count() == 99 and ids[5] not in backend.ids()


def test_get_skips_missing(backend: AnnBackend) -> None:
    ids, vectors, metas = dataset(100)
    backend.upsert(ids, vectors, metas)
    got = backend.get([ids[1], "missing", ids[2]])
    assert got == {ids[1]: metas[1], ids[2]: metas[2]}


def test_query_rows_and_hits(backend: AnnBackend) -> None:
    ids, vectors, metas = dataset(150)
    backend.upsert(ids, vectors, metas)
    rows = backend.query(vectors[:4], 5)
    assert len(rows) == 4
    for row, own in zip(rows, ids[:4], strict=True):
        assert all(isinstance(h, VectorHit) for h in row) and row[0].id == own
        assert [h.score for h in row] == sorted((h.score for h in row), reverse=True)


@pytest.mark.parametrize("where", [
    VectorFilter(include_prefixes=("/doc",)),
    VectorFilter(include_prefixes=("/doc/",), exclude_prefixes=("/doc/sub",)),
    VectorFilter(include_prefixes=(), owners=("agent:a",)),
    VectorFilter(kinds=("memory",), exclude_prefixes=("/memory/episodic",)),
    VectorFilter(include_prefixes=("/knowledge", "/memory/semantic"), owners=("user:c",), kinds=("doc", "knowledge")),
])
def test_filter_semantics_equal_matches(backend: AnnBackend, where: VectorFilter) -> None:
    ids, vectors, metas = dataset(300)
    backend.upsert(ids, vectors, metas)
    expected = {ids[i] for i in range(300) if where.matches(metas[i])}
    got = backend.query(vectors[7:8], 300, where)[0]
    assert {h.id for h in got} == expected
    assert all(where.matches(h.metadata) for h in got)


def test_info_reports_memory_and_disk(backend: AnnBackend) -> None:
    ids, vectors, metas = dataset(100)
    backend.upsert(ids, vectors, metas)
    backend.query(vectors[:3], 5)
    info = backend.info()
    assert info["backend"] == "ann" and info["vectors"] == 100 and info["bytes_on_disk"] > 0
    memory = info["memory"]
    assert {"budget_bytes", "held_bytes", "fixed_bytes", "mapped_bytes", "pages_per_query"} <= memory.keys()


def test_drop_empties_the_index(tmp_path: Path) -> None:
    backend = AnnBackend(tmp_path / "d", dimension=8)
    ids, vectors, metas = dataset(20, dim=8)
    backend.upsert(ids, vectors, metas)
    backend.drop()
    assert backend.count() == 0
    backend.upsert(ids, vectors, metas)
    assert backend.count() == 20
    backend.close()


def test_background_compaction_is_transparent(tmp_path: Path) -> None:
    backend = AnnBackend(tmp_path / "bg", dimension=48, compact_min=300, background=True,
                         build_params=BuildParams(flat_below=200, kmeans_iterations=3))
    ids, vectors, metas = dataset(2000)
    for start in range(0, 2000, 100):
        backend.upsert(ids[start:start + 100], vectors[start:start + 100], metas[start:start + 100])
        assert backend.query(vectors[start + 1:start + 2], 1)[0][0].id == ids[start + 1]
    backend.compact()
    assert backend.info()["main_rows"] == 2000 and backend.count() == 2000
    backend.close()
