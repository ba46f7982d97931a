"""AnnIndex as a dense backend of the index service (``--backend ann``)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agentfs.index.ann.index import DEFAULT_BUDGET_MB, LOG_NAME, MAIN_NAME, AnnIndex
from agentfs.index.ann.params import BuildParams, SearchParams
from agentfs.index.backend import VectorFilter, VectorHit

# The delta buffer is folded into the main file once it holds this many slots, or a tenth of
# the main file if that is more: small enough that its exact scan stays cheap, large enough that
# a steady stream of writes does not rewrite the main file for every batch.
_COMPACT_MIN = 4096
_COMPACT_FRACTION = 0.1


class AnnBackend:
    """A :class:`~agentfs.index.backend.VectorBackend` over an :class:`AnnIndex` directory.

    The index starts empty and grows by upserts into its delta buffer, which is searched exactly;
    once the buffer passes a threshold it is compacted into a main file (flat while small, with
    posting lists from ``BuildParams.flat_below`` vectors on). Compactions run in a background
    thread unless ``background=False``.

    Args:
        path: Directory of the index (created on first write).
        dimension: Vector dimension; ``None`` takes it from an existing index or the first upsert.
        memory_budget_mb: RAM the index may hold while serving.
        search_params: Default search effort.
        build_params: Layout of the main files compactions write.
        background: Compact in a background thread.
        compact_min: Smallest delta that triggers a compaction.
    """

    name = "ann"

    def __init__(
        self, path: str | Path, *, dimension: int | None = None, memory_budget_mb: float = DEFAULT_BUDGET_MB,
        search_params: SearchParams | None = None, build_params: BuildParams | None = None,
        background: bool = True, compact_min: int = _COMPACT_MIN,
    ) -> None:
        self.path = Path(path)
        self.dimension = dimension
        self._budget = memory_budget_mb
        self._search_params = search_params
        self._build_params = build_params
        self._background = background
        self._compact_min = compact_min
        self._index: AnnIndex | None = None
        if (self.path / LOG_NAME).exists() or (self.path / MAIN_NAME).exists():
            self._index = AnnIndex.open(self.path, memory_budget_mb=memory_budget_mb, search_params=search_params)
            if self._build_params is not None:
                self._index.build_params = self._build_params
            if dimension is not None and self._index.dim != dimension:
                found = self._index.dim
                self._index.close()
                raise ValueError(f"{self.path}: ANN index has dimension {found}, expected {dimension}")
            self.dimension = self._index.dim
        elif dimension is not None:
            self._index = self._create(dimension)

    def _create(self, dimension: int) -> AnnIndex:
        return AnnIndex.create(self.path, dimension, params=self._build_params, memory_budget_mb=self._budget,
                               search_params=self._search_params)

    # --- writes ---------------------------------------------------------------------------------

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]) -> None:
        """Add or replace vectors by id (an existing id is replaced, never duplicated)."""
        if not len(ids):
            return
        matrix = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if self._index is None:
            self.dimension = int(matrix.shape[1])
            self._index = self._create(self.dimension)
        self._index.upsert(ids, matrix, metadatas)
        self._maybe_compact()

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors by id; unknown ids are ignored."""
        if self._index is None or not len(ids):
            return
        self._index.delete(ids)
        self._maybe_compact()

    def _maybe_compact(self) -> None:
        index = self._index
        assert index is not None
        if index.delta_size >= max(self._compact_min, int(_COMPACT_FRACTION * index.main_rows)):
            index.compact(background=self._background)

    def compact(self) -> None:
        """Fold the delta buffer into the main file now (and wait for it)."""
        if self._index is not None:
            self._index.wait()
            self._index.compact()

    # --- reads ----------------------------------------------------------------------------------

    def query(self, vectors: np.ndarray, k: int, where: VectorFilter | None = None) -> list[list[VectorHit]]:
        """For each query row, up to ``k`` hits best first, all satisfying ``where``."""
        matrix = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if self._index is None or k <= 0:
            return [[] for _ in range(len(matrix))]
        return self._index.search(matrix, k, where)

    def get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Metadata of the ids that exist; missing ids are left out."""
        return {} if self._index is None else self._index.get(ids)

    def count(self) -> int:
        return 0 if self._index is None else self._index.count()

    def ids(self) -> list[str]:
        return [] if self._index is None else self._index.ids()

    def info(self) -> dict[str, Any]:
        if self._index is None:
            return {"backend": self.name, "path": str(self.path), "vectors": 0, "bytes_on_disk": 0}
        return self._index.info()

    def drop(self) -> None:
        """Delete the whole index; the backend starts empty."""
        if self._index is not None:
            self._index.close()
            self._index = None
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.path)
        if self.dimension is not None:
            self._index = self._create(self.dimension)

    def close(self) -> None:
        """Release files and memory (waits for a background compaction)."""
        if self._index is not None:
            self._index.close()
            self._index = None
