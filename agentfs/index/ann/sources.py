"""Where a compaction reads its rows from: the live rows of the old main file, then the delta."""

from __future__ import annotations

import numpy as np

from agentfs.index.ann.clustering import normalize_rows
from agentfs.index.ann.segment import Segment


class CompactionSource:
    """Rows ``0 .. len(live) - 1`` are the old file's live rows, the rest the delta's vectors.

    Old rows are decoded from their int16 form, so a row survives any number of compactions
    unchanged (quantising an already quantised value gives it back).
    """

    def __init__(self, segment: Segment | None, live_rows: np.ndarray | None, delta: np.ndarray) -> None:
        self._segment = segment
        self._live = live_rows if live_rows is not None else np.zeros(0, np.int64)
        self._delta = delta
        self.dim = int(delta.shape[1]) if segment is None else segment.dim

    def __len__(self) -> int:
        return len(self._live) + len(self._delta)

    def rows(self, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        out = np.empty((len(indices), self.dim), dtype=np.float32)
        old = indices < len(self._live)
        if old.any():
            assert self._segment is not None
            out[old] = self._segment.vectors(self._live[indices[old]])
        if (~old).any():
            out[~old] = self._delta[indices[~old] - len(self._live)]
        return normalize_rows(out)
