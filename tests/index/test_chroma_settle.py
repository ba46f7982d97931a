"""Embedded Chroma's settle(): the one-off stall after a bulk load is paid by the sync, not the next write."""

from __future__ import annotations

import subprocess
import sys
import time
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
