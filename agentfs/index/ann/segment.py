"""An opened main file: validated arrays served from the mapping, and optional in-RAM copies.

The arrays a query reads at random (posting-list codes, refine codes, ids) can be copied into RAM
when the memory budget allows (:meth:`Segment.cache`); everything else is read through the
mapping, page by page. The search itself lives in :mod:`agentfs.index.ann.search`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from agentfs.index.ann.attributes import Attributes
from agentfs.index.ann.builder import MAIN_FORMAT, KeptEntries, Trained
from agentfs.index.ann.clustering import Partition
from agentfs.index.ann.errors import AnnFormatError
from agentfs.index.ann.fileformat import PAGE, SectionFile
from agentfs.index.ann.kernel import Kernel
from agentfs.index.ann.params import BuildParams
from agentfs.index.ann.records import Records
from agentfs.index.ann.strings import decode_metadata, find_rows, unpack_one

# What can be held in RAM, in the order it is worth it (bytes saved from random page reads per
# query, per byte of RAM): ids (every hit), scan codes (every probed list), refine codes.
CACHEABLE = ("ids", "codes", "refine")
# Pages one pread pass copies at most (the reused buffer is this many pages).
_PREAD_PAGES = 64


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
        self.cached: set[str] = set()
        self._pread_vectors = False
        self._row_reader: Kernel | None = None
        self._page_buffer = np.empty(0, dtype=np.uint8)
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
        self.refine_dims = int(meta["refine_dims"])
        self.rows_per_page = int(meta["rows_per_page"])
        self.scale = float(meta["vector_scale"])
        self.generation = int(meta["generation"])
        self.log_generation = int(meta["log_generation"])
        self.log_offset = int(meta["log_offset"])
        self.trained_rows = int(meta["trained_rows"])
        self.build_params = BuildParams.from_dict(meta.get("build", {}))
        if self.dim <= 0 or self.rows < 0 or self.scale <= 0 or self.code_dims < 0 or self.refine_dims < 0:
            raise self._error("bad dimensions in header")
        self._load_vectors()
        self._load_records()
        if self.lists:
            self._load_lists()

    def _load_vectors(self) -> None:
        vectors = self.file.array("vectors")
        if self.rows_per_page:
            pages = -(-self.rows // self.rows_per_page)
            if vectors.shape != (pages, PAGE // 2) or self.rows_per_page * self.dim * 2 > PAGE:
                raise self._error("vectors section does not match the header")
            # A strided view: whole rows inside each page, the page tail skipped. No copy.
            self._vectors = np.lib.stride_tricks.as_strided(
                vectors, shape=(pages, self.rows_per_page, self.dim), strides=(PAGE, self.dim * 2, 2),
                writeable=False)
        else:
            if vectors.shape != (self.rows, self.dim):
                raise self._error("vectors section does not match the header")
            self._vectors = vectors

    def _load_records(self) -> None:
        f = self.file
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

    def _load_lists(self) -> None:
        f = self.file
        # Held in RAM (copied out of the mapping): every query reads all of them.
        self.mean = np.array(f.array("mean"))
        basis = np.array(f.array("basis"))
        scale = np.array(f.array("code_scale"))
        # Probing reads int8 centroid codes (a quarter of the float32 ones, so they stay in the
        # CPU cache), each axis scaled to the centroids' own range; the floats stay in the file.
        self.centroid_codes = f.array("centroid_codes")
        self.list_offsets = np.array(f.array("list_offsets"))
        self.list_sizes = np.array(f.array("list_sizes")).astype(np.int64)
        self.entries = f.array("entries")
        self.entry_rows = f.array("entry_rows")
        self.refine = f.array("refine")
        k, r = self.code_dims, self.refine_dims
        self.entry_bytes = int(self.meta["entry_bytes"])
        if basis.shape != (self.dim, k + r) or scale.shape != (k + r,) or self.mean.shape != (self.dim,) \
                or self.centroid_codes.shape != (self.lists, k) or self.refine.shape != (self.rows, r) \
                or self.entries.ndim != 2 or self.entries.shape[1] != self.entry_bytes or self.entry_bytes < k + 4 \
                or self.entry_rows.shape != (len(self.entries),):
            raise self._error("list sections do not match the header")
        if len(self.list_offsets) != self.lists + 1 or len(self.list_sizes) != self.lists \
                or self.list_offsets[0] != 0 or self.list_offsets[-1] != len(self.entries) \
                or np.any(self.list_sizes < 0) or np.any(self.list_offsets[:-1] + self.list_sizes > self.list_offsets[1:]):
            raise self._error("posting lists are inconsistent")
        if len(self.entry_rows) and (self.entry_rows.max() >= self.rows or self.entry_rows.min() < -1):
            raise self._error("posting lists point outside the file")
        self.basis_full, self.scale_full = basis, scale
        self.basis, self.code_scale = np.ascontiguousarray(basis[:, :k]), scale[:k]
        self.refine_basis, self.refine_scale = np.ascontiguousarray(basis[:, k:]), scale[k:]
        self.list_pages = -(-self.list_sizes * self.entry_bytes // PAGE)
        self.probe_scale = probe_scale(self.centroid_codes)
        # Boundary replication stores some rows in several lists; without it a scan never meets
        # a row twice and the de-duplication step is skipped.
        self.replicated = int(self.list_sizes.sum()) > self.rows
        # One opaque item per entry: numpy gathers 1-D fixed-size items ~3x faster than 2-D rows.
        self.entry_items = self.entries.view(f"V{self.entry_bytes}").reshape(len(self.entries))
        # What a scan reads: the mapped file (page-aligned lists) or, once cached, a compact copy.
        self.scan_items, self.scan_rows, self.scan_offsets = self.entry_items, self.entry_rows, self.list_offsets
        self.scan_codes = self.entries  # the same bytes as (entries, entry_bytes) int8, for the compiled scan

    # --- what is held in RAM ---------------------------------------------------------------------

    def cache_cost(self, what: str) -> int:
        """Bytes an in-RAM copy of ``what`` (one of :data:`CACHEABLE`) would take."""
        if what == "ids":
            return self.ids_offsets.nbytes + self.ids_blob.nbytes
        if not self.lists:
            return 0
        if what == "codes":
            return int(self.list_sizes.sum()) * (self.entry_bytes + 4)
        return self.refine.nbytes

    def cache(self, what: str) -> None:
        """Copy ``what`` into RAM: queries then read it without touching file pages."""
        if what in self.cached or (what != "ids" and not self.lists):
            return
        if what == "ids":
            self.ids_offsets, self.ids_blob = np.array(self.ids_offsets), np.array(self.ids_blob)
        elif what == "codes":
            positions = ranges(self.list_offsets[:-1], self.list_sizes)
            self.scan_items = self.entry_items[positions]
            self.scan_codes = self.scan_items.view(np.int8).reshape(len(positions), self.entry_bytes)
            self.scan_rows = np.array(self.entry_rows[positions])
            offsets = np.zeros(self.lists + 1, dtype=np.int64)
            np.cumsum(self.list_sizes, out=offsets[1:])
            self.scan_offsets = offsets
        else:
            self.refine = np.array(self.refine)
        self.cached.add(what)

    def fixed_bytes(self) -> int:
        """Bytes of RAM this segment holds outside the mapping."""
        held = sum(self.cache_cost(what) for what in self.cached) + self._page_buffer.nbytes
        if self.lists:
            held += sum(a.nbytes for a in (self.mean, self.basis_full, self.scale_full, self.basis,
                                           self.refine_basis, self.probe_scale, self.list_offsets, self.list_sizes,
                                           self.list_pages))
        return held

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

    def record_pages(self, rows: list[int], with_metadata: bool) -> int:
        """Distinct file pages read to return ``rows`` as hits (ids, and metadata if decoded)."""
        pages: set[tuple[int, int]] = set()
        blobs = [] if "ids" in self.cached else [(0, self.ids_offsets, "ids")]
        if with_metadata:
            blobs.append((1, self.meta_offsets, "meta"))
        for tag, offsets, name in blobs:
            base = self.file.span(f"{name}_offsets")[0]
            blob = self.file.span(f"{name}_blob")[0]
            for row in rows:
                start, end = int(offsets[row]), int(offsets[row + 1])
                pages.add((tag, (base + 8 * row) // PAGE))
                pages.update((tag + 2, p) for p in range((blob + start) // PAGE, (blob + max(start, end - 1)) // PAGE + 1))
        return len(pages)

    # --- vectors ---------------------------------------------------------------------------------

    def read_vectors_with_pread(self, enabled: bool, reader: Kernel | None = None) -> None:
        """Read full vectors with ``pread`` (``True``) or through the mapping (``False``).

        Through the mapping, every page a re-rank touches joins the resident set until the
        memory governor unmaps it, and faults it back in afterwards (with the kernel's
        fault-around, 16 pages at a time): cheap when all the vectors fit in the budget, a
        fault storm when they do not. With ``pread`` the pages a query needs are copied into a
        small reused buffer and nothing stays mapped. With a compiled ``reader``, one call reads
        each row (not its whole page) with ``pread``, instead of a Python call per run of pages.
        """
        self._pread_vectors = bool(enabled and self.rows_per_page)
        self._row_reader = reader if self._pread_vectors else None
        buffer = self._pread_vectors and reader is None
        self._page_buffer = np.empty(_PREAD_PAGES * PAGE if buffer else 0, dtype=np.uint8)

    @property
    def reads_vectors_with_pread(self) -> bool:
        return self._pread_vectors

    def vectors_bytes(self) -> int:
        """Bytes of the full-vector section (what mapping every vector would hold)."""
        return self.file.span("vectors")[1]

    def raw_vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored int16 rows."""
        if self._pread_vectors:
            return self._read_vectors(rows)
        if self.rows_per_page:
            return self._vectors[rows // self.rows_per_page, rows % self.rows_per_page]
        return self._vectors[rows]

    def _read_vectors(self, rows: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.dim), dtype=np.int16)
        if self._row_reader is not None:
            if len(rows) and (rows.min() < 0 or rows.max() >= self.rows):
                raise IndexError("row outside the index")
            try:
                self._row_reader.read_rows(self.file.fileno(), self.file.span("vectors")[0], PAGE,
                                           self.rows_per_page, rows, out)
            except OSError as exc:
                raise self._error(f"section 'vectors' is truncated ({exc})") from None
            return out
        pages, slot = np.unique(rows // self.rows_per_page, return_inverse=True)
        within = rows % self.rows_per_page
        per_page = self.rows_per_page * self.dim
        for first in range(0, len(pages), _PREAD_PAGES):
            chunk = pages[first : first + _PREAD_PAGES]
            self.file.read_pages("vectors", chunk, self._page_buffer)
            flat = self._page_buffer[: len(chunk) * PAGE].view(np.int16).reshape(len(chunk), PAGE // 2)
            held = flat[:, :per_page].reshape(len(chunk), self.rows_per_page, self.dim)
            here = (slot >= first) & (slot < first + len(chunk))
            out[here] = held[slot[here] - first, within[here]]
        return out

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Full vectors of ``rows`` as float32 (int16 decoded, error below 2e-5 per component)."""
        return self.raw_vectors(rows).astype(np.float32) * np.float32(1.0 / self.scale)

    def vector_pages(self, rows: np.ndarray) -> int:
        """Distinct pages holding the full vectors of ``rows``."""
        if self.rows_per_page:
            return len(np.unique(rows // self.rows_per_page))
        row_bytes = self.dim * 2
        return len(np.unique(np.concatenate([rows * row_bytes // PAGE, (rows * row_bytes + row_bytes - 1) // PAGE])))

    # --- compaction and filters ------------------------------------------------------------------

    def trained(self) -> Trained | None:
        if not self.lists:
            return None
        partition = Partition(np.array(self.file.array("centroids")), np.array(self.file.array("coarse")),
                              np.array(self.file.array("group_starts")))
        if partition.centroids.shape != (self.lists, self.dim) or partition.group_starts[-1] != self.lists \
                or len(partition.group_starts) != len(partition.coarse) + 1:
            raise self._error("list centroids do not match the header")
        return Trained(self.mean, self.basis_full, self.scale_full, partition, self.trained_rows, self.code_dims)

    def kept_entries(self, live: np.ndarray) -> KeptEntries:
        """List entries of the live rows, renumbered as the rows are compacted (dead rows dropped)."""
        new_row = np.cumsum(live) - 1
        positions = ranges(self.list_offsets[:-1], self.list_sizes)
        rows = np.asarray(self.entry_rows[positions])
        lists = np.repeat(np.arange(self.lists, dtype=np.int32), self.list_sizes)
        keep = live[rows]
        return KeptEntries(new_row[rows[keep]].astype(np.int32), lists[keep], int(live.sum()))

    def eligible_per_list(self, allowed: np.ndarray) -> np.ndarray:
        """How many allowed rows each list holds (plans a filtered probe)."""
        rows = np.asarray(self.entry_rows)
        # Padding entries (row -1) index the extra False at the end of the padded mask.
        flags = np.zeros(len(rows) + 1, dtype=np.int64)
        flags[1:] = np.concatenate([allowed, [False]])[rows]
        ends = np.cumsum(flags)
        starts = self.list_offsets[:-1]
        return ends[starts + self.list_sizes] - ends[starts]

    def release_pages(self, everything: bool = True) -> None:
        """Unmap resident pages: the full vectors (read at random) or the whole file."""
        self.file.release_pages(None if everything else "vectors")

    def close(self) -> None:
        for name in ("_vectors", "entries", "entry_items", "entry_rows", "scan_items", "scan_codes", "scan_rows",
                     "refine", "attributes", "ids_offsets", "ids_blob", "meta_offsets", "meta_blob", "id_hash",
                     "id_hash_rows"):
            setattr(self, name, None)
        self.file.close()


def probe_scale(centroid_codes: np.ndarray) -> np.ndarray:
    """Per-axis quantisation step of the centroid codes for probing (their own range, finer than
    the vectors' since centroids are averages)."""
    if not len(centroid_codes):
        return np.ones(centroid_codes.shape[1], dtype=np.float32)
    return np.maximum(np.abs(centroid_codes).max(axis=0) / 127.0, 1e-12).astype(np.float32)


def ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each start and size, without a Python loop."""
    total = int(sizes.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    # Each position is its index in the output plus a per-run shift.
    shifts = np.repeat(starts - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
    return np.arange(total, dtype=np.int64) + shifts
