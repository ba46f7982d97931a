"""AnnIndex: a main file plus a delta log in one directory, searched as one collection.

Directory layout::

    main.ann    the main file (absent until the first build or compaction)
    delta.log   upserts and deletes since main.ann was written
    lock        advisory lock file: one writer at a time (reads need no lock)

Which log records a main file already contains is written into the main file itself (the log's
generation and offset at the time it was built), so the two are swapped without a window:

1. a compaction writes ``main.ann`` for generation ``g + 1`` (atomically), recording "log
   generation ``g`` up to offset ``o`` is folded in";
2. it then replaces ``delta.log`` (atomically) by a generation ``g + 1`` log holding the records
   appended after ``o``.

Killed between the two, the next open finds the old log and replays it from ``o``; killed before
step 1 completes, the old main file and the whole old log are still there.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agentfs.index.ann import builder
from agentfs.index.ann import kernel as ann_kernel
from agentfs.index.ann.clustering import normalize_rows
from agentfs.index.ann.deltabuffer import DeltaBuffer
from agentfs.index.ann.deltalog import DELETE, HEADER_SIZE, DeltaLog, Operation, encode_delete, encode_upsert
from agentfs.index.ann.errors import AnnFormatError
from agentfs.index.ann.fileformat import publish_file, remove_stale_temporaries
from agentfs.index.ann.filters import FilterCache
from agentfs.index.ann.memory import MemoryGovernor
from agentfs.index.ann.params import BuildParams, SearchParams
from agentfs.index.ann.records import Records, check_id, check_metadata
from agentfs.index.ann.search import Candidates, Scratch, centroid_scores, exact_search, ivf_search
from agentfs.index.ann.segment import CACHEABLE, Segment
from agentfs.index.ann.sources import CompactionSource
from agentfs.index.backend import VectorFilter, VectorHit

MAIN_NAME = "main.ann"
LOG_NAME = "delta.log"
LOCK_NAME = "lock"
DEFAULT_BUDGET_MB = 256


class AnnIndex:
    """An on-disk approximate nearest-neighbour index of unit vectors (cosine similarity).

    Open one with :meth:`build`, :meth:`open` or :meth:`create`; it is not constructed directly.
    Searches may run in several threads; writes take a lock.
    """

    def __init__(self, path: Path, *, memory_budget_mb: float, search_params: SearchParams | None,
                 build_params: BuildParams | None, verify: bool) -> None:
        self.path = Path(path)
        self.search_params = search_params or SearchParams()
        self._build_params = build_params
        self._verify = verify
        self._lock = threading.RLock()
        self._compaction: threading.Thread | None = None
        self._compaction_error: BaseException | None = None
        self._segment: Segment | None = None
        self._scratch: Scratch | None = None
        self._dead = np.zeros(0, dtype=bool)
        self._delta = DeltaBuffer(1)
        self._filters = FilterCache()
        self._closed = False
        self._governor = MemoryGovernor(int(memory_budget_mb * (1 << 20)), self._fixed_bytes, self._release_pages)
        self._load()

    # --- opening ---------------------------------------------------------------------------------

    @classmethod
    def build(
        cls, path: str | Path, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]], *,
        params: BuildParams | None = None, memory_budget_mb: float = DEFAULT_BUDGET_MB,
        search_params: SearchParams | None = None,
    ) -> AnnIndex:
        """Build an index over ``vectors`` in directory ``path`` (replacing any index there).

        The new main file and an empty log are each written atomically; a build killed midway
        leaves the previous index in ``path`` as it was.

        Args:
            path: Directory (created if missing).
            ids: One unique string per vector.
            vectors: ``(n, d)`` float array (or memmap); rows are normalised.
            metadatas: One dict per vector (``path``, ``kind``, ``owner`` drive filters).
            params: Layout parameters (defaults: :class:`BuildParams`).
            memory_budget_mb: RAM the opened index may hold.
            search_params: Default search effort.

        Raises:
            ValueError: mismatched lengths, duplicate or non-string ids, non-finite vectors.
        """
        path = Path(path)
        vectors = np.asarray(vectors) if not isinstance(vectors, np.ndarray) else vectors
        if vectors.ndim != 2 or len(vectors) != len(ids) or len(ids) != len(metadatas) or vectors.shape[1] < 1:
            raise ValueError(f"build: {len(ids)} ids, vectors of shape {vectors.shape}, {len(metadatas)} metadatas")
        params = params or BuildParams()
        path.mkdir(parents=True, exist_ok=True)
        records = Records.from_metadatas(ids, metadatas)
        source = builder.ArraySource(vectors)
        lists = params.lists_for(len(source))
        trained = builder.train(source, lists, params) if lists else None
        layout = builder.plan(source, trained, params)
        with _directory_lock(path):
            remove_stale_temporaries(path / MAIN_NAME)
            generation, old_log = _previous_state(path)
            # The new main file says it folds in the old log up to its end: killed before the
            # new log replaces the old one, the next open replays nothing from the old log.
            log_generation, log_offset = old_log if old_log is not None else (generation, HEADER_SIZE)
            builder.write_main(path / MAIN_NAME, source, records, params, trained, layout,
                               {"generation": generation, "log_generation": log_generation, "log_offset": log_offset})
            DeltaLog.create(path / LOG_NAME, source.dim, generation)
        return cls(path, memory_budget_mb=memory_budget_mb, search_params=search_params, build_params=params,
                   verify=False)

    @classmethod
    def open(
        cls, path: str | Path, *, memory_budget_mb: float = DEFAULT_BUDGET_MB,
        search_params: SearchParams | None = None, verify: bool = True,
    ) -> AnnIndex:
        """Open an existing index.

        Raises:
            FileNotFoundError: no index in ``path``.
            AnnFormatError: a damaged or foreign file, or a log that belongs to another main file.
        """
        path = Path(path)
        if not (path / LOG_NAME).exists() and not (path / MAIN_NAME).exists():
            raise FileNotFoundError(f"no ANN index in {path}")
        return cls(path, memory_budget_mb=memory_budget_mb, search_params=search_params, build_params=None,
                   verify=verify)

    @classmethod
    def create(
        cls, path: str | Path, dim: int, *, params: BuildParams | None = None,
        memory_budget_mb: float = DEFAULT_BUDGET_MB, search_params: SearchParams | None = None,
    ) -> AnnIndex:
        """Open the index in ``path``, or start an empty one of dimension ``dim`` there.

        Raises:
            AnnFormatError: an existing index has another dimension, or is damaged.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with _directory_lock(path):
            if not (path / LOG_NAME).exists() and not (path / MAIN_NAME).exists():
                DeltaLog.create(path / LOG_NAME, int(dim), 0)
        index = cls(path, memory_budget_mb=memory_budget_mb, search_params=search_params, build_params=params,
                    verify=True)
        if index.dim != dim:
            index.close()
            raise AnnFormatError(f"{path}: index has dimension {index.dim}, not {dim}", path=str(path))
        return index

    def _load(self) -> None:
        """(Re)read main file and log into memory: the segment, tombstones and delta buffer."""
        main_path, log_path = self.path / MAIN_NAME, self.path / LOG_NAME
        segment = Segment(main_path, verify=self._verify) if main_path.exists() else None
        try:
            if not log_path.exists():
                if segment is None:
                    raise FileNotFoundError(f"no ANN index in {self.path}")
                # A log lost outside our control: start an empty one for this main file.
                DeltaLog.create(log_path, segment.dim, segment.generation)
            dim, log_generation = DeltaLog.read_header(log_path)
            if segment is not None:
                if dim != segment.dim:
                    # Only a build of another dimension, killed before it replaced the log,
                    # leaves this; its main file already says the old log adds nothing.
                    if log_generation != segment.log_generation or log_path.stat().st_size > segment.log_offset:
                        raise AnnFormatError(f"{log_path}: dimension {dim}, main file has {segment.dim}",
                                             path=str(log_path))
                    DeltaLog.create(log_path, segment.dim, segment.generation)
                    dim, log_generation = segment.dim, segment.generation
                if log_generation == segment.log_generation:
                    start = segment.log_offset
                elif log_generation == segment.generation:
                    start = HEADER_SIZE
                else:
                    raise AnnFormatError(
                        f"{log_path}: log generation {log_generation} belongs to neither main generation "
                        f"{segment.generation} nor its predecessor {segment.log_generation}", path=str(log_path))
            else:
                start = HEADER_SIZE
            log = DeltaLog(log_path, dim, log_generation, HEADER_SIZE)
            operations = list(log.replay(start))
            log.valid_end = operations[-1].end if operations else max(start, HEADER_SIZE)
            if log.valid_end < start:
                raise AnnFormatError(f"{log_path}: shorter than the main file says it was", path=str(log_path))
        except BaseException:
            if segment is not None:
                segment.close()
            raise
        self.dim = dim
        self._segment = segment
        self._log = log
        self._dead = np.zeros(segment.rows if segment else 0, dtype=bool)
        self._delta = DeltaBuffer(dim)
        self._filters.clear()
        for operation in operations:
            self._apply(operation)
        if self._build_params is None:
            self._build_params = segment.build_params if segment is not None else BuildParams()
        self._scratch = Scratch(segment, ann_kernel.get()) if segment is not None and segment.lists else None
        if segment is not None:
            self._cache_within_budget(segment)
        self._governor.rebase()

    def _cache_within_budget(self, segment: Segment) -> None:
        """Copy into RAM what queries read at random (ids, codes, refine codes), in that order,
        while it fits in three quarters of the budget: the last quarter is left for the pages of
        full vectors that re-ranking reads (and for the delta buffer)."""
        allowance = self._governor.budget_bytes * 3 // 4 - self._fixed_bytes()
        for what in CACHEABLE:
            cost = segment.cache_cost(what)
            if cost > allowance:
                break
            segment.cache(what)
            allowance -= cost
        # Full vectors are read through the mapping only when all of them fit in what the budget
        # leaves; otherwise every re-rank would fault pages in for the governor to unmap again
        # (measured on 55,000 MiniLM vectors with a 28 MiB budget: +55% CPU per query), so they
        # are copied with pread instead and never count as resident.
        segment.read_vectors_with_pread(segment.vectors_bytes() > self._governor.budget_bytes - self._fixed_bytes(),
                                        self._scratch.kernel if self._scratch is not None else ann_kernel.get())

    # --- writes ----------------------------------------------------------------------------------

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]], *,
               durable: bool = False) -> None:
        """Add or replace vectors by id (logged first, then applied in memory).

        Args:
            ids: Ids (an existing id is replaced, never duplicated).
            vectors: ``(n, d)`` floats; rows are normalised.
            metadatas: One dict per vector.
            durable: fsync the log before returning.

        Raises:
            ValueError: mismatched lengths, wrong dimension, non-finite values, bad ids.
        """
        ids = [check_id(i) for i in ids]
        matrix = np.atleast_2d(np.asarray(vectors, dtype=np.float32)) if len(ids) else np.zeros((0, self.dim), np.float32)
        if matrix.shape != (len(ids), self.dim) or len(metadatas) != len(ids):
            raise ValueError(f"upsert: {len(ids)} ids, vectors of shape {matrix.shape}, {len(metadatas)} "
                             f"metadatas (dimension {self.dim})")
        if not len(ids):
            return
        if not np.all(np.isfinite(matrix)):
            raise ValueError("vectors must be finite")
        metas = [dict(check_metadata(m)) for m in metadatas]
        # Later duplicates in one batch win, as if upserted one after the other.
        matrix = normalize_rows(matrix)
        payload = encode_upsert(ids, matrix, metas)
        with self._lock, _directory_lock(self.path):
            self._check_open()
            end = self._log.append(payload, durable=durable)
            self._apply(Operation(1, ids, matrix, metas, end))
            self._governor.refresh_fixed()

    def delete(self, ids: Sequence[str], *, durable: bool = False) -> None:
        """Remove vectors by id; unknown ids are ignored."""
        ids = [check_id(i) for i in ids]
        if not ids:
            return
        with self._lock, _directory_lock(self.path):
            self._check_open()
            end = self._log.append(encode_delete(ids), durable=durable)
            self._apply(Operation(DELETE, ids, None, None, end))
            self._governor.refresh_fixed()

    def _apply(self, operation: Operation) -> None:
        segment = self._segment
        if segment is not None and segment.rows:
            rows = segment.find(operation.ids)
            found = rows[rows >= 0]
            if len(found):
                self._dead[found] = True
                self._filters.clear()
        if operation.op == DELETE:
            self._delta.delete(operation.ids)
        else:
            assert operation.vectors is not None and operation.metadatas is not None
            self._delta.upsert(operation.ids, np.asarray(operation.vectors, dtype=np.float32), operation.metadatas)

    # --- reads -----------------------------------------------------------------------------------

    def search(
        self, queries: np.ndarray, k: int = 10, where: VectorFilter | None = None, *,
        nprobe: int | None = None, candidates: int | None = None, rerank: int | None = None,
        with_metadata: bool = True,
    ) -> list[list[VectorHit]]:
        """Top ``k`` hits per query row, best first, all satisfying ``where``.

        Args:
            queries: ``(d,)`` or ``(m, d)`` floats (normalised here).
            k: Hits per query.
            where: Filter evaluated inside the index, before ranking.
            nprobe: Lists to scan (default from the search parameters).
            candidates: Scanned entries re-scored with the refine codes (default likewise).
            rerank: Refined rows re-scored exactly (default likewise).
            with_metadata: Decode each hit's metadata (skip for ids and scores only).
        """
        matrix = normalize_rows(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
        if matrix.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {matrix.shape[1]}, index has {self.dim}")
        if k <= 0:
            return [[] for _ in range(len(matrix))]
        defaults = self.search_params
        effort = SearchParams(
            nprobe=defaults.nprobe if nprobe is None else nprobe,
            candidates=defaults.candidates if candidates is None else candidates,
            rerank=defaults.rerank if rerank is None else rerank,
            prune=defaults.prune, exact_below=defaults.exact_below,
        )
        with self._lock:
            self._check_open()
            return [self._search_one(q, k, where, effort, with_metadata) for q in matrix]

    def _search_one(self, query: np.ndarray, k: int, where: VectorFilter | None, effort: SearchParams,
                    with_metadata: bool) -> list[VectorHit]:
        segment = self._segment
        hits: list[tuple[float, str, Any]] = []
        pages = 0
        if segment is not None and segment.rows:
            found = self._search_segment(segment, query, k, where, effort)
            pages = found.pages
            rows = found.rows.tolist()
            hits.extend((score, segment.id_of(row), row) for row, score in zip(rows, found.scores.tolist(), strict=True))
            if rows:
                pages += segment.record_pages(rows, with_metadata or where is not None)
        if len(self._delta):
            ids, scores, metas = self._delta.search(query, k, where)
            hits.extend(zip(scores.tolist(), ids, metas, strict=True))
            hits.sort(key=lambda hit: -hit[0])
        out: list[VectorHit] = []
        for score, name, source in hits:
            if len(out) == k:
                break
            if not (with_metadata or where is not None):
                out.append(VectorHit(name, float(score)))
                continue
            meta = segment.metadata_of(source) if isinstance(source, int) else source  # type: ignore[union-attr]
            # The masks compare 64-bit hashes; the exact check makes a collision harmless.
            if where is not None and not where.matches(meta):
                continue
            out.append(VectorHit(name, float(score), dict(meta) if with_metadata else {}))
        if where is not None:
            self._governor.refresh_fixed()  # a new filter may have cached a mask
        self._governor.record_query(pages)
        return out

    def _search_segment(self, segment: Segment, query: np.ndarray, k: int, where: VectorFilter | None,
                        effort: SearchParams) -> Candidates:
        plan = self._filters.plan(segment, where, self._dead)
        if plan.eligible_count == 0:
            return Candidates.empty()
        exact_below = effort.exact_below
        if exact_below is None:
            # An exact scan of the eligible rows costs ~1 random row read each; a probe of lists
            # that hold enough eligible rows costs ~(scanned / eligible fraction) sequential
            # entries. They break even near sqrt(rows * scanned) / 4 eligible rows.
            exact_below = max(2048, int(math.sqrt(segment.rows * max(1, effort.nprobe) * 64) / 4))
        if not segment.lists or plan.eligible_count <= max(exact_below, 4 * k):
            return exact_search(segment, query, k, plan.eligible_rows())
        assert self._scratch is not None
        candidates, rerank = effort.candidates, effort.rerank
        nprobe = max(1, min(effort.nprobe, segment.lists))
        if plan.mask is None:
            found = ivf_search(segment, self._scratch, query, k, nprobe=nprobe, prune=effort.prune, candidates=candidates, rerank=rerank)
            # Lists holding fewer than k vectors in all (k near the collection size): widen.
            while len(found.rows) < k and nprobe < segment.lists:
                nprobe = min(segment.lists, 4 * nprobe)
                found = ivf_search(segment, self._scratch, query, k, nprobe=nprobe, candidates=candidates, rerank=rerank)
            return found
        # A filter leaves fewer candidates per list: probe, best lists first, until the lists
        # scanned hold as many eligible rows as an unfiltered probe would scan in all (and at
        # least k).
        similarity = centroid_scores(segment, self._scratch, query @ segment.basis)
        order = np.argsort(-similarity)
        target = max(k, int(segment.list_sizes[order[:nprobe]].sum()))
        covered = np.cumsum(plan.per_list(segment)[order])
        needed = int(np.searchsorted(covered, target)) + 1
        lists = order[: max(nprobe, min(needed, segment.lists))]
        return ivf_search(segment, self._scratch, query, k, nprobe=nprobe, allowed=plan.mask, lists=lists, candidates=candidates, rerank=rerank)

    def get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Metadata of the ids that exist; missing ids are left out."""
        ids = [i for i in ids if isinstance(i, str)]
        with self._lock:
            self._check_open()
            out: dict[str, dict[str, Any]] = {}
            segment = self._segment
            rows = segment.find(ids) if segment is not None else np.full(len(ids), -1)
            for name, row in zip(ids, rows.tolist(), strict=True):
                meta = self._delta.get(name)
                if meta is not None:
                    out[name] = dict(meta)
                elif row >= 0 and not self._dead[row]:
                    out[name] = segment.metadata_of(row)  # type: ignore[union-attr]
            return out

    def count(self) -> int:
        with self._lock:
            main = 0 if self._segment is None else self._segment.rows - int(self._dead.sum())
            return main + len(self._delta)

    def ids(self) -> list[str]:
        with self._lock:
            self._check_open()
            out: list[str] = []
            if self._segment is not None:
                out.extend(self._segment.id_of(r) for r in np.flatnonzero(~self._dead).tolist())
            out.extend(self._delta.live_ids())
            return out

    # --- compaction ------------------------------------------------------------------------------

    @property
    def main_rows(self) -> int:
        """Rows in the main file (live or tombstoned)."""
        return 0 if self._segment is None else self._segment.rows

    @property
    def build_params(self) -> BuildParams:
        """Layout parameters the next compaction uses (those of the main file unless set)."""
        return self._build_params or BuildParams()

    @build_params.setter
    def build_params(self, params: BuildParams) -> None:
        self._build_params = params

    @property
    def delta_size(self) -> int:
        """Slots in the delta buffer (live or replaced) plus tombstones in the main file."""
        return self._delta.slots + int(self._dead.sum())

    def compact(self, *, retrain: bool | None = None, background: bool = False) -> threading.Thread | None:
        """Fold the delta log and tombstones into a new main file.

        Rows of the old main file keep their lists; new rows are assigned to the trained lists.
        Lists and axes are trained afresh (``retrain``) when the collection has more than doubled
        or shrunk below a quarter since they were trained, or when it outgrows a flat file.

        Args:
            retrain: Force (True) or forbid (False) retraining; ``None`` decides as above.
            background: Run in a thread and return it; searches and writes continue meanwhile
                and writes made during the compaction are carried over.

        Returns:
            The thread when ``background``, else None.
        """
        if background:
            with self._lock:
                if self._compaction is not None and self._compaction.is_alive():
                    return self._compaction
                thread = threading.Thread(target=self._compact_guarded, args=(retrain,),
                                          name="agentfs-ann-compact", daemon=True)
                self._compaction = thread
                thread.start()
                return thread
        self._compact(retrain)
        return None

    def _compact_guarded(self, retrain: bool | None) -> None:
        try:
            self._compact(retrain)
        except BaseException as exc:  # reported by info() and by the next compact()
            self._compaction_error = exc

    def _compact(self, retrain: bool | None) -> None:
        with self._lock:
            self._check_open()
            segment = self._segment
            live = ~self._dead
            delta_vectors, delta_records = self._delta.snapshot()
            log_generation, log_offset = self._log.generation, self._log.valid_end
            generation = max(log_generation, segment.generation if segment else 0) + 1
            params = self._build_params or BuildParams()
        # The heavy part runs outside the lock: searches keep using the old segment.
        source = CompactionSource(segment, np.flatnonzero(live) if segment is not None else None, delta_vectors)
        old_records = segment.records(np.flatnonzero(live)) if segment is not None else None
        records = Records.concat(old_records, delta_records) if old_records is not None else delta_records
        total = len(source)
        lists = params.lists_for(total)
        trained = segment.trained() if segment is not None else None
        if retrain is None:
            retrain = (trained is None) != (lists == 0) or (
                trained is not None and not (trained.trained_rows / 4 <= total <= 2 * trained.trained_rows))
        if retrain:
            trained = builder.train(source, lists, params) if lists else None
            layout = builder.plan(source, trained, params)
        else:
            kept = segment.kept_entries(live) if (segment is not None and trained is not None) else None
            layout = builder.plan(source, trained, params, kept=kept)
        # Written under a temporary name: writes (and their log appends) go on meanwhile. Locks
        # are always taken in the order in-process lock, then directory lock.
        finished = builder.write_main(
            self.path / MAIN_NAME, source, records, params, trained, layout,
            {"generation": generation, "log_generation": log_generation, "log_offset": log_offset}, publish=False)
        with self._lock, _directory_lock(self.path):
            publish_file(finished, self.path / MAIN_NAME)
            # Writes that arrived during the build move to the new log.
            tail = self._log.tail_bytes(log_offset)
            self._log.close()
            DeltaLog.create(self.path / LOG_NAME, self.dim, generation, tail)
            old = self._segment
            self._verify = False
            self._load()
            if old is not None:
                old.close()

    def wait(self) -> None:
        """Wait for a background compaction; re-raise its error, if any."""
        thread = self._compaction
        if thread is not None:
            thread.join()
        error, self._compaction_error = self._compaction_error, None
        if error is not None:
            raise error

    # --- housekeeping ----------------------------------------------------------------------------

    def _fixed_bytes(self) -> int:
        segment = self._segment
        scratch = self._scratch.nbytes if self._scratch is not None else 0
        return (segment.fixed_bytes() if segment is not None else 0) + scratch + self._dead.nbytes \
            + self._delta.nbytes() + self._filters.nbytes()

    def _release_pages(self, everything: bool) -> None:
        if self._segment is not None:
            self._segment.release_pages(everything)

    def info(self) -> dict[str, Any]:
        """Figures for ``agentfs index status``: sizes, memory held against the budget, pages/query."""
        with self._lock:
            segment = self._segment
            files = [self.path / MAIN_NAME, self.path / LOG_NAME]
            out: dict[str, Any] = {
                "backend": "ann",
                "path": str(self.path),
                "dim": self.dim,
                "vectors": self.count(),
                "main_rows": segment.rows if segment else 0,
                "tombstones": int(self._dead.sum()),
                "delta_rows": len(self._delta),
                "lists": segment.lists if segment else 0,
                "code_dims": segment.code_dims if segment else 0,
                "in_ram": sorted(segment.cached) if segment else [],
                "vector_reads": ("pread" if segment.reads_vectors_with_pread else "mmap") if segment else None,
                # What scores codes and reads re-rank rows: "c" (compiled) or "numpy".
                "scan_kernel": self._scratch.kernel_name if self._scratch is not None else ann_kernel.name(),
                "generation": segment.generation if segment else 0,
                "bytes_on_disk": sum(f.stat().st_size for f in files if f.exists()),
                "nprobe": self.search_params.nprobe,
                "candidates": self.search_params.candidates,
                "rerank": self.search_params.rerank,
                "compacting": bool(self._compaction and self._compaction.is_alive()),
            }
            if self._compaction_error is not None:
                out["compaction_error"] = repr(self._compaction_error)
            out["memory"] = self._governor.report()
            return out

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("the index is closed")

    def close(self) -> None:
        """Wait for a background compaction, then release files and memory."""
        thread = self._compaction
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._log.close()
            self._governor.close()
            if self._segment is not None:
                self._segment.close()
                self._segment = None
            self._filters.clear()

    def __enter__(self) -> AnnIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _directory_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path/lock`` (one writer across processes)."""
    fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _previous_state(path: Path) -> tuple[int, tuple[int, int] | None]:
    """The generation a new build in ``path`` takes, and ``(generation, end)`` of the old log."""
    generation = 0
    old_log = None
    with contextlib.suppress(OSError, AnnFormatError):
        log, _ = DeltaLog.open(path / LOG_NAME)
        old_log = (log.generation, log.valid_end)
        generation = log.generation
    with contextlib.suppress(OSError, AnnFormatError):
        segment = Segment(path / MAIN_NAME, verify=False)
        generation = max(generation, segment.generation)
        segment.close()
    return generation + 1, old_log
