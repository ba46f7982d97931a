"""Every dense backend through the conformance suite: embedded Chroma, a Chroma server, agentfs' ANN."""

from __future__ import annotations

import importlib
import inspect
import uuid
from pathlib import Path

import pytest

from agentfs.index.backend import VectorBackend, VectorFilter
from agentfs.index.chroma import ChromaBackend, where_clause
from tests.index.conformance import BackendConformance


class TestEmbeddedChroma(BackendConformance):
    def open_backend(self, folder: Path, dimension: int) -> VectorBackend:
        return ChromaBackend(path=folder / "chroma", collection="conformance")


@pytest.mark.chroma_server
class TestChromaServer(BackendConformance):
    @pytest.fixture(autouse=True)
    def _server(self, chroma_server_url: str) -> None:
        self.url = chroma_server_url

    def open_backend(self, folder: Path, dimension: int) -> VectorBackend:
        # One collection per test folder: the server outlives every test.
        return ChromaBackend(url=self.url, collection=f"conformance-{folder.name}")


def _ann_backend_class() -> type | None:
    module = importlib.import_module("agentfs.index.ann")
    return getattr(module, "AnnBackend", None)


class TestAnn(BackendConformance):
    @pytest.fixture(autouse=True)
    def _available(self) -> None:
        if _ann_backend_class() is None:
            pytest.skip("agentfs.index.ann exports no AnnBackend: the ANN dense backend is missing from this install")

    def open_backend(self, folder: Path, dimension: int) -> VectorBackend:
        cls = _ann_backend_class()
        assert cls is not None
        if "dimension" in inspect.signature(cls).parameters:
            return cls(folder, dimension=dimension)
        return cls(folder)


def test_chroma_where_clause_shapes() -> None:
    """Single conditions stay bare (Chroma refuses a one-element $and/$or)."""
    assert where_clause(None) is None
    assert where_clause(VectorFilter()) is None
    assert where_clause(VectorFilter(include_prefixes=("/",))) is None
    assert where_clause(VectorFilter(include_prefixes=("/memory/semantic",))) == {
        "_p2": {"$eq": "/memory/semantic"}}
    clause = where_clause(VectorFilter(include_prefixes=("/a",), exclude_prefixes=("/a/b",), owners=("agent:x",)))
    assert clause == {"$and": [{"_p2": {"$ne": "/a/b"}},
                               {"$or": [{"_p1": {"$eq": "/a"}}, {"owner": {"$in": ["agent:x"]}}]}]}


def test_chroma_reserved_metadata_keys_are_refused(tmp_path: Path) -> None:
    import numpy as np

    backend = ChromaBackend(path=tmp_path / "c", collection=f"reserved-{uuid.uuid4().hex[:6]}")
    try:
        with pytest.raises(ValueError, match="reserved"):
            backend.upsert(["1:0"], np.ones((1, 4), np.float32), [{"path": "/a", "kind": "x", "owner": "o", "_p1": "/b"}])
    finally:
        backend.close()


def test_chroma_server_unreachable_is_a_clear_error() -> None:
    from agentfs.errors import StoreError

    with pytest.raises(StoreError, match=r"cannot reach the Chroma server at http://127\.0\.0\.1:9"):
        ChromaBackend(url="http://127.0.0.1:9", collection="nowhere")
