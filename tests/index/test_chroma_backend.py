"""What the Chroma backend adds to Chroma: settle() after bulk loads, one opener at a time, and the
exact ranking that keeps a top-k full when HNSW answers short."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentfs.index import chroma
from agentfs.index.backend import VectorFilter
from agentfs.index.chroma import ChromaBackend
from tests.index.conformance import sample


def _exact_order(vectors: np.ndarray, query: np.ndarray, rows: list[int]) -> list[int]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = unit[rows] @ (query / np.linalg.norm(query))
    return [rows[i] for i in np.argsort(-scores, kind="stable")]


@pytest.fixture
def loaded(tmp_path: Path) -> Any:
    ids, vectors, metas = sample(200)
    backend = ChromaBackend(path=tmp_path / "c", collection="exact")
    backend.upsert(ids, vectors, metas)
    try:
        yield backend, ids, vectors, metas
    finally:
        backend.close()


def test_a_vector_hnsw_cannot_reach_is_still_found(loaded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An HNSW graph can leave a vector unreachable (all its incoming links pruned): Chroma then
    answers fewer than k hits although more pass the filter. We drop the best hit from Chroma's
    answer, as such a graph would, and the backend still returns every readable vector, exactly ranked."""
    backend, ids, vectors, metas = loaded
    owned = [i for i, m in enumerate(metas) if m["owner"] == "agent:b"][:40]
    where = VectorFilter(include_prefixes=(), owners=("agent:b",))
    query = vectors[owned[5]] + 0.01
    k = len([m for m in metas if m["owner"] == "agent:b"]) + 5  # more than pass the filter
    expected = _exact_order(vectors, query, [i for i, m in enumerate(metas) if m["owner"] == "agent:b"])
    real_query = backend._collection.query
    lost = ids[expected[0]]

    def unreachable(**kwargs: Any) -> Any:
        result = real_query(**kwargs)
        for key in ("distances", "metadatas", "ids"):  # ids last: the others are filtered by them
            result[key] = [[v for i, v in zip(row_ids, row, strict=True) if i != lost]
                           for row_ids, row in zip(result["ids"], result[key], strict=True)]
        return result

    monkeypatch.setattr(backend._collection, "query", unreachable)
    hits = backend.query(query, k, where)[0]
    assert [h.id for h in hits] == [ids[i] for i in expected]
    assert all(h.metadata["owner"] == "agent:b" and "_p1" not in h.metadata for h in hits)
    assert hits[0].score == pytest.approx(float(
        vectors[expected[0]] @ query / np.linalg.norm(vectors[expected[0]]) / np.linalg.norm(query)), abs=1e-5)
    # Without a filter and with a k the collection cannot fill, the same holds.
    everything = backend.query(query, len(ids) + 1)[0]
    assert [h.id for h in everything] == [ids[i] for i in _exact_order(vectors, query, list(range(len(ids))))]


def test_a_large_filtered_set_is_not_ranked_exactly(loaded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """More than EXACT_LIMIT vectors passing the filter: the HNSW answer stands (bounded cost)."""
    backend, ids, vectors, _ = loaded
    monkeypatch.setattr(chroma, "EXACT_LIMIT", 50)
    calls: list[Any] = []
    real_get = backend._collection.get
    monkeypatch.setattr(backend._collection, "get", lambda **kw: calls.append(kw) or real_get(**kw))
    hits = backend.query(vectors[0], len(ids) + 10)[0]
    assert len(hits) == len(ids) and len(calls) == 1 and calls[0]["limit"] == 51
    calls.clear()
    assert len(backend.query(vectors[0], 10)[0]) == 10 and calls == []  # a full answer needs no second look


def test_chroma_settle_after_a_bulk_load_changes_nothing(tmp_path: Path) -> None:
    """settle() (run after bulk syncs) re-upserts the last row after a query: the data stay as they were."""
    ids, vectors, metas = sample(600)
    backend = ChromaBackend(path=tmp_path / "c", collection="settle")
    try:
        assert backend.settle() is False  # nothing written yet
        backend.upsert(ids[:10], vectors[:10], metas[:10])
        assert backend.settle() is False  # too little to matter
        backend.upsert(ids[10:], vectors[10:], metas[10:])
        before = backend.get(ids[-3:])
        assert backend.settle() is True
        assert backend.settle() is False  # once per bulk load
        assert backend.count() == len(ids)
        assert backend.get(ids[-3:]) == before
        top = backend.query(vectors[-1], 1)[0]
        assert [h.id for h in top] == [ids[-1]]
    finally:
        backend.close()


def test_processes_opening_a_fresh_embedded_database_at_once_all_succeed(tmp_path: Path) -> None:
    """A mount and its background indexer open a new store's Chroma at the same moment: Chroma's
    own migrations must not run twice ("table collections already exists", "database is locked")."""
    for trial in range(2):
        path = tmp_path / f"trial{trial}" / "chroma"
        start = time.time() + 3  # after every process has imported chromadb
        code = ("import time\nfrom agentfs.index.chroma import ChromaBackend\n"
                f"time.sleep(max(0.0, {start} - time.time()))\n"
                f"b = ChromaBackend(path={str(path)!r}, collection='race'); print(b.count()); b.close()")
        procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(4)]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()[-2000:]
            assert out.strip() == b"0"
