"""The contract every dense vector backend (Chroma, agentfs' own ANN index) fulfils.

The index service (``agentfs.index.service``) talks to dense backends only through
:class:`VectorBackend`, so one conformance suite (``tests/index/conformance.py``) checks each
implementation. Filters are evaluated *inside* the backend, before ranking, so an access-control
filter never empties the top-k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


def path_within(path: str, prefix: str) -> bool:
    """Segment-wise prefix test: ``/doc`` contains ``/doc/a`` but never ``/docs/a``."""
    if prefix in ("", "/"):
        return True
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


@dataclass(frozen=True)
class VectorFilter:
    """Which vectors a query may return. Every field narrows; ``None`` means "no constraint".

    A vector is eligible when all of these hold:

    - its ``path`` is not within any of ``exclude_prefixes``;
    - its ``path`` is within one of ``include_prefixes`` **or** its ``owner`` is in ``owners``
      (``include_prefixes=None`` means every path; an empty tuple means none, so only ``owners``);
    - its ``kind`` is in ``kinds`` (when given).

    This is exactly what read access reduces to (allow rules, deny rules, the owner exception), so
    the index service turns a principal's permissions into one ``VectorFilter``.
    """

    include_prefixes: tuple[str, ...] | None = None
    exclude_prefixes: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    kinds: tuple[str, ...] | None = None

    def matches(self, metadata: dict[str, Any]) -> bool:
        """Reference semantics, used by tests and by brute-force backends."""
        path = str(metadata.get("path", ""))
        if any(path_within(path, p) for p in self.exclude_prefixes):
            return False
        if self.include_prefixes is not None:
            inside = any(path_within(path, p) for p in self.include_prefixes)
            if not inside and metadata.get("owner") not in self.owners:
                return False
        return not (self.kinds is not None and metadata.get("kind") not in self.kinds)


@dataclass(frozen=True)
class VectorHit:
    """One result: the id given at upsert time, its cosine similarity and its stored metadata."""

    id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class VectorBackend(Protocol):
    """A dense index of unit-normalised float32 vectors, compared by cosine similarity.

    Metadata of each vector always holds ``path`` (str), ``kind`` (str) and ``owner`` (str); it may
    hold more scalar fields, returned as stored.
    """

    name: str

    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]
    ) -> None:
        """Add or replace vectors by id (an existing id is replaced, never duplicated)."""

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors by id. Unknown ids are ignored; this must not raise for them."""

    def query(
        self, vectors: np.ndarray, k: int, where: VectorFilter | None = None
    ) -> list[list[VectorHit]]:
        """For each query row, up to ``k`` hits best first, all satisfying ``where``."""

    def get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Metadata of the ids that exist; missing ids are left out (must not raise)."""

    def count(self) -> int:
        """Number of live vectors."""

    def ids(self) -> list[str]:
        """Every live id (for verification against the catalog)."""

    def info(self) -> dict[str, Any]:
        """Backend figures for ``agentfs index status`` (memory held, bytes on disk, ...)."""

    def close(self) -> None:
        """Release files and memory; the backend is unusable afterwards."""
