"""Writes a main index file: trains lists (or reuses trained ones), assigns vectors, lays out pages.

Sections of a main file (see :mod:`agentfs.index.ann.fileformat` for the container):

============== ==================== ==========================================================
name           dtype, shape         what
============== ==================== ==========================================================
mean           f4 (d,)              mean of the collection (centre of the principal axes)
basis          f4 (d, k + r)        the first k + r principal axes: y = (x - mean) @ basis
code_scale     f4 (k + r,)          quantisation step per axis: code = round(y / code_scale)
centroids      f4 (lists, d)        unit centroid of each posting list, grouped by coarse centroid
coarse         f4 (groups, d)       coarse centroids (assignment looks at the nearest few groups)
group_starts   i8 (groups + 1,)     first list of each coarse group
centroid_codes f4 (lists, k)        the centroids' first k y (probing compares in code space)
list_offsets   i8 (lists + 1,)      first entry of each list; each list starts on a page
list_sizes     i4 (lists,)          live entries of each list (the rest of its pages is padding)
entries        i1 (entries, e)      per entry (e = 64, 128, ... bytes): k int8 codes, zero
                                    padding, and the row number as int32 in the last 4 bytes
entry_rows     i4 (entries,)        the row of each entry again, -1 for padding (lets filters
                                    count eligible rows per list without reading the codes)
refine         i1 (n, r)            per row, int8 codes of axes k .. k + r: re-scores the best
                                    few hundred candidates before the exact re-rank
vectors        i2 (pages, 2048)     full vectors x * 32767, whole rows per 4 KiB page
ids_offsets    i8 (n + 1,)          ids (UTF-8) back to back in ``ids_blob``
ids_blob       u1
id_hash        u8 (n,)              sorted 64-bit hashes of the ids ...
id_hash_rows   i4 (n,)              ... and the row of each
meta_offsets   i8 (n + 1,)          metadata (JSON) back to back in ``meta_blob``
meta_blob      u1
path_hash      u8 (n,)              filter attributes (see :mod:`agentfs.index.ann.attributes`)
prefix_hash    u8 (levels, n)
owner          i4 (n,)
kind           i4 (n,)
tables         u1                   JSON: owner and kind names
============== ==================== ==========================================================

A flat file (a small collection, ``lists == 0``) has no list sections: search scans it exactly.
Rows are ordered by their nearest list, so the vectors re-ranked for one query share pages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agentfs.index.ann import clustering, projection
from agentfs.index.ann.fileformat import PAGE, SectionWriter
from agentfs.index.ann.params import BuildParams, code_dims_for, entry_bytes_for
from agentfs.index.ann.records import Records
from agentfs.index.ann.strings import hash_index, pack

VECTOR_SCALE = 32767.0
MAIN_FORMAT = "agentfs-ann-main"
# Rows per chunk while streaming codes and vectors into the file.
_CHUNK = 32768


class RowSource(Protocol):
    """Unit float32 rows by index; lets a build read from RAM, a memmap or an older index."""

    dim: int

    def __len__(self) -> int: ...

    def rows(self, indices: np.ndarray) -> np.ndarray: ...


class ArraySource:
    """Rows of an ``(n, d)`` array (or memmap), normalised chunk by chunk as they are read."""

    def __init__(self, vectors: np.ndarray) -> None:
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D, got shape {vectors.shape}")
        self._vectors = vectors
        self.dim = int(vectors.shape[1])

    def __len__(self) -> int:
        return len(self._vectors)

    def rows(self, indices: np.ndarray) -> np.ndarray:
        block = np.asarray(self._vectors[indices], dtype=np.float32)
        if not np.all(np.isfinite(block)):
            raise ValueError("vectors must be finite")
        return clustering.normalize_rows(block)


class _Sequential:
    """Adapts a RowSource to the slicing the clustering helpers use (``x[a:b]``, ``len(x)``)."""

    def __init__(self, source: RowSource, order: np.ndarray | None = None) -> None:
        self._source = source
        self._order = order

    def __len__(self) -> int:
        return len(self._source) if self._order is None else len(self._order)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            key = np.arange(*key.indices(len(self)))
        key = np.asarray(key)
        return self._source.rows(key if self._order is None else self._order[key])


@dataclass
class Trained:
    """What training produced; a compaction reuses it instead of training again."""

    mean: np.ndarray
    basis: np.ndarray
    scale: np.ndarray
    partition: clustering.Partition
    trained_rows: int
    code_dims: int

    @property
    def centroids(self) -> np.ndarray:
        return self.partition.centroids

    @property
    def refine_dims(self) -> int:
        return self.basis.shape[1] - self.code_dims

    @property
    def lists(self) -> int:
        return len(self.centroids)


def train(source: RowSource, lists: int, params: BuildParams) -> Trained:
    """Principal axes and list centroids from a sample of ``source``."""
    n = len(source)
    rng = np.random.default_rng(params.seed)
    picked = np.sort(rng.choice(n, min(n, params.train_sample), replace=False))
    sample = source.rows(picked)
    mean, basis = projection.principal_axes(sample, seed=params.seed)
    code_dims = code_dims_for(source.dim, params.code_dims)
    refine_dims = max(0, min(params.refine_dims, source.dim - code_dims))
    basis = np.ascontiguousarray(basis[:, : code_dims + refine_dims])
    scale = projection.code_scale(projection.project(sample, mean, basis))
    partition = clustering.train_partition(sample, lists, iterations=params.kmeans_iterations, seed=params.seed)
    return Trained(mean, basis, scale, partition, n, code_dims)


@dataclass
class Layout:
    """Where each row goes and which lists hold it (all in final row numbers)."""

    order: np.ndarray          # order[final_row] = source row
    entry_rows: np.ndarray     # final row of each entry, sorted by (list, row)
    entry_lists: np.ndarray
    list_offsets: np.ndarray   # (lists + 1,) page-aligned starts, in entries
    list_sizes: np.ndarray


@dataclass
class KeptEntries:
    """List entries of the first ``count`` rows, carried over unchanged by a compaction."""

    rows: np.ndarray
    lists: np.ndarray
    count: int


def plan(source: RowSource, trained: Trained | None, params: BuildParams,
         kept: KeptEntries | None = None) -> Layout:
    """Assign rows to lists and decide the row and entry order.

    Args:
        source: All rows of the new file.
        trained: Lists to assign to (``None``: a flat file).
        params: Build parameters.
        kept: List entries of the first rows of ``source``, carried over from an older file by a
            compaction: those rows keep their lists and their order, and only the rows after
            them are assigned. Without it every row is assigned and rows are sorted
            by nearest list.
    """
    n = len(source)
    if trained is None:
        empty = np.zeros(0, np.int32)
        return Layout(np.arange(n), empty, empty, np.zeros(1, np.int64), empty)
    start = 0 if kept is None else kept.count
    new_rows = np.arange(start, n)
    primary, entry_rows, entry_lists = clustering.assign_with_replicas(
        _Sequential(source, new_rows), trained.partition,
        replicas=params.replicas, epsilon=params.replica_epsilon,
    )
    entry_rows = entry_rows + start
    if kept is None:
        order = np.argsort(primary, kind="stable")
        final_of = np.empty(n, dtype=np.int64)
        final_of[order] = np.arange(n)
        entry_rows = final_of[entry_rows]
    else:
        order = np.arange(n)
        entry_rows = np.concatenate([kept.rows, entry_rows])
        entry_lists = np.concatenate([kept.lists, entry_lists])
    by_list = np.lexsort((entry_rows, entry_lists))
    entry_rows, entry_lists = entry_rows[by_list].astype(np.int32), entry_lists[by_list].astype(np.int32)
    sizes = np.bincount(entry_lists, minlength=trained.lists).astype(np.int64)
    per_page = params.entries_per_page(source.dim)
    offsets = np.zeros(trained.lists + 1, dtype=np.int64)
    np.cumsum(-(-sizes // per_page) * per_page, out=offsets[1:])
    return Layout(order, entry_rows, entry_lists, offsets, sizes.astype(np.int32))


def write_main(
    path: Path, source: RowSource, records: Records, params: BuildParams, trained: Trained | None,
    layout: Layout, header: dict[str, Any], *, publish: bool = True,
) -> Path:
    """Write the main file for ``source`` rows laid out by ``layout`` (atomically replaces ``path``).

    Args:
        path: Final file name.
        source: The rows (in source order; ``layout.order`` maps final rows to them).
        records: Ids, metadata and attributes in source order.
        params: Build parameters (stored in the file).
        trained: Lists and axes, or ``None`` for a flat file.
        layout: From :func:`plan`.
        header: Extra fields for the table of contents (generation, delta log position).
        publish: Rename over ``path`` at once; with False the finished temporary file is
            returned for :func:`~agentfs.index.ann.fileformat.publish_file`.

    Returns:
        Where the finished file is.
    """
    n, dim = len(source), source.dim
    records = records.take(layout.order) if not _is_identity(layout.order) else records
    lists = 0 if trained is None else trained.lists
    code_dims = 0 if trained is None else trained.code_dims
    refine_dims = 0 if trained is None else trained.refine_dims
    rows_per_page = PAGE // (2 * dim)
    meta = {
        "format": MAIN_FORMAT, "dim": dim, "rows": n, "lists": lists, "code_dims": code_dims,
        "refine_dims": refine_dims,
        "entry_bytes": entry_bytes_for(code_dims) if code_dims else 0,
        "rows_per_page": rows_per_page, "vector_scale": VECTOR_SCALE,
        "trained_rows": 0 if trained is None else trained.trained_rows,
        "build": params.to_dict(), "written": time.time(), **header,
    }
    with SectionWriter(path, meta) as writer:
        if trained is not None:
            writer.add("mean", trained.mean)
            writer.add("basis", trained.basis)
            writer.add("code_scale", trained.scale)
            writer.add("centroids", trained.centroids)
            writer.add("coarse", trained.partition.coarse)
            writer.add("group_starts", trained.partition.group_starts)
            writer.add("centroid_codes",
                       projection.project(trained.centroids, trained.mean, trained.basis[:, :code_dims]))
            writer.add("list_offsets", layout.list_offsets)
            writer.add("list_sizes", layout.list_sizes)
            total = int(layout.list_offsets[-1])
            writer.add_chunks("entries", np.int8, (total, entry_bytes_for(code_dims)),
                              _entry_chunks(source, trained, layout, total))
            writer.add("entry_rows", _entry_rows(layout, total))
            writer.add_chunks("refine", np.int8, (n, refine_dims), _refine_rows(source, trained, layout.order))
        if rows_per_page:
            pages = -(-n // rows_per_page)
            writer.add_chunks("vectors", np.int16, (pages, PAGE // 2), _vector_pages(source, layout.order, rows_per_page))
        else:
            writer.add_chunks("vectors", np.int16, (n, dim), _vector_rows(source, layout.order))
        for name, array in _record_sections(records):
            writer.add(name, array)
        return writer.commit(publish=publish)


def _is_identity(order: np.ndarray) -> bool:
    return bool(np.array_equal(order, np.arange(len(order))))


def _entry_positions(layout: Layout) -> np.ndarray:
    """Where each entry lands: its list's first page plus its rank inside the list."""
    ranks = np.arange(len(layout.entry_rows)) - np.repeat(
        np.concatenate(([0], np.cumsum(layout.list_sizes)[:-1])), layout.list_sizes)
    return layout.list_offsets[layout.entry_lists] + ranks


def _entry_rows(layout: Layout, total: int) -> np.ndarray:
    rows = np.full(total, -1, dtype=np.int32)
    rows[_entry_positions(layout)] = layout.entry_rows
    return rows


def _entry_chunks(source: RowSource, trained: Trained, layout: Layout, total: int) -> Iterator[np.ndarray]:
    code_dims = trained.code_dims
    width = entry_bytes_for(code_dims)
    basis, scale = trained.basis[:, :code_dims], trained.scale[:code_dims]
    entry_at = np.full(total, -1, dtype=np.int64)
    entry_at[_entry_positions(layout)] = np.arange(len(layout.entry_rows))
    for start in range(0, total, _CHUNK):
        chunk = np.zeros((min(_CHUNK, total - start), width), dtype=np.int8)
        which = entry_at[start : start + len(chunk)]
        filled = which >= 0
        rows = np.full(len(chunk), -1, dtype="<i4")
        rows[filled] = layout.entry_rows[which[filled]]
        vectors = source.rows(layout.order[rows[filled]])
        chunk[filled, :code_dims] = projection.quantize(projection.project(vectors, trained.mean, basis), scale)
        chunk[:, width - 4 :] = rows.view(np.int8).reshape(len(chunk), 4)
        yield chunk


def _refine_rows(source: RowSource, trained: Trained, order: np.ndarray) -> Iterator[np.ndarray]:
    basis, scale = trained.basis[:, trained.code_dims :], trained.scale[trained.code_dims :]
    for start in range(0, len(order), _CHUNK):
        vectors = source.rows(order[start : start + _CHUNK])
        yield projection.quantize(projection.project(vectors, trained.mean, basis), scale)


def quantize(vectors: np.ndarray) -> np.ndarray:
    """Unit float32 rows to the int16 stored form (error below 2e-5 per component)."""
    return np.rint(np.clip(vectors, -1.0, 1.0) * VECTOR_SCALE).astype(np.int16)


def _vector_pages(source: RowSource, order: np.ndarray, rows_per_page: int) -> Iterator[np.ndarray]:
    n, dim = len(order), source.dim
    pages_per_chunk = max(1, _CHUNK // rows_per_page)
    for first_row in range(0, n, pages_per_chunk * rows_per_page):
        rows = order[first_row : first_row + pages_per_chunk * rows_per_page]
        pages = -(-len(rows) // rows_per_page)
        block = np.zeros((pages, PAGE // 2), dtype=np.int16)
        flat = np.zeros((pages * rows_per_page, dim), dtype=np.int16)
        flat[: len(rows)] = quantize(source.rows(rows))
        block[:, : rows_per_page * dim] = flat.reshape(pages, rows_per_page * dim)
        yield block


def _vector_rows(source: RowSource, order: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(order), _CHUNK):
        yield quantize(source.rows(order[start : start + _CHUNK]))


def _record_sections(records: Records) -> Iterator[tuple[str, np.ndarray]]:
    offsets, blob = pack(i.encode("utf-8", "surrogatepass") for i in records.ids)
    yield "ids_offsets", offsets
    yield "ids_blob", blob
    hashes, rows = hash_index(records.ids)
    yield "id_hash", hashes
    yield "id_hash_rows", rows
    offsets, blob = pack(records.metadata)
    yield "meta_offsets", offsets
    yield "meta_blob", blob
    attributes = records.attributes
    yield "path_hash", attributes.path_hash
    yield "prefix_hash", attributes.prefix_hash
    yield "owner", attributes.owner
    yield "kind", attributes.kind
    tables = json.dumps({"owners": attributes.owners, "kinds": attributes.kinds}).encode()
    yield "tables", np.frombuffer(tables, dtype=np.uint8)
