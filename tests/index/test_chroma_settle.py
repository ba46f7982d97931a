"""Embedded Chroma's settle(): the one-off stall after a bulk load is paid by the sync, not the next write."""

from __future__ import annotations

from pathlib import Path

from agentfs.index.chroma import ChromaBackend
from tests.index.conformance import sample


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
