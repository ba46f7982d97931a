"""Chroma as a dense backend: embedded ``PersistentClient`` by default, a Chroma server by URL.

We always pass our own vectors (Chroma's default embedding function pads every text to 256 tokens
and downloads its model) and never store documents in Chroma: the catalog has the text.

Access filters run *inside* Chroma, before ranking. A path prefix test is not something Chroma's
``where`` language can say directly, so every vector carries its ancestor paths as metadata keys:
``/memory/semantic/a.md`` gets ``_p1="/memory"``, ``_p2="/memory/semantic"``,
``_p3="/memory/semantic/a.md"``. "Within ``/memory/semantic``" is then ``_p2 == "/memory/semantic"``
and "not within it" is ``_p2 != ...`` (a shallower path has no ``_p2`` key, and ``$ne`` matches a
missing key, which is right: a shallower path is never inside a deeper prefix; the conformance
suite checks this against every Chroma we run).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from agentfs.errors import NotSupportedError, StoreError
from agentfs.index.backend import VectorFilter, VectorHit

ENV_CHROMA_URL = "AGENTFS_CHROMA_URL"
INSTALL_HINT = "pip install 'agentfs[chroma]'"
_RESERVED_PREFIX = "_p"
_DEPTH_KEY = "_depth"
# Chroma's HNSW defaults (ef_search 100) give ~0.99 recall@10 on MiniLM vectors; the index is
# small next to the embedder's cost, so we buy a little more recall at no visible price.
_HNSW = {"space": "cosine", "ef_construction": 200, "ef_search": 200, "max_neighbors": 16}
# ids() pages through a collection this many at a time.
_PAGE = 5000
# When HNSW answers fewer than k hits, at most this many vectors passing the filter are ranked
# exactly instead (see ChromaBackend.query).
EXACT_LIMIT = 8192


def _chromadb() -> Any:
    try:
        import chromadb
    except ImportError:
        raise NotSupportedError(f"the Chroma backend needs chromadb: {INSTALL_HINT}") from None
    # Chroma logs telemetry and migration chatter at INFO; agentfs' CLI output stays clean.
    logging.getLogger("chromadb").setLevel(logging.WARNING)
    return chromadb


def _depth(path: str) -> int:
    return 0 if path in ("", "/") else path.rstrip("/").count("/")


def ancestor_keys(path: str) -> dict[str, Any]:
    """The ``_pN`` keys (and ``_depth``) that make prefix filters expressible in Chroma."""
    out: dict[str, Any] = {_DEPTH_KEY: _depth(path)}
    parts = [p for p in path.split("/") if p]
    for depth in range(1, len(parts) + 1):
        out[f"{_RESERVED_PREFIX}{depth}"] = "/" + "/".join(parts[:depth])
    return out


def _within(prefix: str) -> dict[str, Any]:
    return {f"{_RESERVED_PREFIX}{_depth(prefix)}": {"$eq": prefix.rstrip("/")}}


def _not_within(prefix: str) -> dict[str, Any]:
    return {f"{_RESERVED_PREFIX}{_depth(prefix)}": {"$ne": prefix.rstrip("/")}}


def _all(clauses: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _any(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


class _Nothing(Exception):
    """The filter can match no vector at all (so Chroma need not be asked)."""


def where_clause(where: VectorFilter | None) -> dict[str, Any] | None:
    """Translate a :class:`VectorFilter` into a Chroma ``where`` document (None: no filter).

    Raises:
        _Nothing: the filter excludes everything (an empty include list and no owners, an
            exclusion of ``/``, or an empty ``kinds``).
    """
    if where is None:
        return None
    clauses: list[dict[str, Any]] = []
    for prefix in where.exclude_prefixes:
        if prefix in ("", "/"):
            raise _Nothing
        clauses.append(_not_within(prefix))
    if where.include_prefixes is not None and not any(p in ("", "/") for p in where.include_prefixes):
        options = [_within(p) for p in where.include_prefixes]
        if where.owners:
            options.append({"owner": {"$in": list(where.owners)}})
        if not options:
            raise _Nothing
        clauses.append(_any(options))
    if where.kinds is not None:
        if not where.kinds:
            raise _Nothing
        clauses.append({"kind": {"$in": list(where.kinds)}})
    return _all(clauses)


def _public(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """Metadata as the caller stored it: without our ancestor keys."""
    return {k: v for k, v in (metadata or {}).items() if k[0] != "_" or not (k == _DEPTH_KEY or _is_ancestor_key(k))}


def _is_ancestor_key(key: str) -> bool:
    return key.startswith(_RESERVED_PREFIX) and key[len(_RESERVED_PREFIX):].isdigit()


class ChromaBackend:
    """A :class:`~agentfs.index.backend.VectorBackend` on Chroma.

    Args:
        path: Folder of an embedded ``PersistentClient`` (created if missing).
        url: A Chroma server (``http://127.0.0.1:8000``); used instead of ``path`` when given.
        collection: Collection name (3-512 characters of ``[a-zA-Z0-9._-]``); one per store.

    Raises:
        NotSupportedError: chromadb is not installed.
        StoreError: the server cannot be reached, or neither ``path`` nor ``url`` was given.
    """

    name = "chroma"

    def __init__(self, *, path: str | Path | None = None, url: str | None = None,
                 collection: str = "agentfs") -> None:
        chromadb = _chromadb()
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        self.url = url
        self.path = Path(path) if path is not None and url is None else None
        if url:
            parsed = urlparse(url if "://" in url else f"http://{url}")
            try:
                self._client = chromadb.HttpClient(
                    host=parsed.hostname or "127.0.0.1", port=parsed.port or 8000,
                    ssl=parsed.scheme == "https", settings=settings,
                )
                self._client.heartbeat()
            except Exception as exc:
                raise StoreError(f"cannot reach the Chroma server at {url}: {exc}") from None
        elif self.path is None:
            raise StoreError("ChromaBackend needs a path (embedded) or a url (server)")
        self.collection_name = collection
        with self._opening():
            if self.path is not None:
                self._client = chromadb.PersistentClient(path=str(self.path), settings=settings)
            self._collection = self._client.get_or_create_collection(
                collection, configuration={"hnsw": dict(_HNSW)}, embedding_function=None,  # type: ignore[arg-type]
            )
        self._max_batch = max(1, int(self._client.get_max_batch_size()))
        # An embedded client must be reopened to see what another process added (Chroma keeps
        # its HNSW segment in memory); a server is shared by every process.
        self.shared = url is not None
        self._last_row: tuple[str, np.ndarray, dict[str, Any]] | None = None  # for settle()
        self._written_since_settle = 0

    @contextlib.contextmanager
    def _opening(self) -> Iterator[None]:
        """One process at a time creates an embedded database and its collection: two doing it at
        once (a mount and its background indexer, on a fresh store) both run Chroma's migrations,
        and one fails with "table collections already exists"."""
        if self.path is None:
            yield
            return
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path.parent / f"{self.path.name}.lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    # --- writes ---------------------------------------------------------------------------------

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]) -> None:
        """Add or replace vectors by id."""
        if len(ids) != len(vectors) or len(ids) != len(metadatas):
            raise ValueError(f"upsert: {len(ids)} ids, {len(vectors)} vectors, {len(metadatas)} metadatas")
        if not len(ids):
            return
        rows = []
        for meta in metadatas:
            if any(k == _DEPTH_KEY or _is_ancestor_key(k) for k in meta):
                raise ValueError(f"metadata keys {_DEPTH_KEY} and {_RESERVED_PREFIX}N are reserved by the Chroma backend")
            clean = {k: v for k, v in meta.items() if v is not None}
            rows.append({**clean, **ancestor_keys(str(meta.get("path", "")))})
        matrix = np.asarray(vectors, dtype=np.float32)
        for start in range(0, len(ids), self._max_batch):
            end = start + self._max_batch
            self._collection.upsert(ids=list(ids[start:end]), embeddings=matrix[start:end],
                                    metadatas=rows[start:end])
        self._last_row = (str(ids[-1]), matrix[-1].copy(), rows[-1])
        self._written_since_settle += len(ids)

    def settle(self, *, after: int = 500) -> bool:
        """After a bulk load, pay embedded Chroma's one-off stall now rather than on the next write.

        Measured with Chroma 1.5.9: in the process that added a few thousand vectors, the first
        upsert that follows a query stalls for seconds (2.7-5.7 s at 3,000 vectors on the busy
        2-core machine; later ones take milliseconds, and a reopened client has no stall). A bulk
        sync therefore ends with one query and the idempotent re-upsert of its last row, so the
        first file an agent writes afterwards is searchable at once. Returns whether it settled.
        """
        if self.shared or self._last_row is None or self._written_since_settle < after:
            return False
        row_id, vector, row = self._last_row
        self._collection.query(query_embeddings=vector[None, :], n_results=1, include=[])
        self._collection.upsert(ids=[row_id], embeddings=vector[None, :], metadatas=[row])
        self._written_since_settle = 0
        return True

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors by id; unknown ids are ignored."""
        ids = list(ids)
        for start in range(0, len(ids), self._max_batch):
            self._collection.delete(ids=ids[start:start + self._max_batch])

    # --- reads ----------------------------------------------------------------------------------

    def query(self, vectors: np.ndarray, k: int, where: VectorFilter | None = None) -> list[list[VectorHit]]:
        """Up to ``k`` hits per query row, best first, all satisfying ``where`` (checked in Chroma)."""
        matrix = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        empty: list[list[VectorHit]] = [[] for _ in range(len(matrix))]
        if k <= 0 or not len(matrix):
            return empty
        try:
            clause = where_clause(where)
        except _Nothing:
            return empty
        # Chroma answers n_results beyond the collection's size with what it has (count() would
        # cost a round trip per query).
        result = self._collection.query(
            query_embeddings=matrix, n_results=k, where=clause,
            include=["metadatas", "distances"],  # type: ignore[list-item]
        )
        out = []
        for row_ids, row_distances, row_metas in zip(
            result["ids"], result["distances"] or [], result["metadatas"] or [], strict=False
        ):
            out.append([
                VectorHit(id=i, score=1.0 - float(d), metadata=_public(m))  # type: ignore[arg-type]
                for i, d, m in zip(row_ids, row_distances, row_metas, strict=False)
            ])
        out += empty[len(out):]
        if any(len(row) < k for row in out):
            exact = self._exact(matrix, k, clause)
            if exact is not None:
                out = [row if len(row) >= k else exact[r] for r, row in enumerate(out)]
        return out

    def _exact(self, matrix: np.ndarray, k: int, clause: dict[str, Any] | None) -> list[list[VectorHit]] | None:
        """Rank every vector passing ``clause`` exactly, or None when more than EXACT_LIMIT pass.

        HNSW answering fewer than k hits means either that fewer than k vectors pass the filter
        (an agent that may read a handful of files: the usual case) or that the graph left some
        unreachable. Measured with Chroma 1.5.9 (max_neighbors 16): in a 36-vector collection of
        near-duplicates, about one query in thirty missed a vector no filter excluded (its incoming
        links were all pruned). Either way the vectors passing the filter are few, and ranking
        them exactly costs one more round trip and keeps the top-k full and right.
        """
        ids: list[str] = []
        vectors: list[Any] = []
        metas: list[Any] = []
        offset = 0
        while True:
            limit = min(_PAGE, EXACT_LIMIT + 1 - len(ids))
            page = self._collection.get(where=clause, include=["embeddings", "metadatas"],  # type: ignore[list-item]
                                        limit=limit, offset=offset)
            ids.extend(page["ids"])
            vectors.extend(page["embeddings"] if page["embeddings"] is not None else [])
            metas.extend(page["metadatas"] or [])
            if len(ids) > EXACT_LIMIT:
                return None
            if len(page["ids"]) < limit:
                break
            offset += len(page["ids"])
        if not ids:
            return [[] for _ in range(len(matrix))]
        stored = np.asarray(vectors, dtype=np.float32)
        stored /= np.maximum(np.linalg.norm(stored, axis=1, keepdims=True), 1e-12)
        queries = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        similarity = queries @ stored.T
        out = []
        for row in similarity:
            best = np.argsort(-row, kind="stable")[:k]
            out.append([VectorHit(id=ids[j], score=float(row[j]), metadata=_public(metas[j])) for j in best])
        return out

    def get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Metadata of the ids that exist (missing ones are left out)."""
        ids = list(ids)
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), self._max_batch):
            result = self._collection.get(ids=ids[start:start + self._max_batch], include=["metadatas"])  # type: ignore[list-item]
            for i, meta in zip(result["ids"], result["metadatas"] or [], strict=False):
                out[i] = _public(meta)  # type: ignore[arg-type]
        return out

    def count(self) -> int:
        return int(self._collection.count())

    def ids(self) -> list[str]:
        out: list[str] = []
        offset = 0
        while True:
            page = self._collection.get(include=[], limit=_PAGE, offset=offset)
            out.extend(page["ids"])
            if len(page["ids"]) < _PAGE:
                return out
            offset += _PAGE

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "backend": self.name,
            "mode": "server" if self.url else "embedded",
            "collection": self.collection_name,
            "vectors": self.count(),
        }
        if self.url:
            info["url"] = self.url
        if self.path is not None:
            info["path"] = str(self.path)
            info["bytes_on_disk"] = sum(
                f.stat().st_size for f in self.path.rglob("*") if f.is_file()
            )
        return info

    def drop(self) -> None:
        """Delete the whole collection (``agentfs index rebuild``), then start an empty one."""
        with contextlib.suppress(Exception):
            self._client.delete_collection(self.collection_name)
        self._collection = self._client.get_or_create_collection(
            self.collection_name, configuration={"hnsw": dict(_HNSW)}, embedding_function=None,  # type: ignore[arg-type]
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()


def default_url(config: dict[str, Any]) -> str | None:
    """The Chroma server to use: store config ``index.chroma_url``, else ``$AGENTFS_CHROMA_URL``."""
    return (config.get("index") or {}).get("chroma_url") or os.environ.get(ENV_CHROMA_URL) or None
