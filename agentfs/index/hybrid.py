"""Hybrid ranking: fuse the lexical (BM25) and dense (cosine) lists; search filters.

Fusion. Two methods:

- ``"minmax"`` (the default): each list's scores are rescaled to [0, 1] by its own minimum and
  maximum, and a file's fused score is ``(1 - w) * lexical + w * dense`` with ``w`` the dense
  weight (0.5 by default); a file absent from a list gets 0 from it. Unlike rank fusion, it keeps
  *how much* better the first hit is than the tenth.
- ``"rrf"``: reciprocal-rank fusion, ``sum(weight / (60 + rank))``, which ignores scores.

Both were compared on the SciFact *train* queries (never the test queries the benchmark reports):
min-max scored nDCG@10 0.742 at w=0.4 and 0.739 at w=0.5, RRF 0.728; Cranfield, not used for
tuning, agrees. See docs/search.md.

Filters narrow a search beyond what the principal may read (that filter lives in the backends):
``path`` (a prefix, segment-wise), ``kind`` (the mount: memory, skills, ...), ``tags``, ``type``
and modification time (``since``/``until``).
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from agentfs import paths
from agentfs.errors import ValidationError
from agentfs.timefmt import parse_since

FUSION_METHODS = ("minmax", "rrf")
DEFAULT_DENSE_WEIGHT = 0.5
RRF_K = 60


@dataclass(frozen=True)
class Fused:
    """One file after fusion: its key (node id), fused score and rank in each list (1-based)."""

    key: int
    score: float
    lexical_rank: int | None
    dense_rank: int | None


def _rescale(items: Sequence[tuple[int, float]]) -> dict[int, float]:
    if not items:
        return {}
    values = [score for _, score in items]
    low, high = min(values), max(values)
    if high <= low:
        return {key: 1.0 for key, _ in items}
    return {key: (score - low) / (high - low) for key, score in items}


def fuse(
    lexical: Sequence[tuple[int, float]],
    dense: Sequence[tuple[int, float]],
    *,
    dense_weight: float = DEFAULT_DENSE_WEIGHT,
    method: str = "minmax",
) -> list[Fused]:
    """Fuse two ranked lists of ``(key, score)`` (best first, higher is better).

    Args:
        lexical: BM25 results.
        dense: Cosine results (one entry per file: its best chunk).
        dense_weight: Weight of the dense list, in [0, 1].
        method: ``"minmax"`` or ``"rrf"``.

    Returns:
        Every key of either list, best first; ties keep lexical order, then dense order.

    Raises:
        ValidationError: an unknown method or a weight outside [0, 1].
    """
    if method not in FUSION_METHODS:
        raise ValidationError(f"unknown fusion method {method!r}; use one of {', '.join(FUSION_METHODS)}")
    if not 0.0 <= dense_weight <= 1.0:
        raise ValidationError(f"dense_weight must be between 0 and 1, got {dense_weight}")
    lexical_rank = {key: rank for rank, (key, _) in enumerate(lexical, start=1)}
    dense_rank = {key: rank for rank, (key, _) in enumerate(dense, start=1)}
    scores: dict[int, float] = {}
    if method == "rrf":
        for key, rank in lexical_rank.items():
            scores[key] = scores.get(key, 0.0) + (1.0 - dense_weight) / (RRF_K + rank)
        for key, rank in dense_rank.items():
            scores[key] = scores.get(key, 0.0) + dense_weight / (RRF_K + rank)
    else:
        for key, value in _rescale(lexical).items():
            scores[key] = scores.get(key, 0.0) + (1.0 - dense_weight) * value
        for key, value in _rescale(dense).items():
            scores[key] = scores.get(key, 0.0) + dense_weight * value
    order = {key: i for i, key in enumerate([*lexical_rank, *(k for k in dense_rank if k not in lexical_rank)])}
    ranked = sorted(scores, key=lambda key: (-scores[key], order[key]))
    return [Fused(key, scores[key], lexical_rank.get(key), dense_rank.get(key)) for key in ranked]


def _as_set(name: str, value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, Iterable):
        items = [str(v).strip() for v in value]
    else:
        raise ValidationError(f"search filter {name}= takes a string or a list of strings, got {value!r}")
    return frozenset(i for i in items if i)


def _as_ns(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError(f"search filter {name}= takes a time, got {value!r}")
    if isinstance(value, _dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
        return int(stamp.timestamp() * 1e9)
    if isinstance(value, int):
        return value  # nanoseconds since the epoch, as the catalog stores them
    if isinstance(value, float):
        return int(value * 1e9)  # seconds, as time.time() gives them
    if isinstance(value, str):
        try:
            return parse_since(value, time.time_ns())
        except ValueError as exc:
            raise ValidationError(f"search filter {name}=: {exc}") from None
    raise ValidationError(f"search filter {name}= takes a time (ISO string, 2h, datetime, ns), got {value!r}")


@dataclass(frozen=True)
class SearchFilters:
    """What a search is narrowed to, beyond read access. ``None`` means no constraint.

    Attributes:
        path: Only files at or below this path (segment-wise).
        kinds: Only files in these mounts (``memory``, ``skills``, ``knowledge``...).
        tags: Only files whose front-matter ``tags`` include at least one of these.
        types: Only files whose front-matter ``type`` is one of these.
        since_ns: Only files modified at or after this time.
        until_ns: Only files modified before this time.
    """

    path: str | None = None
    kinds: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    types: frozenset[str] | None = None
    since_ns: int | None = None
    until_ns: int | None = None

    KNOWN = ("kind", "tags", "type", "since", "until")

    @classmethod
    def parse(cls, path: str | None = None, **filters: Any) -> SearchFilters:
        """Build filters from ``ContextFS.search`` keyword arguments.

        Accepted: ``kind``, ``tags`` (a string, comma-separated string or list; ``tag`` too),
        ``type``, ``since`` and ``until`` (ISO time, ``"2h"``/``"7d"`` ago, a ``datetime``, or
        nanoseconds since the epoch).

        Raises:
            ValidationError: an unknown filter name or a bad value; the message lists the known ones.
        """
        if "tag" in filters:
            filters["tags"] = filters.pop("tag")
        if "kinds" in filters:
            filters["kind"] = filters.pop("kinds")
        unknown = sorted(set(filters) - set(cls.KNOWN))
        if unknown:
            raise ValidationError(
                f"unknown search filter {', '.join(unknown)}; filters are path, {', '.join(cls.KNOWN)}"
            )
        return cls(
            path=paths.normalize(path) if path and path != "/" else None,
            kinds=_as_set("kind", filters.get("kind")),
            tags=_as_set("tags", filters.get("tags")),
            types=_as_set("type", filters.get("type")),
            since_ns=_as_ns("since", filters.get("since")),
            until_ns=_as_ns("until", filters.get("until")),
        )

    @property
    def residual(self) -> bool:
        """True when something beyond ``path`` and ``kinds`` must be checked on each file."""
        return any(v is not None for v in (self.tags, self.types, self.since_ns, self.until_ns))

    def matches(self, path: str, kind: str, meta: dict[str, Any], modified_ns: int) -> bool:
        """Whether one file passes every filter."""
        if self.path is not None and not paths.is_within(path, self.path):
            return False
        if self.kinds is not None and kind not in self.kinds:
            return False
        if self.tags is not None:
            tags = meta.get("tags")
            have = {str(t) for t in tags} if isinstance(tags, list) else ({str(tags)} if tags else set())
            if not have & self.tags:
                return False
        if self.types is not None and str(meta.get("type", "")) not in self.types:
            return False
        if self.since_ns is not None and modified_ns < self.since_ns:
            return False
        return not (self.until_ns is not None and modified_ns >= self.until_ns)
