"""Build and search parameters of the ANN index, with the defaults we measured."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from agentfs.index.ann.fileformat import PAGE

# A posting-list entry is code_dims int8 values plus the row number (int32); entries tile 4 KiB
# pages exactly when their size is a power of two.
_ENTRY_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def code_dims_for(dim: int, requested: int) -> int:
    """The largest ``2**j - 4`` that is at most ``requested`` and at most ``dim``."""
    best = min(dim, _ENTRY_SIZES[0] - 4)
    for size in _ENTRY_SIZES:
        if size - 4 <= min(requested, dim):
            best = size - 4
    return best


def entry_bytes_for(code_dims: int) -> int:
    """Bytes of one posting-list entry: the codes and the row, rounded up to a power of two."""
    size = _ENTRY_SIZES[0]
    while size < code_dims + 4:
        size *= 2
    return size


@dataclass(frozen=True)
class BuildParams:
    """How an index file is laid out.

    Attributes:
        lists: Number of posting lists; ``None`` picks ``lists_per_sqrt * sqrt(n)`` (at most n / 8).
        lists_per_sqrt: See ``lists``.
        code_dims: Principal axes kept in the scan codes (rounded down to ``2**j - 4``).
        refine_dims: Further axes kept, per vector, to re-score the best candidates of the scan
            before the exact re-rank (0: none).
        replicas: Most lists one vector is stored in (boundary replication).
        replica_epsilon: SPANN closure tolerance for replicas (0 turns replication off).
        kmeans_iterations: Lloyd iterations when training lists.
        train_sample: Rows sampled to train lists and axes.
        flat_below: Collections smaller than this get no lists: search scans them exactly.
        seed: Seed of every random choice (a build is reproducible).
    """

    lists: int | None = None
    lists_per_sqrt: float = 16.0
    code_dims: int = 124
    refine_dims: int = 128
    replicas: int = 1
    replica_epsilon: float = 0.1
    kmeans_iterations: int = 12
    train_sample: int = 200_000
    flat_below: int = 4096
    seed: int = 0

    def lists_for(self, rows: int) -> int:
        """Number of lists for ``rows`` vectors (0: flat, no lists)."""
        if rows < self.flat_below or rows < 2:
            return 0
        # Finer lists need fewer candidates for the same recall (measured on MiniLM vectors:
        # 4,000 lists of 14 beat 938 of 59 by 2x at 0.98), but a list under ~8 vectors is mostly
        # page padding and probe overhead.
        wanted = self.lists if self.lists is not None else round(min(self.lists_per_sqrt * math.sqrt(rows), rows / 8))
        return max(1, min(int(wanted), rows))

    def entry_bytes(self, dim: int) -> int:
        return entry_bytes_for(code_dims_for(dim, self.code_dims))

    def entries_per_page(self, dim: int) -> int:
        return PAGE // self.entry_bytes(dim)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildParams:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class SearchParams:
    """How much work one query does.

    Attributes:
        nprobe: Posting lists scanned per query (more: higher recall, lower speed).
        candidates: Best entries of the scan re-scored with the refine codes (at least; a scan
            of many entries re-scores a tenth of them).
        rerank: Best of those re-scored exactly with the full vectors (one page read each).
        prune: Skip probed lists whose centroid similarity is more than this below the best
            list's (query-aware pruning, SPANN); ``None`` never skips.
        exact_below: With a filter, scan the eligible vectors exactly when there are at most this
            many (``None``: decided from the collection size).
    """

    nprobe: int = 128
    candidates: int = 200
    rerank: int = 48
    prune: float | None = None
    exact_below: int | None = None
