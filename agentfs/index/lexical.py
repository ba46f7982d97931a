"""Lexical search over the catalog's FTS5 table (BM25), filtered by read access inside SQL."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from agentfs.types import SearchHit

if TYPE_CHECKING:
    from agentfs.fs import ContextFS

_WORD = re.compile(r"\w+", re.UNICODE)


def to_match(query: str, operator: str = "OR") -> str:
    """Turn free text into an FTS5 query: every word quoted (no operator injection), OR-ed
    (or AND-ed with ``operator="AND"``)."""
    words = [w for w in _WORD.findall(query.lower()) if len(w) > 1 or w.isdigit()]
    if not words:
        return ""
    return f" {operator} ".join(f'"{w}"' for w in dict.fromkeys(words))


def lexical_search(
    fs: ContextFS,
    query: str,
    *,
    k: int = 10,
    path: str | tuple[str, ...] | None = None,
    pool: int | None = None,
) -> list[SearchHit]:
    """BM25 hits the principal of ``fs`` may read; the filter runs before the LIMIT.

    ``path`` may name several roots (one query over all of them). ``pool`` bounds the ranking to
    that many newest matching files (see ``Store.fts_search``).
    """
    match = to_match(query)
    if not match:
        return []
    scope = fs.read_scope()
    rows = fs._core.store.fts_search(
        match,
        limit=k,
        include_prefixes=None if scope.everything else scope.include_prefixes,
        exclude_prefixes=scope.exclude_prefixes,
        owners=scope.owners,
        under=path,
        pool=pool,
        match_all=to_match(query, "AND") if pool is not None else None,
    )
    hits = []
    for rank, (node, score) in enumerate(rows, start=1):
        hits.append(SearchHit(path=node.path, version=node.version, score=score, lexical_rank=rank,
                              meta=node.meta))
    return hits
