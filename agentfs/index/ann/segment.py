"""An opened main file: its arrays, served from the mapping, and the search over them.

One query is a fixed, short sequence of numpy calls whatever the collection size:

1. score the list centroids (in code space, held in RAM) and pick the ``nprobe`` best lists;
2. gather the entries of those lists with one fancy index (each list is a run of whole pages)
   and score their codes with one matrix-vector product;
3. keep the ``rerank`` best candidates allowed by the filter, fetch their full int16 vectors
   (one page each) and re-score them exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agentfs.index.ann.attributes import Attributes
from agentfs.index.ann.builder import MAIN_FORMAT, KeptEntries, Trained
from agentfs.index.ann.errors import AnnFormatError
from agentfs.index.ann.fileformat import PAGE, SectionFile
from agentfs.index.ann.params import BuildParams
from agentfs.index.ann.records import Records
from agentfs.index.ann.strings import decode_metadata, find_rows, unpack_one

# Exact scans run over blocks of this many rows so their temporaries stay small.
_EXACT_BLOCK = 16384


@dataclass
class Candidates:
    """Rows (of the main file) and exact scores, best first, plus the pages the query read."""

    rows: np.ndarray
    scores: np.ndarray
    pages: int


class Segment:
    """A main index file opened for search.

    Args:
        path: The file.
        verify: Check every checksum while opening (reads the file once).

    Raises:
        AnnFormatError: the file is damaged, foreign or inconsistent.
    """

    def __init__(self, path: Path, verify: bool = True) -> None:
        self.file = SectionFile(path, verify=verify)
        try:
            self._load()
        except AnnFormatError:
            self.file.close()
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            self.file.close()
            raise AnnFormatError(f"{path}: inconsistent index file ({exc})", path=str(path)) from None

    def _error(self, what: str) -> AnnFormatError:
        return AnnFormatError(f"{self.file.path}: {what}", path=str(self.file.path))

    def _load(self) -> None:
        meta = self.file.meta
        if meta.get("format") != MAIN_FORMAT:
            raise self._error("not a main index file")
        self.meta = meta
        self.dim = int(meta["dim"])
        self.rows = int(meta["rows"])
        self.lists = int(meta["lists"])
        self.code_dims = int(meta["code_dims"])
        self.rows_per_page = int(meta["rows_per_page"])
        self.scale = float(meta["vector_scale"])
        self.generation = int(meta["generation"])
        self.log_generation = int(meta["log_generation"])
        self.log_offset = int(meta["log_offset"])
        self.trained_rows = int(meta["trained_rows"])
        self.build_params = BuildParams.from_dict(meta.get("build", {}))
        if self.dim <= 0 or self.rows < 0 or self.scale <= 0:
            raise self._error("bad dimensions in header")
        f = self.file
        vectors = f.array("vectors")
        if self.rows_per_page:
            pages = -(-self.rows // self.rows_per_page)
            if vectors.shape != (pages, PAGE // 2) or self.rows_per_page * self.dim * 2 > PAGE:
                raise self._error("vectors section does not match the header")
            # A strided view: whole rows inside each page, the page tail skipped. No copy.
            self._vectors = np.lib.stride_tricks.as_strided(
                vectors, shape=(pages, self.rows_per_page, self.dim),
                strides=(PAGE, self.dim * 2, 2), writeable=False)
        else:
            if vectors.shape != (self.rows, self.dim):
                raise self._error("vectors section does not match the header")
            self._vectors = vectors
        self.ids_offsets, self.ids_blob = f.array("ids_offsets"), f.array("ids_blob")
        self.meta_offsets, self.meta_blob = f.array("meta_offsets"), f.array("meta_blob")
        self.id_hash, self.id_hash_rows = f.array("id_hash"), f.array("id_hash_rows")
        for offsets, blob in ((self.ids_offsets, self.ids_blob), (self.meta_offsets, self.meta_blob)):
            if len(offsets) != self.rows + 1 or offsets[0] != 0 or offsets[-1] != len(blob) \
                    or (self.rows and np.any(np.diff(offsets) < 0)):
                raise self._error("record offsets are inconsistent")
        if len(self.id_hash) != self.rows or len(self.id_hash_rows) != self.rows:
            raise self._error("id index does not match the header")
        if self.rows and (self.id_hash_rows.min() < 0 or self.id_hash_rows.max() >= self.rows):
            raise self._error("id index points outside the file")
        tables = json.loads(f.array("tables").tobytes().decode("utf-8"))
        prefix_hash = f.array("prefix_hash")
        self.attributes = Attributes(f.array("path_hash"), prefix_hash, f.array("owner"), f.array("kind"),
                                     [str(o) for o in tables["owners"]], [str(k) for k in tables["kinds"]])
        if any(len(a) != self.rows for a in (self.attributes.path_hash, self.attributes.owner, self.attributes.kind)) \
                or prefix_hash.ndim != 2 or prefix_hash.shape[1] != self.rows:
            raise self._error("filter attributes do not match the header")
        if self.lists:
            self._load_lists()

    def _load_lists(self) -> None:
        f = self.file
        # Held in RAM (copied out of the mapping): every query reads all of them.
        self.mean = np.array(f.array("mean"))
        self.basis = np.array(f.array("basis"))
        self.code_scale = np.array(f.array("code_scale"))
        self.centroid_codes = np.array(f.array("centroid_codes"))
        self.list_offsets = np.array(f.array("list_offsets"))
        self.list_sizes = np.array(f.array("list_sizes")).astype(np.int64)
        self.entries = f.array("entries")
        self.entry_rows = f.array("entry_rows")
        k = self.code_dims
        self.entry_bytes = int(self.meta["entry_bytes"])
        if self.basis.shape != (self.dim, k) or self.centroid_codes.shape != (self.lists, k) \
                or self.code_scale.shape != (k,) or self.mean.shape != (self.dim,) \
                or self.entries.ndim != 2 or self.entries.shape[1] != self.entry_bytes or self.entry_bytes < k + 4 \
                or self.entry_rows.shape != (len(self.entries),):
            raise self._error("list sections do not match the header")
        if len(self.list_offsets) != self.lists + 1 or len(self.list_sizes) != self.lists \
                or self.list_offsets[0] != 0 or self.list_offsets[-1] != len(self.entries) \
                or np.any(self.list_sizes < 0) or np.any(self.list_offsets[:-1] + self.list_sizes > self.list_offsets[1:]):
            raise self._error("posting lists are inconsistent")
        if len(self.entry_rows) and (self.entry_rows.max() >= self.rows or self.entry_rows.min() < -1):
            raise self._error("posting lists point outside the file")
        # One opaque item per entry: numpy gathers 1-D fixed-size items ~3x faster than 2-D rows.
        self._entry_items = self.entries.view(f"V{self.entry_bytes}").reshape(len(self.entries))
        self._scratch = _Scratch(self._entry_items.dtype, self.entry_bytes)
        self.list_pages = -(-self.list_sizes * self.entry_bytes // PAGE)
        # What the scan reads: the mapped file (page-aligned lists) or, once cache_codes() ran,
        # a compact copy in RAM (no padding).
        self._scan_items, self._scan_rows, self._scan_offsets = self._entry_items, self.entry_rows, self.list_offsets
        self.codes_cached = False

    def code_bytes(self) -> int:
        """Bytes the live posting-list entries take without page padding (the cost of caching)."""
        return int(self.list_sizes.sum()) * (self.entry_bytes + 4)

    def cache_codes(self) -> None:
        """Copy the posting lists into RAM (compact): scans then touch no file pages at all."""
        if self.codes_cached or not self.lists:
            return
        positions = _ranges(self.list_offsets[:-1], self.list_sizes)
        self._scan_items = self._entry_items[positions]
        self._scan_rows = np.array(self.entry_rows[positions])
        offsets = np.zeros(self.lists + 1, dtype=np.int64)
        np.cumsum(self.list_sizes, out=offsets[1:])
        self._scan_offsets = offsets
        self.codes_cached = True
        self.list_pages = -(-self.list_sizes * self.entry_bytes // PAGE)

    def fixed_bytes(self) -> int:
        if not self.lists:
            return 0
        cached = self._scan_items.nbytes + self._scan_rows.nbytes if self.codes_cached else 0
        return cached + self._scratch.nbytes + sum(a.nbytes for a in (
            self.mean, self.basis, self.code_scale, self.centroid_codes, self.list_offsets, self.list_sizes,
            self.list_pages))

    # --- records ---------------------------------------------------------------------------------

    def id_of(self, row: int) -> str:
        return unpack_one(self.ids_offsets, self.ids_blob, row).decode("utf-8", "surrogatepass")

    def metadata_of(self, row: int) -> dict[str, Any]:
        return decode_metadata(unpack_one(self.meta_offsets, self.meta_blob, row))

    def find(self, ids: list[str]) -> np.ndarray:
        """Row of each id, -1 where absent."""
        return find_rows(ids, self.id_hash, self.id_hash_rows, self.ids_offsets, self.ids_blob)

    def records(self, rows: np.ndarray) -> Records:
        """Ids, raw metadata and attributes of ``rows`` (for a compaction)."""
        picked = rows.tolist()
        ids = [self.id_of(r) for r in picked]
        blobs = [unpack_one(self.meta_offsets, self.meta_blob, r) for r in picked]
        return Records(ids, blobs, self.attributes.take(rows))

    def record_pages(self, rows: np.ndarray) -> int:
        """Distinct pages holding the ids and metadata of ``rows`` (the hits a query returns)."""
        pages = []
        for name, offsets in (("ids", self.ids_offsets), ("meta", self.meta_offsets)):
            base = self.file.span(f"{name}_blob")[0]
            starts = base + offsets[rows]
            ends = np.maximum(starts, base + offsets[rows + 1] - 1)
            pages += [starts // PAGE, ends // PAGE]
        return len(np.unique(np.concatenate(pages)))

    # --- vectors ---------------------------------------------------------------------------------

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Full vectors of ``rows`` as float32 (int16 decoded, error below 2e-5 per component)."""
        if self.rows_per_page:
            raw = self._vectors[rows // self.rows_per_page, rows % self.rows_per_page]
        else:
            raw = self._vectors[rows]
        return raw.astype(np.float32) * np.float32(1.0 / self.scale)

    def _exact_scores(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if self.rows_per_page:
            raw = self._vectors[rows // self.rows_per_page, rows % self.rows_per_page]
        else:
            raw = self._vectors[rows]
        return raw.astype(np.float32) @ (query * np.float32(1.0 / self.scale))

    def _vector_pages(self, rows: np.ndarray) -> int:
        if self.rows_per_page:
            return len(np.unique(rows // self.rows_per_page))
        row_bytes = self.dim * 2
        first = rows * row_bytes // PAGE
        last = (rows * row_bytes + row_bytes - 1) // PAGE
        return len(np.unique(np.concatenate([first, last])))

    def trained(self) -> Trained | None:
        if not self.lists:
            return None
        return Trained(self.mean, self.basis, self.code_scale, np.array(self.file.array("centroids")),
                       self.trained_rows)

    def kept_entries(self, live: np.ndarray) -> KeptEntries:
        """List entries of the live rows, renumbered as the rows are compacted (dead rows dropped)."""
        new_row = np.cumsum(live) - 1
        positions = _ranges(self.list_offsets[:-1], self.list_sizes)
        rows = np.asarray(self.entry_rows[positions])
        lists = np.repeat(np.arange(self.lists, dtype=np.int32), self.list_sizes)
        keep = live[rows]
        return KeptEntries(new_row[rows[keep]].astype(np.int32), lists[keep], int(live.sum()))

    # --- search ----------------------------------------------------------------------------------

    def exact(self, query: np.ndarray, k: int, rows: np.ndarray | None) -> Candidates:
        """Exact top ``k`` over ``rows`` (``None``: every row)."""
        total = self.rows if rows is None else len(rows)
        best_rows = np.zeros(0, np.int64)
        best_scores = np.zeros(0, np.float32)
        pages = 0
        for start in range(0, total, _EXACT_BLOCK):
            block = np.arange(start, min(total, start + _EXACT_BLOCK)) if rows is None else rows[start : start + _EXACT_BLOCK]
            scores = self._exact_scores(query, block)
            pages += self._vector_pages(block)
            best_rows = np.concatenate([best_rows, block])
            best_scores = np.concatenate([best_scores, scores])
            if len(best_rows) > k:
                top = np.argpartition(-best_scores, k - 1)[:k]
                best_rows, best_scores = best_rows[top], best_scores[top]
        order = np.argsort(-best_scores, kind="stable")
        return Candidates(best_rows[order], best_scores[order], pages)

    def probe_order(self, query: np.ndarray) -> np.ndarray:
        """Approximate similarity of the query to each list centroid (code space)."""
        return self.centroid_codes @ (query @ self.basis)

    def search(
        self, query: np.ndarray, k: int, nprobe: int, rerank: int, allowed: np.ndarray | None,
        lists: np.ndarray | None = None, prune: float | None = None,
    ) -> Candidates:
        """Approximate top ``k`` rows for one unit query.

        Args:
            query: ``(d,)`` unit float32.
            k: Results wanted.
            nprobe: Lists to scan (ignored when ``lists`` is given).
            rerank: Candidates re-scored exactly.
            allowed: Boolean mask over rows (filter and tombstones), or None for all rows.
            lists: Exactly which lists to scan (a filtered search widens the probe itself).
            prune: Query-aware pruning margin (see :class:`~agentfs.index.ann.params.SearchParams`).
        """
        code_query = query @ self.basis
        if lists is None:
            similarity = self.centroid_codes @ code_query
            nprobe = max(1, min(nprobe, self.lists))
            if nprobe < self.lists:
                lists = np.argpartition(-similarity, nprobe - 1)[:nprobe]
            else:
                lists = np.arange(self.lists)
            if prune is not None:
                picked = similarity[lists]
                lists = lists[picked >= picked.max() - prune]
        sizes = self.list_sizes[lists]
        positions = _ranges(self._scan_offsets[lists], sizes)
        pages = 0 if self.codes_cached else int(self.list_pages[lists].sum())
        if not len(positions):
            return Candidates(np.zeros(0, np.int64), np.zeros(0, np.float32), pages)
        count = len(positions)
        items, floats, scores = self._scratch.get(count)
        np.take(self._scan_items, positions, out=items)
        # Converting whole entries (row bytes included) keeps every array contiguous; the weights
        # of the padding and row columns are zero.
        np.copyto(floats, items.view(np.int8).reshape(count, self.entry_bytes), casting="unsafe")
        weights = np.zeros(self.entry_bytes, dtype=np.float32)
        weights[: self.code_dims] = code_query * self.code_scale
        np.dot(floats, weights, out=scores)
        rows = self._scan_rows[positions]
        if allowed is not None:
            keep = allowed[rows]
            rows, scores = rows[keep], scores[keep]
        wanted = max(rerank, k)
        if len(rows) > wanted:
            top = np.argpartition(-scores, wanted - 1)[:wanted]
            rows = rows[top]
        # Replicated entries can bring one row twice.
        rows = np.unique(rows).astype(np.int64)
        exact = self._exact_scores(query, rows)
        pages += self._vector_pages(rows)
        if len(rows) > k:
            top = np.argpartition(-exact, k - 1)[:k]
            rows, exact = rows[top], exact[top]
        order = np.argsort(-exact, kind="stable")
        return Candidates(rows[order], exact[order], pages)

    def eligible_per_list(self, allowed: np.ndarray) -> np.ndarray:
        """How many allowed rows each list holds (plans a filtered probe)."""
        rows = np.asarray(self.entry_rows)
        flags = np.zeros(len(rows) + 1, dtype=np.int64)
        # Padding entries (row -1) index the extra False at the end of the padded mask.
        flags[1:] = np.concatenate([allowed, [False]])[rows]
        ends = np.cumsum(flags)
        starts = self.list_offsets[:-1]
        return ends[starts + self.list_sizes] - ends[starts]

    def release_pages(self, everything: bool = True) -> None:
        """Unmap resident pages: the full vectors (read at random) or the whole file."""
        self.file.release_pages(None if everything else "vectors")

    def close(self) -> None:
        self._vectors = None  # type: ignore[assignment]
        self.entries = self._entry_items = self.entry_rows = None  # type: ignore[assignment]
        self._scan_items = self._scan_rows = None  # type: ignore[assignment]
        self.attributes = None  # type: ignore[assignment]
        for name in ("ids_offsets", "ids_blob", "meta_offsets", "meta_blob", "id_hash", "id_hash_rows"):
            setattr(self, name, None)
        self.file.close()


class _Scratch:
    """Reused per-query buffers: a fresh multi-megabyte array per query costs page faults and
    zeroing (glibc maps large allocations afresh), ~30% of a scan here."""

    def __init__(self, item_dtype: np.dtype, entry_bytes: int) -> None:
        self._item_dtype = item_dtype
        self._entry_bytes = entry_bytes
        self._capacity = 0
        self._grow(4096)

    def _grow(self, capacity: int) -> None:
        self._capacity = capacity
        self._items = np.empty(capacity, dtype=self._item_dtype)
        self._floats = np.empty((capacity, self._entry_bytes), dtype=np.float32)
        self._scores = np.empty(capacity, dtype=np.float32)

    def get(self, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if count > self._capacity:
            self._grow(max(count, 2 * self._capacity))
        return self._items[:count], self._floats[:count], self._scores[:count]

    @property
    def nbytes(self) -> int:
        return self._items.nbytes + self._floats.nbytes + self._scores.nbytes


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each start and size, without a Python loop."""
    total = int(sizes.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    # Each position is its index in the output plus a per-run shift.
    shifts = np.repeat(starts - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
    return np.arange(total, dtype=np.int64) + shifts
