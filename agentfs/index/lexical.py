"""Lexical search over the catalog's FTS5 table (BM25), filtered by read access inside SQL.

Bounded BM25 (:func:`bounded_bm25`). FTS5 computes BM25 for *every* row matching any query word
before it can sort, so a query with common words costs time in proportion to the store (~2-5 us a
row: 0.2-1 s at 100,000 abstract-sized files). The search service bounds that work without
changing the scores:

1. words in half the rows or more are dropped: FTS5 gives them an idf of 1e-6, so they cannot
   change a ranking beyond ties;
2. the rarest words whose document frequencies add up to at most ``budget`` are the *selective*
   set ``S``; the remaining words are ``R``. Only rows matching ``S`` are candidates;
3. each candidate's score is the exact BM25 of the whole query: FTS5 scores ``(S) AND (S OR R)``
   as ``2·S + R`` (every phrase contributes its own idf-weighted term, and ``S``'s phrases appear
   twice), so subtracting the BM25 of ``S`` alone leaves ``S + R``. The ``AND`` makes FTS5 seek
   ``R``'s long doclists only at candidate rows.

So the work is bounded by ``budget`` rows (or by the rarest word's frequency, when even that is
larger), and a file matching only common words is the only kind that can be missed: its score
is at most ``2.2 * sum(idf of R)``, small by construction. On SciFact (5,183 abstracts) the
ranking is unchanged at nDCG@10; at 100,000 files see docs/search.md for before/after figures.
"""

from __future__ import annotations

import re
import sqlite3
import threading
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


def query_words(query: str) -> list[str]:
    """The distinct words of ``query`` that :func:`to_match` searches for, in order."""
    return [w for w in dict.fromkeys(_WORD.findall(query.lower())) if len(w) > 1 or w.isdigit()]


def _any_of(words: list[str]) -> str:
    return " OR ".join(f'"{w}"' for w in words)


class TermStats:
    """Document frequencies of words in the FTS table, cached per store.

    They only choose which words bound a query (never its scores), so an estimate a few thousand
    commits old is good enough: the cache is dropped when the catalog has moved on by a tenth of
    the table (at least 1,000 events) since it was filled.
    """

    MAX_WORDS = 50_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._df: dict[str, int] = {}
        self._rows = 0
        self._seq: int | None = None

    def rows(self, conn: sqlite3.Connection, seq: int) -> int:
        """Rows of the FTS table (as of the cache's last refresh)."""
        with self._lock:
            if self._seq is None or abs(seq - self._seq) > max(1000, self._rows // 10):
                self._rows = int(conn.execute("SELECT count(*) FROM fts_docsize").fetchone()[0])
                self._df.clear()
                self._seq = seq
            return self._rows

    def df(self, conn: sqlite3.Connection, word: str) -> int:
        """How many rows contain ``word`` (after the table's stemming)."""
        found = self._df.get(word)
        if found is None:
            # Counting walks the word's doclist without scoring it: ~10x cheaper than BM25.
            found = int(conn.execute("SELECT count(*) FROM fts WHERE fts MATCH ?", (f'"{word}"',)).fetchone()[0])
            with self._lock:
                if len(self._df) >= self.MAX_WORDS:
                    self._df.clear()
                self._df[word] = found
        return found


def plan_bounded(conn: sqlite3.Connection, words: list[str], *, budget: int, stats: TermStats,
                 seq: int) -> tuple[list[str], list[str]] | None:
    """Split ``words`` into the selective set and the rest, or None when BM25 needs no bound.

    Returns None when the words' document frequencies add up to at most ``budget`` (the plain
    query is cheap and exact). Otherwise ``(selective, rest)``, rarest first, without the words in
    half the rows or more; ``selective`` is empty when every word is that common.
    """
    if budget <= 0 or not words:
        return None
    rows = stats.rows(conn, seq)
    frequencies = {w: stats.df(conn, w) for w in words}
    if sum(frequencies.values()) <= budget:
        return None
    live = sorted((w for w in words if frequencies[w] > 0 and 2 * frequencies[w] < rows), key=frequencies.__getitem__)
    selective: list[str] = []
    total = 0
    for word in live:
        if selective and total + frequencies[word] > budget:
            break
        selective.append(word)
        total += frequencies[word]
    return selective, live[len(selective):]


def bounded_bm25(conn: sqlite3.Connection, selective: list[str], rest: list[str], *,
                 limit: int) -> list[tuple[int, float]]:
    """Exact BM25 of ``selective + rest`` for the ``limit`` best rows matching a ``selective`` word.

    Returns ``(rowid, score)`` best first, higher scores better, like ``Store.fts_search``. No
    access filter: the caller filters the ranked list before it takes the top k (and asks again
    with a larger ``limit`` when filtering left too few).
    """
    if not selective:
        return []
    if not rest:
        sql = "SELECT rowid, -bm25(fts) AS score FROM fts WHERE fts MATCH ? ORDER BY score DESC, rowid LIMIT ?"
        return conn.execute(sql, (_any_of(selective), limit)).fetchall()
    # bm25() is negative (lower is better): bm25(S) - bm25((S) AND (S OR R)) = -S + 2S + R = S + R.
    # Both sides are materialised: joined directly, SQLite would re-run the inner full-text query
    # once per outer row.
    sql = (
        "WITH twice AS MATERIALIZED (SELECT rowid AS id, bm25(fts) AS r FROM fts WHERE fts MATCH ?), "
        "once AS MATERIALIZED (SELECT rowid AS id, bm25(fts) AS r FROM fts WHERE fts MATCH ?) "
        "SELECT twice.id, once.r - twice.r AS score FROM twice JOIN once ON once.id = twice.id "
        "ORDER BY score DESC, twice.id LIMIT ?"
    )
    both = f"({_any_of(selective)}) AND ({_any_of(selective + rest)})"
    return conn.execute(sql, (both, _any_of(selective), limit)).fetchall()


def lexical_search(
    fs: ContextFS,
    query: str,
    *,
    k: int = 10,
    path: str | tuple[str, ...] | None = None,
    pool: int | None = None,
    exclude: tuple[str, ...] = (),
) -> list[SearchHit]:
    """BM25 hits the principal of ``fs`` may read; the filter runs before the LIMIT.

    ``path`` may name several roots (one query over all of them); ``exclude`` leaves subtrees out.
    ``pool`` bounds the ranking to that many newest matching files (see ``Store.fts_search``).
    """
    match = to_match(query)
    if not match:
        return []
    scope = fs.read_scope()
    rows = fs._core.store.fts_search(
        match,
        limit=k,
        include_prefixes=None if scope.everything else scope.include_prefixes,
        exclude_prefixes=scope.exclude_prefixes + exclude,
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
