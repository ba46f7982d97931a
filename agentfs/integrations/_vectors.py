"""Exact cosine ranking of files with any LangChain ``Embeddings``.

The store's semantic index embeds every file with one model, fixed per store. An adapter given
its own ``Embeddings`` (as LangChain's vector-store contract allows) ranks with that model instead:
it embeds the candidate texts once per content hash, keeps the vectors in memory, and compares the
query against all of them exactly. Candidates are listed through ``ContextFS``, so the principal's
read access decides what can be ranked at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
from langchain_core.embeddings import Embeddings


class VectorCache:
    """Vectors of texts under caller-chosen keys (a content hash), computed by one ``Embeddings``.

    Args:
        embedding: the model; ``embed_documents`` for stored texts, ``embed_query`` for queries.
    """

    def __init__(self, embedding: Embeddings) -> None:
        self.embedding = embedding
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def vectors(self, keys: Sequence[str], load: Callable[[list[str]], list[str]]) -> np.ndarray:
        """Unit vectors for ``keys`` (one row each); ``load`` returns the texts of keys not cached.

        Keys absent from ``keys`` are dropped from the cache, so it never outgrows one listing.
        """
        with self._lock:
            missing = [k for k in dict.fromkeys(keys) if k not in self._vectors]
        if missing:
            texts = load(missing)
            fresh = _unit(np.asarray(self.embedding.embed_documents(texts), dtype=np.float32))
            with self._lock:
                self._vectors.update(zip(missing, fresh, strict=True))
        with self._lock:
            wanted = set(keys)
            for stale in [k for k in self._vectors if k not in wanted]:
                del self._vectors[stale]
            if not keys:
                return np.zeros((0, 0), dtype=np.float32)
            return np.stack([self._vectors[k] for k in keys])

    def remember(self, key: str, text: str) -> None:
        """Embed ``text`` now (after a write), so the next query does not have to."""
        self.remember_many([key], [text])

    def remember_many(self, keys: Sequence[str], texts: Sequence[str]) -> None:
        if not keys:
            return
        fresh = _unit(np.asarray(self.embedding.embed_documents(list(texts)), dtype=np.float32))
        with self._lock:
            self._vectors.update(zip(keys, fresh, strict=True))

    def query_vector(self, query: str) -> np.ndarray:
        return _unit(np.asarray([self.embedding.embed_query(query)], dtype=np.float32))[0]


def cosine_top_k(query: np.ndarray, matrix: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Indices and cosine similarities of the ``k`` rows of ``matrix`` closest to ``query``.

    Ties keep the rows' order, so a ranking is deterministic for the same listing.
    """
    if k <= 0 or matrix.size == 0:
        return []
    scores = matrix @ _unit(query.reshape(1, -1))[0]
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(i), float(scores[i])) for i in order]


def _unit(rows: np.ndarray) -> np.ndarray:
    if rows.ndim != 2:
        raise ValueError(f"embeddings must be a list of vectors, got an array of shape {rows.shape}")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0  # a zero vector stays zero (similarity 0 to everything)
    return (rows / norms).astype(np.float32)
