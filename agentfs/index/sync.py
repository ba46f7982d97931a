"""The indexer: keeps the dense index equal to the catalog by consuming its outbox.

Every commit writes outbox events (``write``, ``create``, ``append``, ``meta``, ``delete``,
``rename``, ``restore``, ``mode``...). The indexer reads them after its cursor, and for each node
they name it indexes the node's **current** head, never the event's delta. So:

- replaying events is harmless (idempotent): a node already indexed at its head is skipped;
- many events for one node in a batch cost one indexing;
- renames only rewrite metadata (the chunk ids are ``<node id>:<n>`` and node ids survive a
  rename; vectors come from the cache in ``state.sqlite``, so nothing is embedded again);
- after a crash the next run resumes from the cursor, which advances only after the backend and
  ``state.sqlite`` both hold a batch (see :mod:`agentfs.index.state` for the ``high`` mark that
  lets a half-written batch be cleaned up).

A new or wiped index (cursor 0) is *bootstrapped* from the live files instead of the whole outbox
history. Only one indexer runs per store at a time, across processes: see :class:`IndexLock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agentfs.index.chunking import Chunk, chunk_text
from agentfs.index.state import ChunkRow, DocRow, IndexState, chunk_id, vector_key
from agentfs.store.records import Node
from agentfs.store.store import Store
from agentfs.tokenizer import TokenCounter

CONSUMER = "index"  # name of the catalog cursor mirrored for other tools
MAX_INDEX_BYTES = 2 * 1024 * 1024  # like the lexical index: bigger files are not word-indexed
EVENT_BATCH = 256  # outbox events per round (one state commit per round)
FILE_BATCH = 64  # files per round when bootstrapping or rebuilding
EMBED_BATCH = 256  # texts per embedder call (keeps progress moving on slow machines)

Progress = Callable[[int, int], None]


class IndexLock:
    """One indexer per store: a thread lock plus ``flock`` on ``.agentfs/index/index.lock``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._file: Any = None
        self._depth = 0

    def acquire(self, timeout: float | None = None) -> bool:
        """Take the lock; ``timeout=None`` waits forever. Returns False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            return False
        if self._depth:
            self._depth += 1
            return True
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a+b")  # noqa: SIM115 - held for the life of the index
        while True:
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._depth = 1
                return True
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    self._thread_lock.release()
                    return False
                time.sleep(0.01)

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._thread_lock.release()

    @contextlib.contextmanager
    def held(self, timeout: float | None = None) -> Any:
        """``with lock.held(1.0) as got:`` -- ``got`` is False when the lock was not obtained."""
        got = self.acquire(timeout)
        try:
            yield got
        finally:
            if got:
                self.release()

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None


@dataclass
class SyncReport:
    """What one sync did."""

    events: int = 0
    files_indexed: int = 0
    files_removed: int = 0
    chunks_written: int = 0
    texts_embedded: int = 0
    cursor: int = 0
    lag: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class VerifyReport:
    """Differences between the catalog, ``state.sqlite`` and the dense backend."""

    ok: bool = True
    documents: int = 0
    chunks: int = 0
    missing: list[str] = field(default_factory=list)  # indexable files the index lacks
    stale: list[str] = field(default_factory=list)  # indexed at another version, path or owner
    extra: list[str] = field(default_factory=list)  # indexed, but no longer live text files
    missing_vectors: int = 0  # chunk ids the backend lacks
    orphan_vectors: int = 0  # backend ids no indexed chunk explains
    pending: int = 0  # files with outbox events after the cursor (not yet synced; not errors)
    lag: int = 0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Indexer:
    """Applies catalog changes to the dense backend and ``state.sqlite``.

    Args:
        store: The catalog (the index reads every file: it holds everything and filters by the
            asking principal at query time).
        state: The index bookkeeping.
        backend: Returns the current dense backend (the service may reopen it).
        embedder: Object with ``embed(texts) -> ndarray``, ``model_name``, ``dimension``.
        kind_of: The index kind (mount name) of a path.
        max_tokens: Chunk size in tiktoken tokens.
        max_chunks: Chunks kept per file (the beginning of a huge file).
    """

    def __init__(
        self,
        store: Store,
        state: IndexState,
        backend: Callable[[], Any],
        embedder: Any,
        kind_of: Callable[[str], str],
        *,
        max_tokens: int,
        max_chunks: int,
    ) -> None:
        self.store = store
        self.state = state
        self.backend = backend
        self.embedder = embedder
        self.kind_of = kind_of
        self.max_tokens = max_tokens
        self.max_chunks = max_chunks
        self.counter = TokenCounter()

    # --- what to index --------------------------------------------------------------------------

    def _text(self, node: Node | None) -> str | None:
        """The text of a live file worth indexing, else None."""
        if node is None or node.deleted or node.kind != "file" or not node.hash or node.size > MAX_INDEX_BYTES:
            return None
        try:
            text = self.store.objects.read(node.hash).decode("utf-8")
        except (UnicodeDecodeError, OSError):
            return None
        return text if text.strip() and "\x00" not in text else None

    @staticmethod
    def _unchanged(old: DocRow | None, node: Node) -> bool:
        return (
            old is not None and old.hash == node.hash and old.path == node.path and old.version == node.version
            and old.meta == node.meta_json and old.owner == node.owner and old.high == old.chunks
        )

    def _metadata(self, node: Node, chunk: Chunk) -> dict[str, Any]:
        return {
            "path": node.path, "kind": self.kind_of(node.path), "owner": node.owner, "node_id": node.id,
            "version": node.version, "idx": chunk.index, "start": chunk.start, "end": chunk.end,
        }

    # --- applying -------------------------------------------------------------------------------

    def apply(self, node_ids: Iterable[int], *, cursor: int | None, report: SyncReport) -> None:
        """Bring the given nodes up to date in the backend, then record them (and ``cursor``)."""
        ids = list(dict.fromkeys(node_ids))
        previous = self.state.docs(ids)
        plans: list[tuple[Node, list[Chunk]]] = []
        removed: list[DocRow] = []
        for node_id in ids:
            node = self.store.node_by_id(node_id)
            old = previous.get(node_id)
            text = self._text(node)
            if text is None or node is None:
                if old is not None:
                    removed.append(old)
                continue
            if self._unchanged(old, node):
                continue
            chunks = chunk_text(text, path=node.path, version=node.version, max_tokens=self.max_tokens,
                                counter=self.counter, max_chunks=self.max_chunks)
            if not chunks:
                if old is not None:
                    removed.append(old)
                continue
            plans.append((node, chunks))

        model, dimension = self.embedder.model_name, int(self.embedder.dimension)
        keys = [[vector_key(model, c.embed_text()) for c in chunks] for _, chunks in plans]
        flat_keys = [k for row in keys for k in row]
        vectors = self.state.vectors(flat_keys, dimension)
        texts = {}
        for (_, chunks), row in zip(plans, keys, strict=True):
            for chunk, key in zip(chunks, row, strict=True):
                if key not in vectors:
                    texts[key] = chunk.embed_text()
        if texts:
            new = self._embed(list(texts.values()), dimension)
            fresh = dict(zip(texts.keys(), new, strict=True))
            self.state.put_vectors(fresh)
            vectors.update(fresh)
            report.texts_embedded += len(texts)

        # Write-ahead: the backend may hold ids up to `high` for these nodes from now on.
        self.state.raise_high({node.id: (node.path, len(chunks)) for node, chunks in plans})
        backend = self.backend()
        if plans:
            ids_out = [chunk_id(node.id, c.index) for node, chunks in plans for c in chunks]
            matrix = np.stack([vectors[k] for k in flat_keys]).astype(np.float32)
            metas = [self._metadata(node, c) for node, chunks in plans for c in chunks]
            backend.upsert(ids_out, matrix, metas)
        stale: list[str] = []
        for node, chunks in plans:
            old_high = previous[node.id].high if node.id in previous else 0
            stale.extend(chunk_id(node.id, i) for i in range(len(chunks), old_high))
        for old in removed:
            stale.extend(chunk_id(old.node_id, i) for i in range(max(old.high, old.chunks)))
        if stale:
            backend.delete(stale)

        written = []
        for (node, chunks), row in zip(plans, keys, strict=True):
            doc = DocRow(node.id, node.path, node.version, node.hash, node.meta_json, node.owner,
                         len(chunks), len(chunks))
            written.append((doc, [ChunkRow(node.id, c.index, c.start, c.end, k) for c, k in zip(chunks, row, strict=True)]))
        self.state.record(written=written, removed=[d.node_id for d in removed], cursor=cursor)
        report.files_indexed += len(plans)
        report.files_removed += len(removed)
        report.chunks_written += sum(len(c) for _, c in plans)

    def _embed(self, texts: list[str], dimension: int) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for start in range(0, len(texts), EMBED_BATCH):
            matrix = np.asarray(self.embedder.embed(texts[start:start + EMBED_BATCH]), dtype=np.float32)
            if matrix.ndim != 2 or matrix.shape[1] != dimension:
                raise ValueError(
                    f"embedder {self.embedder.model_name} returned vectors of shape {matrix.shape}, "
                    f"expected (n, {dimension})"
                )
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            out.extend(matrix / np.where(norms > 0, norms, 1.0))
        return out

    # --- the two ways to catch up ---------------------------------------------------------------

    def lag(self) -> int:
        """Outbox events committed after the index's cursor."""
        return max(0, self.store.last_event_seq() - self.state.cursor)

    def sync(
        self,
        *,
        max_events: int | None = None,
        progress: Progress | None = None,
        deadline: float | None = None,
    ) -> SyncReport:
        """Consume outbox events after the cursor (the caller holds the index lock).

        Args:
            max_events: Stop after about this many events (the rest waits for the next call).
            progress: Called with (done, total) after every round.
            deadline: ``time.monotonic()`` value after which no new round starts.
        """
        started = time.monotonic()
        report = SyncReport()
        if self.state.cursor == 0 and self.store.last_event_seq() > 0:
            self.bootstrap(progress=progress, report=report)
        cursor = self.state.cursor
        total = max(0, self.store.last_event_seq() - cursor)
        done = 0
        while True:
            if max_events is not None and done >= max_events:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            events = self.store.events_since(cursor, EVENT_BATCH)
            if not events:
                break
            cursor = events[-1].seq
            self.apply((e.node_id for e in events if e.kind != "dir"), cursor=cursor, report=report)
            done += len(events)
            report.events += len(events)
            if progress is not None:
                progress(done, max(total, done))
        self._mirror_cursor(cursor)
        report.cursor = self.state.cursor
        report.lag = self.lag()
        report.seconds = time.monotonic() - started
        return report

    def bootstrap(self, *, progress: Progress | None = None, report: SyncReport | None = None) -> SyncReport:
        """Index every live file from scratch-or-resume, then set the cursor to where it started."""
        report = report or SyncReport()
        start_seq = self.store.last_event_seq()
        live = [n.id for n in self.store.live_files() if n.kind == "file"]
        live_set = set(live)
        gone = [node_id for node_id in self.state.all_docs() if node_id not in live_set]
        if gone:
            self.apply(gone, cursor=None, report=report)
        for start in range(0, len(live), FILE_BATCH):
            self.apply(live[start:start + FILE_BATCH], cursor=None, report=report)
            if progress is not None:
                progress(min(start + FILE_BATCH, len(live)), len(live))
        if not live and progress is not None:
            progress(0, 0)
        self.state.set_cursor(start_seq)
        self._mirror_cursor(start_seq)
        return report

    def _mirror_cursor(self, cursor: int) -> None:
        # The catalog keeps a copy so other tools can see the index's position; the authoritative
        # cursor is in state.sqlite, next to what it describes. A busy catalog must not fail a sync.
        with contextlib.suppress(Exception):
            if self.store.cursor(CONSUMER) != cursor:
                self.store.set_cursor(CONSUMER, cursor)

    # --- verification ---------------------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Compare catalog, state and backend (the caller holds the index lock)."""
        report = VerifyReport()
        cursor = self.state.cursor
        pending_ids: set[int] = set()
        seq = cursor
        while True:
            events = self.store.events_since(seq, 5000)
            if not events:
                break
            pending_ids.update(e.node_id for e in events)
            seq = events[-1].seq
        report.lag = self.lag()
        docs = self.state.all_docs()
        live = {n.id: n for n in self.store.live_files() if n.kind == "file"}
        expected_ids: set[str] = set()
        for node_id, node in live.items():
            if node_id in pending_ids:
                report.pending += 1
                continue
            doc = docs.get(node_id)
            indexable = self._text(node) is not None
            if doc is None:
                if indexable and chunk_text(self._text(node) or "", path=node.path, max_tokens=self.max_tokens,
                                            counter=self.counter, max_chunks=1):
                    report.missing.append(node.path)
                continue
            if not indexable:
                report.extra.append(node.path)
            elif not self._unchanged(doc, node):
                report.stale.append(node.path)
        for node_id, doc in docs.items():
            if node_id not in live and node_id not in pending_ids:
                report.extra.append(doc.path)
        for node_id, doc in docs.items():
            expected_ids.update(chunk_id(node_id, i) for i in range(doc.chunks))
        present = set(self.backend().ids())
        allowed_extra = {chunk_id(n, i) for n in pending_ids for i in range(docs[n].high if n in docs else 0)}
        report.missing_vectors = len(expected_ids - present)
        report.orphan_vectors = len(present - expected_ids - allowed_extra)
        report.documents, report.chunks = self.state.counts()
        for name in ("missing", "stale", "extra"):
            items = getattr(report, name)
            items.sort()
            if items:
                report.problems.append(f"{len(items)} {name} file(s), e.g. {items[0]}")
        if report.missing_vectors:
            report.problems.append(f"{report.missing_vectors} chunk vector(s) missing from the backend")
        if report.orphan_vectors:
            report.problems.append(f"{report.orphan_vectors} vector(s) in the backend that no file explains")
        report.ok = not report.problems
        return report

    def repair(self, report: VerifyReport) -> SyncReport:
        """Re-index what :meth:`verify` found wrong and delete orphan vectors."""
        out = SyncReport()
        wrong = set(report.missing) | set(report.stale) | set(report.extra)
        ids = [n.id for n in self.store.live_files() if n.path in wrong]
        ids += [d.node_id for d in self.state.all_docs().values() if d.path in wrong]
        if ids:
            # Forget the recorded state of these nodes so apply() rewrites them in full.
            with self.state.transaction() as conn:
                conn.executemany("UPDATE docs SET hash = NULL WHERE node_id = ?", [(i,) for i in ids])
            self.apply(ids, cursor=None, report=out)
        if report.orphan_vectors or report.missing_vectors:
            docs = self.state.all_docs()
            expected = {chunk_id(n, i) for n, d in docs.items() for i in range(d.chunks)}
            backend = self.backend()
            orphans = [i for i in backend.ids() if i not in expected]
            if orphans:
                backend.delete(orphans)
            missing = {int(i.split(":")[0]) for i in expected - set(backend.ids())}
            if missing:
                with self.state.transaction() as conn:
                    conn.executemany("UPDATE docs SET hash = NULL WHERE node_id = ?", [(i,) for i in missing])
                self.apply(sorted(missing), cursor=None, report=out)
        return out


def describe_identity(identity: dict[str, str]) -> str:
    """``sentence-transformers/all-MiniLM-L6-v2 (384 dimensions)``."""
    return f"{identity.get('model', '?')} ({identity.get('dimension', '?')} dimensions)"

