"""Search over one main file: probe, scan, refine, re-rank; or an exact scan of chosen rows.

One query is a fixed, short sequence of calls whatever the collection size:

1. **probe**: score the int8 list centroid codes (in code space, in RAM), keep the ``nprobe``
   best lists;
2. **scan**: score the int8 codes of every entry of those lists: one call of the compiled kernel
   (:mod:`agentfs.index.ann.kernel`), which reads the entries in place, or in numpy a gather
   (one fancy index) and one matrix-vector product per block of 2,048 entries;
3. **refine**: re-score the ``candidates`` best (at least a tenth of the scan) with the next
   principal axes (int8 per row);
4. **re-rank**: fetch the ``rerank`` best full int16 vectors (one page each) and score them
   exactly.

Code scores are integer sums (:func:`integer_query`), so the kernel and numpy return identical
candidates.

Each stage exists because it is ~10x cheaper per vector than the next: the scan reads 128 bytes
per entry, the refine 128 more for a few hundred rows, the re-rank 768 bytes (and a page fault
when the page is not mapped) for a few dozen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agentfs.index.ann.kernel import Kernel
from agentfs.index.ann.segment import Segment, ranges

# A scan passes at least one entry in this many to the refine stage.
CANDIDATE_SHARE = 10
# Exact scans run over blocks of this many rows so their temporaries stay small.
_EXACT_BLOCK = 16384
# Integer sums below this are exact in float32 (a 24-bit significand), whatever the order.
_EXACT_FLOAT_SUM = 2**24 - 1


@dataclass
class Candidates:
    """Rows (of the main file) and exact scores, best first, plus the pages the query read."""

    rows: np.ndarray
    scores: np.ndarray
    pages: int

    @classmethod
    def empty(cls, pages: int = 0) -> Candidates:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float32), pages)


class Scratch:
    """Buffers reused by every scan, and the scan kernel this index uses.

    A fresh multi-megabyte array per query costs page faults and zeroing (glibc maps large
    allocations afresh). The numpy scan converts a block of 2,048 entries to float32 (1 MiB),
    which stays in the CPU cache between the conversion and the product; the compiled scan writes
    scores and rows into buffers that grow to the largest scan seen.
    """

    BLOCK = 2048

    def __init__(self, segment: Segment, kernel: Kernel | None) -> None:
        self.kernel = kernel
        self.weights = np.zeros(segment.entry_bytes, dtype=np.float32)
        if self.kernel is None:
            self.items = np.empty(self.BLOCK, dtype=segment.entry_items.dtype)
            self.floats = np.empty((self.BLOCK, segment.entry_bytes), dtype=np.float32)
        else:
            self.items = np.empty(0, dtype=segment.entry_items.dtype)
            self.floats = np.empty((0, segment.entry_bytes), dtype=np.float32)
        self.scores = np.empty(0, dtype=np.float32)
        self.rows = np.empty(0, dtype=np.int32)
        # The centroid codes probing reads, as int8 (a quarter of the float32 codes, so they stay
        # in the CPU cache) or, for numpy, as those integers in float32 (one BLAS product, exact:
        # the sums are integers below 2^24).
        codes = np.clip(np.rint(np.asarray(segment.centroid_codes) / segment.probe_scale), -127, 127)
        if kernel is None:
            self.probe_codes = codes.astype(np.float32)
        else:
            self.probe_codes = np.zeros((segment.lists, segment.entry_bytes), dtype=np.int8)
            self.probe_codes[:, : segment.code_dims] = codes
        self.all_lists = np.arange(segment.lists if kernel is not None else 0, dtype=np.int32)

    def outputs(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Score and row buffers of at least ``count`` entries."""
        if len(self.scores) < count:
            size = max(count, 2 * len(self.scores), self.BLOCK)
            self.scores = np.empty(size, dtype=np.float32)
            self.rows = np.empty(size, dtype=np.int32)
        return self.scores, self.rows

    @property
    def kernel_name(self) -> str:
        return "numpy" if self.kernel is None else "c"

    @property
    def nbytes(self) -> int:
        held = self.items.nbytes + self.floats.nbytes + self.weights.nbytes + self.scores.nbytes + self.rows.nbytes
        return held + self.probe_codes.nbytes + self.all_lists.nbytes


def exact_search(segment: Segment, query: np.ndarray, k: int, rows: np.ndarray | None) -> Candidates:
    """Exact top ``k`` over ``rows`` (``None``: every row)."""
    total = segment.rows if rows is None else len(rows)
    best_rows = np.zeros(0, np.int64)
    best_scores = np.zeros(0, np.float32)
    pages = 0
    for start in range(0, total, _EXACT_BLOCK):
        block = np.arange(start, min(total, start + _EXACT_BLOCK)) if rows is None else rows[start : start + _EXACT_BLOCK]
        best_rows = np.concatenate([best_rows, block])
        best_scores = np.concatenate([best_scores, exact_scores(segment, query, block)])
        pages += segment.vector_pages(block)
        if len(best_rows) > k:
            top = np.argpartition(-best_scores, k - 1)[:k]
            best_rows, best_scores = best_rows[top], best_scores[top]
    order = np.argsort(-best_scores, kind="stable")
    return Candidates(best_rows[order], best_scores[order], pages)


def exact_scores(segment: Segment, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return segment.raw_vectors(rows).astype(np.float32) @ (query * np.float32(1.0 / segment.scale))


def centroid_scores(segment: Segment, scratch: Scratch, code_query: np.ndarray) -> np.ndarray:
    """Approximate similarity of the query to every list centroid (code space, int8 centroids)."""
    codes = scratch.probe_codes
    query, factor = integer_query(code_query * segment.probe_scale, codes.shape[1])
    if scratch.kernel is not None:
        raw = scratch.kernel.score_rows(codes, scratch.all_lists, query)
    else:
        raw = codes @ query.astype(np.float32)
    return raw * factor


def probe(segment: Segment, scratch: Scratch, code_query: np.ndarray, nprobe: int,
          prune: float | None = None) -> np.ndarray:
    """The lists to scan: the ``nprobe`` most similar centroids (code space), minus those more
    than ``prune`` below the best (query-aware pruning)."""
    similarity = centroid_scores(segment, scratch, code_query)
    nprobe = max(1, min(nprobe, segment.lists))
    lists = np.argpartition(-similarity, nprobe - 1)[:nprobe] if nprobe < segment.lists else np.arange(segment.lists)
    if prune is not None:
        picked = similarity[lists]
        lists = lists[picked >= picked.max() - prune]
    return lists


def ivf_search(
    segment: Segment, scratch: Scratch, query: np.ndarray, k: int, *, nprobe: int, candidates: int, rerank: int,
    allowed: np.ndarray | None = None, lists: np.ndarray | None = None, prune: float | None = None,
) -> Candidates:
    """Approximate top ``k`` rows for one unit query.

    Args:
        segment: The main file.
        scratch: Buffers of this segment.
        query: ``(d,)`` unit float32.
        k: Results wanted.
        nprobe: Lists to scan (ignored when ``lists`` is given).
        candidates: Best scanned entries re-scored with the refine codes (at least; a large scan
            re-scores one entry in :data:`CANDIDATE_SHARE`).
        rerank: Best refined rows re-scored exactly.
        allowed: Boolean mask over rows (filter and tombstones), or None for all rows.
        lists: Exactly which lists to scan (a filtered search widens the probe itself).
        prune: Query-aware pruning margin.
    """
    projected = query @ segment.basis_full
    code_query = projected[: segment.code_dims]
    if lists is None:
        lists = probe(segment, scratch, code_query, nprobe, prune)
    pages = 0 if "codes" in segment.cached else int(segment.list_pages[lists].sum())
    rows, scores = scan(segment, scratch, lists, code_query)
    if not len(rows):
        return Candidates.empty(pages)
    if allowed is not None:
        keep = allowed[rows]
        rows, scores = rows[keep], scores[keep]
    # The scan's int8 codes only rank: the more entries scanned, the more of the true top k sit
    # just below the cut, so the refine stage takes a share of the scan, not a fixed count
    # (measured at 1,000,000 synthetic vectors and 9,500 entries scanned: 200 candidates give
    # recall 0.93, 800 give 0.97; on 55,000 MiniLM vectors 200 already reach the ceiling).
    rows, scores = _best(rows, scores, max(candidates, rerank, k, len(rows) // CANDIDATE_SHARE))
    if segment.replicated:
        # Replicated entries can bring one row twice.
        rows, first = np.unique(rows, return_index=True)
        scores = scores[first]
    if segment.refine_dims:
        if "refine" not in segment.cached:
            pages += len(np.unique(rows.astype(np.int64) * segment.refine_dims // 4096))
        scores = scores + refine_scores(segment, scratch, rows, projected[segment.code_dims :])
    rows, scores = _best(rows, scores, max(rerank, k))
    rows = rows.astype(np.int64)
    exact_rows = exact_scores(segment, query, rows)
    pages += segment.vector_pages(rows)
    rows, exact_rows = _best(rows, exact_rows, k)
    order = np.argsort(-exact_rows, kind="stable")
    return Candidates(rows[order], exact_rows[order], pages)


def _best(rows: np.ndarray, scores: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    if len(rows) <= count:
        return rows, scores
    top = np.argpartition(-scores, count - 1)[:count]
    return rows[top], scores[top]


def integer_query(weights: np.ndarray, length: int) -> tuple[np.ndarray, np.float32]:
    """``weights`` rounded to integers (int16, zero-padded to ``length``) and the factor that turns
    integer scores back into the weights' scale.

    Scores of int8 codes against this query are integers small enough (every partial sum below
    2^24 even with codes of -128) that float32 sums them exactly in any order: the numpy scan (a
    float32 BLAS product) and the compiled one (int32 sums) return identical scores. The rounding
    keeps ~11 bits per weight at 124 code dimensions, finer than the int8 codes themselves.
    """
    dims = len(weights)
    limit = max(1, min(32767, _EXACT_FLOAT_SUM // (128 * max(1, dims))))
    query = np.zeros(length, dtype=np.int16)
    largest = float(np.abs(weights).max()) if dims else 0.0
    if not largest > 0 or not np.isfinite(largest):
        return query, np.float32(0.0)
    query[:dims] = np.rint(weights * (limit / largest)).astype(np.int16)
    return query, np.float32(largest / limit)


def scan(segment: Segment, scratch: Scratch, lists: np.ndarray, code_query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (int32) and approximate scores of every entry of ``lists``, in list order."""
    lists = np.ascontiguousarray(lists, dtype=np.int64)
    query, factor = integer_query(code_query * segment.code_scale, segment.entry_bytes)
    if scratch.kernel is not None:
        count = int(segment.list_sizes[lists].sum()) if len(lists) else 0
        scores, rows = scratch.outputs(count)
        # Scanned in place (the mapping or the cached copy): no gather, one pass per entry.
        written = scratch.kernel.scan_lists(segment.scan_codes, segment.scan_rows, segment.scan_offsets,
                                            segment.list_sizes, lists, query, scores, rows)
        return rows[:written].copy(), scores[:written] * factor
    positions = ranges(segment.scan_offsets[lists], segment.list_sizes[lists])
    raw = _scan_numpy(segment, scratch, positions, query)
    return np.asarray(segment.scan_rows[positions], dtype=np.int32), raw * factor


def refine_scores(segment: Segment, scratch: Scratch, rows: np.ndarray, refine_query: np.ndarray) -> np.ndarray:
    """Approximate scores of ``rows`` on the refine axes."""
    query, factor = integer_query(refine_query * segment.refine_scale, segment.refine_dims)
    rows = np.ascontiguousarray(rows, dtype=np.int32)
    if scratch.kernel is not None and segment.refine.flags.c_contiguous:
        raw = scratch.kernel.score_rows(segment.refine, rows, query)
    else:
        raw = segment.refine[rows].astype(np.float32) @ query.astype(np.float32)
    return raw * factor


def _scan_numpy(segment: Segment, scratch: Scratch, positions: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Integer scores (as float32) of the entries at ``positions``."""
    count = len(positions)
    scores = np.empty(count, dtype=np.float32)
    # Converting whole entries (row bytes included) keeps every array contiguous; the weights of
    # the padding and row columns are zero.
    weights = scratch.weights
    weights[:] = query
    items, floats = scratch.items, scratch.floats
    for start in range(0, count, len(items)):
        stop = min(count, start + len(items))
        n = stop - start
        np.take(segment.scan_items, positions[start:stop], out=items[:n])
        np.copyto(floats[:n], items[:n].view(np.int8).reshape(n, segment.entry_bytes), casting="unsafe")
        np.dot(floats[:n], weights, out=scores[start:stop])
    return scores
