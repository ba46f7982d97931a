"""Filter masks over the main file's rows, computed once per distinct filter and reused.

An agent asks many queries under the same permissions, so the mask of a :class:`VectorFilter`
(a few vectorised passes over the attribute arrays) is cached; a delete or replace changes the
tombstones and clears the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from agentfs.index.backend import VectorFilter

if TYPE_CHECKING:
    from agentfs.index.ann.segment import Segment

_CACHED_FILTERS = 8


class FilterPlan:
    """Which main-file rows a query may return.

    Attributes:
        mask: Boolean over rows, or None when every row is allowed.
        eligible_count: Number of allowed rows.
    """

    def __init__(self, mask: np.ndarray | None, rows: int) -> None:
        self.mask = mask
        self.eligible_count = rows if mask is None else int(np.count_nonzero(mask))
        self._eligible_rows: np.ndarray | None = None
        self._per_list: np.ndarray | None = None

    def eligible_rows(self) -> np.ndarray | None:
        """Indices of the allowed rows (None: all rows)."""
        if self.mask is None:
            return None
        if self._eligible_rows is None:
            self._eligible_rows = np.flatnonzero(self.mask)
        return self._eligible_rows

    def per_list(self, segment: Segment) -> np.ndarray:
        """Allowed entries per posting list."""
        if self._per_list is None:
            if self.mask is None:
                self._per_list = segment.list_sizes
            else:
                self._per_list = segment.eligible_per_list(self.mask)
        return self._per_list

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.mask, self._eligible_rows, self._per_list) if a is not None)


class FilterCache:
    """Least-recently-used cache of :class:`FilterPlan` by filter."""

    def __init__(self) -> None:
        self._plans: OrderedDict[VectorFilter | None, FilterPlan] = OrderedDict()

    def plan(self, segment: Segment, where: VectorFilter | None, dead: np.ndarray) -> FilterPlan:
        try:
            cached = self._plans.get(where)
        except TypeError:  # a filter built with lists is not hashable: compute, do not cache
            return self._compute(segment, where, dead)
        if cached is not None:
            self._plans.move_to_end(where)
            return cached
        plan = self._compute(segment, where, dead)
        self._plans[where] = plan
        while len(self._plans) > _CACHED_FILTERS:
            self._plans.popitem(last=False)
        return plan

    @staticmethod
    def _compute(segment: Segment, where: VectorFilter | None, dead: np.ndarray) -> FilterPlan:
        if where is None:
            return FilterPlan(~dead if dead.any() else None, segment.rows)
        mask = segment.attributes.mask(where)
        mask &= ~dead
        return FilterPlan(mask, segment.rows)

    def clear(self) -> None:
        self._plans.clear()

    def nbytes(self) -> int:
        return sum(plan.nbytes() for plan in self._plans.values())
