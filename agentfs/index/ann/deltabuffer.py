"""Vectors upserted since the main file was written, held in RAM and searched exactly.

The buffer stays small (a compaction folds it into the main file once it passes a threshold), so
an exact scan of it costs less than one probed posting list.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agentfs.index.ann.attributes import AttributeEncoder, Attributes
from agentfs.index.ann.records import Records
from agentfs.index.ann.strings import encode_metadata
from agentfs.index.backend import VectorFilter


class DeltaBuffer:
    """Live and replaced vectors by slot; a replaced or deleted slot is a hole until compaction."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._vectors = np.zeros((16, dim), dtype=np.float32)
        self._live = np.zeros(16, dtype=bool)
        self._ids: list[str] = []
        self._metadata: list[dict[str, Any]] = []
        self._encoded: list[tuple[int, list[int], int, int]] = []
        self._slots: dict[str, int] = {}
        self._encoder = AttributeEncoder()
        self._attributes: Attributes | None = None

    def __len__(self) -> int:
        """Live vectors."""
        return len(self._slots)

    @property
    def slots(self) -> int:
        return len(self._ids)

    def nbytes(self) -> int:
        return self._vectors.nbytes + self._live.nbytes + 200 * len(self._ids)

    def __contains__(self, item: str) -> bool:
        return item in self._slots

    def upsert(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]]) -> None:
        """Add or replace (``vectors`` already unit rows)."""
        for row, (name, meta) in enumerate(zip(ids, metadatas, strict=True)):
            slot = self._slots.get(name)
            if slot is not None:
                # The old slot becomes a hole; appending keeps slots stable for readers.
                self._live[slot] = False
            slot = len(self._ids)
            self._grow(slot + 1)
            self._vectors[slot] = vectors[row]
            self._live[slot] = True
            self._ids.append(name)
            self._metadata.append(meta)
            self._encoded.append(self._encoder.encode(meta))
            self._slots[name] = slot
        self._attributes = None

    def delete(self, ids: list[str]) -> None:
        for name in ids:
            slot = self._slots.pop(name, None)
            if slot is not None:
                self._live[slot] = False

    def _grow(self, size: int) -> None:
        if size <= len(self._live):
            return
        capacity = max(size, 2 * len(self._live))
        vectors = np.zeros((capacity, self.dim), dtype=np.float32)
        vectors[: len(self._vectors)] = self._vectors
        live = np.zeros(capacity, dtype=bool)
        live[: len(self._live)] = self._live
        self._vectors, self._live = vectors, live

    def attributes(self) -> Attributes:
        if self._attributes is None:
            encoder = AttributeEncoder(self._encoder.owners, self._encoder.kinds)
            for encoded in self._encoded:
                encoder.append_encoded(encoded)
            self._attributes = encoder.finish()
        return self._attributes

    def get(self, name: str) -> dict[str, Any] | None:
        slot = self._slots.get(name)
        return None if slot is None else self._metadata[slot]

    def live_ids(self) -> list[str]:
        return list(self._slots)

    def search(self, query: np.ndarray, k: int, where: VectorFilter | None) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        """Exact top ``k`` live vectors allowed by ``where``: ``(ids, scores, metadatas)``."""
        n = len(self._ids)
        if not self._slots or k <= 0:
            return [], np.zeros(0, np.float32), []
        allowed = self._live[:n].copy()
        if where is not None:
            allowed &= self.attributes().mask(where)
        candidates = np.flatnonzero(allowed)
        if not len(candidates):
            return [], np.zeros(0, np.float32), []
        scores = self._vectors[candidates] @ query
        if len(candidates) > k:
            top = np.argpartition(-scores, k - 1)[:k]
            candidates, scores = candidates[top], scores[top]
        order = np.argsort(-scores, kind="stable")
        picked = candidates[order].tolist()
        return [self._ids[s] for s in picked], scores[order], [self._metadata[s] for s in picked]

    def snapshot(self) -> tuple[np.ndarray, Records]:
        """Live vectors and their records (copies), for a compaction."""
        live = [self._slots[name] for name in self._slots]
        rows = np.array(sorted(live), dtype=np.int64)
        ids = [self._ids[r] for r in rows.tolist()]
        blobs = [encode_metadata(self._metadata[r]) for r in rows.tolist()]
        return self._vectors[rows].copy(), Records(ids, blobs, self.attributes().take(rows))
