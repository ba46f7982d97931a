"""The ``search`` service behind :meth:`ContextFS.search`: lexical, dense and hybrid retrieval.

``agentfs.services`` builds one :class:`IndexService` per open store (``for_store``). It owns:

- the settings, read from the store config's ``index`` section (``agentfs index rebuild
  --embedder/--backend`` changes them): embedder, dense backend (``chroma`` or ``ann``), Chroma
  server URL, chunk size, fusion;
- ``.agentfs/index/``: ``state.sqlite`` (see :mod:`agentfs.index.state`), ``chroma/`` or ``ann/``
  and ``index.lock``;
- the indexer (:mod:`agentfs.index.sync`), run on demand (``sync``), before queries when only a
  little is pending (see *Freshness* below), and in a background thread inside the mount daemon
  (``start_background``).

Access control: every query is filtered by the asking principal's read scope *inside* the
backends, before ranking (BM25 in SQL before ``LIMIT``, dense in the backend's ``where``), so the
top-k is full of readable files; each hit is checked once more against the live catalog.

Freshness: lexical search is always current (the FTS table commits with every write). Before a
dense or hybrid query, a pending outbox of at most ``catch_up_events`` events (256) is indexed
synchronously, waiting at most 2 s for an indexer running elsewhere to release the index lock;
a bigger backlog is left to ``agentfs index sync`` or the background indexer (a query then sees
the index as it is, and ``status()`` reports the lag).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agentfs import frontmatter
from agentfs.errors import (
    AgentFSError,
    IndexMismatchError,
    NotSupportedError,
    PermissionDeniedError,
    ValidationError,
)
from agentfs.governance.policy import ReadScope
from agentfs.index.backend import VectorFilter, path_within
from agentfs.index.chunking import CHUNKER_VERSION, DEFAULT_MAX_TOKENS
from agentfs.index.hybrid import DEFAULT_DENSE_WEIGHT, FUSION_METHODS, Fused, SearchFilters, fuse
from agentfs.index.lexical import TermStats, bounded_bm25, plan_bounded, query_words, to_match
from agentfs.index.state import IndexState
from agentfs.index.sync import Indexer, IndexLock, Progress, SyncReport, VerifyReport, describe_identity
from agentfs.store.records import NODE_COLUMNS, Node
from agentfs.types import SearchHit

log = logging.getLogger(__name__)

ENV_EMBEDDER = "AGENTFS_EMBEDDER"
ENV_BACKEND = "AGENTFS_INDEX_BACKEND"
MODES = ("hybrid", "dense", "lexical")
BACKENDS = ("chroma", "ann")
MAX_K = 1000
CANDIDATES = 100  # per list, before fusion (hybrid)
CATCH_UP_EVENTS = 256
LEXICAL_BUDGET = 20_000  # rows BM25 may score per query before the bound applies (0: never)
BOUNDED_WINDOW = 256  # ranked candidates fetched at a time for the read filter (bounded lexical)
CATCH_UP_WAIT = 2.0
SNIPPET_CHARS = 300
REBUILD_HINT = "agentfs index rebuild"
_WORD = re.compile(r"\w+")


def _default_backend() -> str:
    try:
        import chromadb  # noqa: F401
    except ImportError:
        return "ann"
    return "chroma"


@dataclass(frozen=True)
class IndexSettings:
    """The store config's ``index`` section, with defaults and environment overrides."""

    embedder: str = "minilm"
    backend: str = "chroma"
    chroma_url: str | None = None
    chunk_tokens: int = DEFAULT_MAX_TOKENS
    max_chunks: int = 512
    dense_weight: float = DEFAULT_DENSE_WEIGHT
    fusion: str = "minmax"
    catch_up_events: int = CATCH_UP_EVENTS
    lexical_budget: int = LEXICAL_BUDGET

    KEYS = ("embedder", "backend", "chroma_url", "chunk_tokens", "max_chunks", "dense_weight", "fusion",
            "catch_up_events", "lexical_budget")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> IndexSettings:
        """Settings of a store: config ``index.*``, else ``$AGENTFS_EMBEDDER``/``$AGENTFS_INDEX_BACKEND``/
        ``$AGENTFS_CHROMA_URL``, else the defaults (MiniLM, Chroma embedded)."""
        from agentfs.index.chroma import default_url

        section = dict(config.get("index") or {})
        values: dict[str, Any] = {
            "embedder": section.get("embedder") or os.environ.get(ENV_EMBEDDER) or "minilm",
            "backend": section.get("backend") or os.environ.get(ENV_BACKEND) or _default_backend(),
            "chroma_url": default_url(config),
        }
        for key in ("chunk_tokens", "max_chunks", "dense_weight", "fusion", "catch_up_events", "lexical_budget"):
            if section.get(key) is not None:
                values[key] = section[key]
        return cls(**values).validated()

    def validated(self) -> IndexSettings:
        if self.backend not in BACKENDS:
            raise ValidationError(f"unknown index backend {self.backend!r}; use one of {', '.join(BACKENDS)}")
        if self.fusion not in FUSION_METHODS:
            raise ValidationError(f"unknown fusion {self.fusion!r}; use one of {', '.join(FUSION_METHODS)}")
        if not (isinstance(self.chunk_tokens, int) and 16 <= self.chunk_tokens <= 8192):
            raise ValidationError(f"chunk_tokens must be an integer in 16..8192, got {self.chunk_tokens!r}")
        if not (isinstance(self.max_chunks, int) and self.max_chunks >= 1):
            raise ValidationError(f"max_chunks must be a positive integer, got {self.max_chunks!r}")
        if not (isinstance(self.dense_weight, int | float) and 0 <= self.dense_weight <= 1):
            raise ValidationError(f"dense_weight must be a number in [0, 1], got {self.dense_weight!r}")
        if isinstance(self.lexical_budget, bool) or not (isinstance(self.lexical_budget, int) and self.lexical_budget >= 0):
            raise ValidationError(f"lexical_budget must be a non-negative integer (0: no bound), got {self.lexical_budget!r}")
        return self

    @property
    def chunker(self) -> str:
        return f"{CHUNKER_VERSION}/{self.chunk_tokens}/{self.max_chunks}"


def vector_filter(scope: ReadScope, filters: SearchFilters) -> tuple[VectorFilter, bool]:
    """The backend filter for a principal's read scope and the search filters.

    Returns the filter and whether it is *exact* for ``filters.path`` (when it is not, hits are
    also checked against the path after the backend; the read-access part is always exact).
    """
    include = None if scope.everything else tuple(scope.include_prefixes)
    owners = tuple(scope.owners)
    exact = True
    under = filters.path
    if under is not None:
        if include is None or any(path_within(under, p) for p in include):
            # Everything below `under` that is not excluded is readable: the owner clause adds nothing.
            include, owners = (under,), ()
        else:
            # Only the grants inside `under` matter; files owned by the principal elsewhere still
            # pass the backend filter, so the path is checked again afterwards.
            include = tuple(p for p in include if path_within(p, under))
            exact = not owners
    kinds = tuple(sorted(filters.kinds)) if filters.kinds is not None else None
    return VectorFilter(include_prefixes=include, exclude_prefixes=tuple(scope.exclude_prefixes),
                        owners=owners, kinds=kinds), exact


class IndexService:
    """Search and index maintenance for one store. Built by :func:`for_store`; thread-safe."""

    def __init__(self, fs: Any) -> None:
        self._store = fs._core.store  # the outbox, the FTS table and file bytes: the index's own data
        self._table = fs._core.table
        self.root: Path = self._store.meta_dir / "index"
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = IndexLock(self.root / "index.lock")
        self._guard = threading.RLock()  # opening, reopening and closing
        self._settings: IndexSettings | None = None
        self._embedder: Any = None
        self._state: IndexState | None = None
        self._backend: Any = None
        self._indexer: Indexer | None = None
        self._seen_generation = -1
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self.background_error: str | None = None
        self.notice: str | None = None  # why the last search could not use the dense index
        self._term_stats = TermStats()

    # --- opening --------------------------------------------------------------------------------

    @property
    def settings(self) -> IndexSettings:
        if self._settings is None:
            self._settings = IndexSettings.from_config(self._store.config)
        return self._settings

    def _default_kinds(self, fs: Any) -> frozenset[str]:
        """What a search naming no path or kind covers: every mount whose provider is searched by
        default (not ``/context``), and files outside any mount."""
        return frozenset({"file"} | {self._kind_of(m.path) for m in self._table.mounts
                                     if fs.provider_for(m.path).capabilities.default_search})

    def _kind_of(self, path: str) -> str:
        spec = self._table.route(path)
        return spec.path.rsplit("/", 1)[-1] if spec is not None else "file"

    def _expected_identity(self, embedder: Any) -> dict[str, str]:
        return {
            "store_id": self._store.store_id,
            "model": embedder.model_name,
            "dimension": str(int(embedder.dimension)),
            "backend": self.settings.backend,
            "chunker": self.settings.chunker,
        }

    def _load_embedder(self) -> Any:
        from agentfs.index.embeddings import EmbedderUnavailable, get_embedder

        try:
            return get_embedder(self.settings.embedder)
        except EmbedderUnavailable as exc:
            raise NotSupportedError(f"the semantic index cannot load its embedder: {exc}") from None
        except ValueError as exc:
            raise ValidationError(f"index embedder setting: {exc}") from None

    def _open_backend(self, dimension: int) -> Any:
        settings = self.settings
        if settings.backend == "chroma":
            from agentfs.index.chroma import ChromaBackend

            collection = f"agentfs-{self._store.store_id}"
            if settings.chroma_url:
                return ChromaBackend(url=settings.chroma_url, collection=collection)
            return ChromaBackend(path=self.root / "chroma", collection=collection)
        try:
            from agentfs.index.ann import AnnBackend  # type: ignore[attr-defined]
        except ImportError:
            raise NotSupportedError(
                "the 'ann' index backend is not available in this installation (agentfs.index.ann "
                "has no AnnBackend); use --backend chroma"
            ) from None
        return AnnBackend(self.root / "ann", dimension=dimension)

    def _backend_dir(self) -> Path | None:
        if self.settings.backend == "chroma":
            return None if self.settings.chroma_url else self.root / "chroma"
        return self.root / "ann"

    def _open(self) -> Indexer:
        """Open embedder, state and backend; check the index was built with this embedder.

        Raises:
            IndexMismatchError: the index was built with another embedder, chunker, backend or store.
            NotSupportedError: the embedder or backend cannot be loaded here.
        """
        with self._guard:
            if self._indexer is not None:
                return self._indexer
            embedder = self._load_embedder()
            state = IndexState(self.root / "state.sqlite")
            expected = self._expected_identity(embedder)
            built = state.identity()
            try:
                if not built:
                    # A fresh state: whatever a backend folder holds is not described anywhere.
                    self._wipe_backend_files()
                    state.set_identity(expected)
                else:
                    self._check_identity(built, expected)
                backend = self._open_backend(int(embedder.dimension))
            except BaseException:
                state.close()
                raise
            self._embedder, self._state, self._backend = embedder, state, backend
            self._seen_generation = state.generation
            self._indexer = Indexer(
                self._store, state, lambda: self._backend, embedder, self._kind_of,
                max_tokens=self.settings.chunk_tokens, max_chunks=self.settings.max_chunks,
            )
            return self._indexer

    def _check_identity(self, built: dict[str, str], expected: dict[str, str]) -> None:
        where = f"the semantic index in {self.root}"
        if built.get("store_id") not in (None, expected["store_id"]):
            raise IndexMismatchError(f"{where} belongs to another store; run `{REBUILD_HINT}` to rebuild it")
        if (built.get("model"), built.get("dimension")) != (expected["model"], expected["dimension"]):
            raise IndexMismatchError(
                f"{where} was built with the embedder {describe_identity(built)}, but this store is "
                f"configured for {describe_identity(expected)}; run `{REBUILD_HINT}` to re-embed "
                "every file with the configured embedder",
                index_model=built.get("model"), configured_model=expected["model"],
            )
        if built.get("backend") != expected["backend"]:
            raise IndexMismatchError(
                f"{where} was built on the {built.get('backend')!r} backend, but the store is configured "
                f"for {expected['backend']!r}; run `{REBUILD_HINT}` (cached vectors are reused)"
            )
        if built.get("chunker") != expected["chunker"]:
            raise IndexMismatchError(
                f"{where} was chunked as {built.get('chunker')!r}, the configuration says "
                f"{expected['chunker']!r}; run `{REBUILD_HINT}`"
            )

    def _wipe_backend_files(self) -> None:
        folder = self._backend_dir()
        if folder is not None and folder.exists():
            shutil.rmtree(folder)

    def _refresh(self) -> None:
        """Reopen an embedded backend another process has changed since this one last looked."""
        state, backend = self._state, self._backend
        if state is None or backend is None or getattr(backend, "shared", False):
            return
        generation = state.generation
        if generation == self._seen_generation:
            return
        with self._guard:
            if self._backend is backend:
                backend.close()
                self._backend = self._open_backend(int(self._embedder.dimension))
            self._seen_generation = generation

    def _close_open(self) -> None:
        with self._guard:
            if self._backend is not None:
                with contextlib.suppress(Exception):
                    self._backend.close()
            if self._state is not None:
                self._state.close()
            self._backend = self._state = self._indexer = self._embedder = None

    def close(self) -> None:
        """Stop the background indexer and release the index's files."""
        self.stop()
        self._close_open()
        self.lock.close()

    # --- maintenance ----------------------------------------------------------------------------

    @staticmethod
    def _require_admin(fs: Any, what: str) -> None:
        if not fs.is_admin:
            raise PermissionDeniedError(
                f"{fs.principal} may not {what}: the index covers every file, so only store "
                "administrators may manage it", path="/",
            )

    def _synced(self, indexer: Indexer, **kwargs: Any) -> SyncReport:
        self._refresh()
        report = indexer.sync(**kwargs)
        self._settle()
        if self._state is not None:
            self._seen_generation = self._state.generation
        return report

    def _settle(self) -> None:
        settle = getattr(self._backend, "settle", None)
        if settle is not None:
            try:
                settle()
            except Exception as exc:  # an optimisation: the index is already correct
                log.warning("agentfs index: settling the backend after a bulk sync failed: %s", exc)

    def sync(self, fs: Any, *, progress: Progress | None = None, timeout: float | None = None) -> SyncReport:
        """Index every pending change now (any principal may ask; it reveals nothing)."""
        indexer = self._open()
        with self.lock.held(timeout) as got:
            if not got:
                raise AgentFSError(f"another indexer holds {self.lock.path}; try again", path="/")
            return self._synced(indexer, progress=progress)

    def catch_up(self) -> None:
        """Before a query: index a small backlog synchronously (see the module docstring)."""
        indexer = self._open()
        lag = indexer.lag()
        if lag == 0:
            self._refresh()
            return
        if lag > self.settings.catch_up_events:
            self._wake.set()
            self._refresh()
            return
        with self.lock.held(CATCH_UP_WAIT) as got:
            if got:
                self._synced(indexer, max_events=self.settings.catch_up_events)
            else:
                self._refresh()

    def rebuild(self, fs: Any, *, progress: Progress | None = None) -> SyncReport:
        """Drop the dense index and re-index every file with the configured embedder and backend.

        Vectors cached for the same model are reused (switching backends does not re-embed).
        """
        self._require_admin(fs, "rebuild the index")
        with self.lock.held(None):
            self._close_open()
            self._settings = None
            embedder = self._load_embedder()
            state = IndexState(self.root / "state.sqlite")
            built = state.identity()
            same_model = (built.get("model"), built.get("dimension")) == (embedder.model_name,
                                                                          str(int(embedder.dimension)))
            state.clear(keep_vectors=same_model)
            state.set_identity(self._expected_identity(embedder))
            state.close()
            # Whatever backend the index used before, start from an empty one.
            for folder in (self.root / "chroma", self.root / "ann"):
                if folder.exists():
                    shutil.rmtree(folder)
            indexer = self._open()
            if self.settings.chroma_url and hasattr(self._backend, "drop"):
                self._backend.drop()
            report = indexer.bootstrap(progress=progress)
            tail = indexer.sync()
            report.events += tail.events
            report.files_indexed += tail.files_indexed
            report.files_removed += tail.files_removed
            report.chunks_written += tail.chunks_written
            report.texts_embedded += tail.texts_embedded
            report.cursor, report.lag = tail.cursor, tail.lag
            self._settle()
            if self._state is not None:
                self._state.prune_vectors()
                self._seen_generation = self._state.generation
            return report

    def verify(self, fs: Any, *, repair: bool = False) -> VerifyReport:
        """Compare the index with the catalog; with ``repair``, fix what differs."""
        self._require_admin(fs, "verify the index")
        indexer = self._open()
        with self.lock.held(None):
            self._refresh()
            report = indexer.verify()
            if repair and not report.ok:
                indexer.repair(report)
                report = indexer.verify()
                if self._state is not None:
                    self._seen_generation = self._state.generation
            return report

    def configure(self, fs: Any, **changes: Any) -> IndexSettings:
        """Change the store's ``index`` settings (administrators). Takes effect on the next open.

        Raises:
            ValidationError: an unknown key or a bad value.
        """
        self._require_admin(fs, "configure the index")
        unknown = sorted(set(changes) - set(IndexSettings.KEYS))
        if unknown:
            raise ValidationError(f"unknown index setting {', '.join(unknown)}; settings are "
                                  f"{', '.join(IndexSettings.KEYS)}")
        config = self._store.config
        section = dict(config.get("index") or {})
        section.update({k: v for k, v in changes.items() if v is not None})
        for key in [k for k, v in changes.items() if v is None]:
            section.pop(key, None)
        IndexSettings.from_config({**config, "index": section})  # validate before saving
        self._store.set_config({**config, "index": section})
        self._close_open()
        self._settings = None
        return self.settings

    def status(self, fs: Any) -> dict[str, Any]:
        """Model, dimension, backend, documents, chunks and lag behind the catalog."""
        self._require_admin(fs, "read the index status")
        settings = self.settings
        out: dict[str, Any] = {
            "backend": settings.backend,
            "embedder": settings.embedder,
            "chroma_url": settings.chroma_url,
            "chunk_tokens": settings.chunk_tokens,
            "fusion": settings.fusion,
            "dense_weight": settings.dense_weight,
            "catalog_seq": self._store.last_event_seq(),
            "lexical_documents": int(self._store.conn.execute("SELECT count(*) FROM fts").fetchone()[0]),
            "background": self._thread is not None and self._thread.is_alive(),
            "background_error": self.background_error,
            "problem": None,
        }
        try:
            indexer = self._open()
        except AgentFSError as exc:
            out["problem"] = exc.message
            state = IndexState(self.root / "state.sqlite")
            try:
                out.update(state.describe())
                out["model"] = state.identity().get("model")
                out["dimension"] = state.identity().get("dimension")
                out["lag"] = max(0, out["catalog_seq"] - state.cursor)
            finally:
                state.close()
            return out
        assert self._state is not None
        self._refresh()
        out.update(self._state.describe())
        out["model"] = self._embedder.model_name
        out["dimension"] = int(self._embedder.dimension)
        out["lag"] = indexer.lag()
        try:
            out["backend_info"] = self._backend.info()
        except Exception as exc:  # status must describe a broken backend, not crash on it
            out["backend_info"] = {"error": str(exc)}
        return out

    # --- background indexing (the mount daemon) -------------------------------------------------

    def start_background(self, fs: Any, *, interval: float = 0.2) -> None:
        """Index changes as they commit, in a daemon thread, until :meth:`stop` or :meth:`close`.

        Commits made in this process wake the thread at once (``fs.subscribe``); commits from
        other processes are picked up within ``interval`` seconds.
        """
        if self._thread is not None and self._thread.is_alive():
            return
        self._open()
        self._stop.clear()
        self._unsubscribe = fs.subscribe(lambda event: self._wake.set())
        self._thread = threading.Thread(target=self._run, args=(interval,), name="agentfs-indexer", daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        with contextlib.suppress(Exception):
            # Load the model now, not on the first change (seconds on a cold machine).
            self._embedder.embed(["warm up"])
        backoff = interval
        while not self._stop.is_set():
            self._wake.wait(backoff)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                indexer = self._open()
                if indexer.lag():
                    with self.lock.held(interval) as got:
                        if got:
                            self._synced(indexer, deadline=time.monotonic() + 5.0)
                            if indexer.lag():
                                self._wake.set()  # more to do: go again without waiting
                self.background_error = None
                backoff = interval
            except Exception as exc:  # keep the daemon alive; status() shows the problem
                self.background_error = f"{type(exc).__name__}: {exc}"
                log.warning("agentfs background indexer: %s", self.background_error)
                backoff = min(backoff * 2, 30.0)

    def stop(self) -> None:
        """Stop the background indexer (waits for the current round to finish)."""
        self._stop.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None

    # --- search ---------------------------------------------------------------------------------

    def search(
        self,
        fs: Any,
        query: str,
        *,
        k: int = 10,
        mode: str = "hybrid",
        path: str | None = None,
        **filters: Any,
    ) -> list[SearchHit]:
        """Ranked files for ``query`` among those ``fs.principal`` may read.

        Args:
            fs: The asking principal's handle.
            query: Free text.
            k: How many files (1..1000).
            mode: ``hybrid`` (lexical and dense fused), ``dense`` or ``lexical``.
            path: Only files at or below this path.
            **filters: ``kind``, ``tags``, ``type``, ``since``, ``until`` (see ``SearchFilters``).

        Raises:
            ValidationError: bad ``k``, ``mode`` or filter.
            IndexMismatchError: the dense index was built with another embedder.
            NotSupportedError: ``mode="dense"`` but the embedder or backend is unavailable.
        """
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ValidationError(f"k must be an integer in 1..{MAX_K}, got {k!r}")
        if mode not in MODES:
            raise ValidationError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        if not isinstance(query, str):
            raise ValidationError(f"a search query is text, got {type(query).__name__}")
        flt = SearchFilters.parse(path, **filters)
        if flt.path is None and flt.kinds is None:
            flt = replace(flt, kinds=self._default_kinds(fs))
        self.notice = None
        if not query.strip():
            return []
        scope = fs.read_scope()
        depth = k if mode != "hybrid" else max(CANDIDATES, 2 * k)
        nodes: dict[int, Node] = {}
        lexical: list[tuple[int, float]] = []
        dense: list[tuple[int, float]] = []
        best_chunk: dict[int, dict[str, Any]] = {}
        if mode != "dense":
            lexical = self._lexical(query, depth, scope, flt, nodes)
        if mode != "lexical":
            try:
                self.catch_up()
            except NotSupportedError as exc:
                if mode == "dense":
                    raise
                self.notice = f"dense search unavailable, lexical results only: {exc.message}"
            else:
                dense = self._dense(query, depth, scope, flt, nodes, best_chunk)
        if mode == "hybrid":
            fused = fuse(lexical, dense, dense_weight=self.settings.dense_weight, method=self.settings.fusion)
        elif mode == "lexical":
            fused = [Fused(key, score, rank, None) for rank, (key, score) in enumerate(lexical, start=1)]
        else:
            fused = [Fused(key, score, None, rank) for rank, (key, score) in enumerate(dense, start=1)]
        hits: list[SearchHit] = []
        for item in fused:
            node = nodes.get(item.key) or self._store.node_by_id(item.key)
            if node is None or node.deleted or node.kind != "file":
                continue
            kind = self._kind_of(node.path)
            # The backends filtered by read access already; this re-check against the live catalog
            # covers a rename or an ACL change the dense index has not caught up with.
            if not scope.allows(node.path, node.owner):
                continue
            if not flt.matches(node.path, kind, node.meta, node.modified_ns):
                continue
            snippet, span = self._snippet(node, query, best_chunk.get(item.key))
            hits.append(SearchHit(path=node.path, version=node.version, score=float(item.score), kind=kind,
                                  snippet=snippet, span=span, lexical_rank=item.lexical_rank,
                                  dense_rank=item.dense_rank, meta=node.meta))
            if len(hits) >= k:
                break
        return hits

    def _lexical(self, query: str, depth: int, scope: ReadScope, flt: SearchFilters,
                 nodes: dict[int, Node]) -> list[tuple[int, float]]:
        match = to_match(query)
        if not match:
            return []
        conn = self._store.conn
        plan = plan_bounded(conn, query_words(query), budget=self.settings.lexical_budget,
                            stats=self._term_stats, seq=self._store.last_event_seq())
        if plan is not None:
            return self._lexical_bounded(conn, query, plan, depth, scope, flt, nodes)
        return self._fts_filtered(match, depth, scope, flt, nodes)

    def _fts_filtered(self, match: str, depth: int, scope: ReadScope, flt: SearchFilters,
                      nodes: dict[int, Node], **options: Any) -> list[tuple[int, float]]:
        """FTS5 rows readable by ``scope`` that pass ``flt``, best first (``options`` go to
        ``fts_search``). Filters beyond read access and path run after SQL: widen until full."""
        limit = depth
        while True:
            rows = self._store.fts_search(
                match, limit=limit, include_prefixes=None if scope.everything else scope.include_prefixes,
                exclude_prefixes=scope.exclude_prefixes, owners=scope.owners, under=flt.path, **options,
            )
            out = []
            for node, score in rows:
                if flt.matches(node.path, self._kind_of(node.path), node.meta, node.modified_ns):
                    nodes[node.id] = node
                    out.append((node.id, score))
            if len(out) >= depth or len(rows) < limit:
                return out[:depth]
            limit *= 4

    def _lexical_bounded(self, conn: Any, query: str, plan: tuple[list[str], list[str]], depth: int,
                         scope: ReadScope, flt: SearchFilters, nodes: dict[int, Node]) -> list[tuple[int, float]]:
        """BM25 over the candidates of a bounded plan (see :mod:`agentfs.index.lexical`).

        The candidates are ranked first and filtered by read access and the search filters in that
        order, so the list is as full as the unbounded one; nothing unreadable is returned.
        """
        selective, rest = plan
        if not selective:
            # Every word is in half the files or more, where BM25 gives it (almost) no weight:
            # rank only the newest matches (those with every word first) instead of the table.
            return self._fts_filtered(to_match(query), depth, scope, flt, nodes,
                                      pool=self.settings.lexical_budget, match_all=to_match(query, "AND"))
        window = max(BOUNDED_WINDOW, 4 * depth)
        while True:
            ranked = bounded_bm25(conn, selective, rest, limit=window)
            kept: list[tuple[int, float]] = []
            batch = max(64, 2 * depth)
            for start in range(0, len(ranked), batch):
                part = ranked[start:start + batch]
                marks = ",".join("?" * len(part))
                found = {row[0]: Node.from_row(row) for row in conn.execute(
                    f"SELECT {NODE_COLUMNS} FROM nodes WHERE deleted = 0 AND id IN ({marks})", [i for i, _ in part])}
                for node_id, score in part:
                    node = found.get(node_id)
                    if node is None or not scope.allows(node.path, node.owner):
                        continue
                    if not flt.matches(node.path, self._kind_of(node.path), node.meta, node.modified_ns):
                        continue
                    nodes[node_id] = node
                    kept.append((node_id, score))
                    if len(kept) >= depth:
                        return kept
            if len(ranked) < window:
                return kept
            # Read access or filters removed too many of the best candidates: rank deeper.
            window *= 8

    def _dense(self, query: str, depth: int, scope: ReadScope, flt: SearchFilters, nodes: dict[int, Node],
               best_chunk: dict[int, dict[str, Any]]) -> list[tuple[int, float]]:
        self._open()
        backend = self._backend
        vector = self._embedder.embed([query])
        where, exact = vector_filter(scope, flt)
        post_check = (not exact) or flt.residual
        total = max(1, self._state.counts()[1]) if self._state is not None else 1
        n = min(max(depth * 2, 20), total)
        while True:
            hits = backend.query(vector, n, where)[0]
            best: dict[int, tuple[float, dict[str, Any]]] = {}
            for hit in hits:
                node_id = int(hit.metadata.get("node_id", str(hit.id).split(":")[0]))
                if node_id not in best:
                    best[node_id] = (hit.score, hit.metadata)
            ranked = []
            for node_id, (score, meta) in best.items():
                if post_check:
                    node = nodes.get(node_id) or self._store.node_by_id(node_id)
                    if node is None or not flt.matches(node.path, self._kind_of(node.path), node.meta,
                                                       node.modified_ns):
                        continue
                    nodes[node_id] = node
                ranked.append((node_id, score))
                best_chunk[node_id] = meta
            if len(ranked) >= depth or len(hits) < n or n >= total:
                return ranked[:depth]
            n = min(n * 4, total)

    def _snippet(self, node: Node, query: str, chunk: dict[str, Any] | None) -> tuple[str, tuple[int, int] | None]:
        """The matching chunk's text (dense), or the chunk sharing most words with the query."""
        try:
            text = self._store.objects.read(node.hash).decode("utf-8") if node.hash else ""
        except (OSError, UnicodeDecodeError):
            return "", None
        span: tuple[int, int] | None = None
        if chunk is not None and chunk.get("version") == node.version:
            span = (int(chunk["start"]), int(chunk["end"]))
        elif self._state is not None:
            doc = self._state.docs([node.id]).get(node.id)
            if doc is not None and doc.version == node.version:
                words = {w.lower() for w in _WORD.findall(query)}
                rows = self._state.chunk_rows(node.id)
                if rows:
                    row = max(rows, key=lambda r: len(words & {w.lower() for w in _WORD.findall(text[r.start:r.end])}))
                    span = (row.start, row.end)
        if span is None:
            body = text
            if text.startswith("---"):
                with contextlib.suppress(AgentFSError):
                    body = frontmatter.split(text, path=node.path).body
            return " ".join(body[:SNIPPET_CHARS * 2].split())[:SNIPPET_CHARS], None
        snippet = " ".join(text[span[0]:span[1]].split())
        return (snippet[:SNIPPET_CHARS - 1] + "…" if len(snippet) > SNIPPET_CHARS else snippet), span


def for_store(fs: Any) -> IndexService:
    """The service registry's factory (``agentfs.services``): one service per open store."""
    return IndexService(fs)
