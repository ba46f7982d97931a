"""The index's own bookkeeping: ``.agentfs/index/state.sqlite``.

It records what the dense backend holds, so the indexer can be idempotent and resumable:

- ``meta``: the embedder's model name and dimension, the backend, the chunker, the outbox cursor
  up to which the index is complete, and a ``generation`` bumped by every change (so a process
  holding an embedded backend open knows when another process changed it);
- ``docs``: one row per indexed file (node id, path, version, content hash, chunk count) plus
  ``high``, the most chunks ever written for the node, recorded *before* the backend is touched:
  after a crash, ids up to ``high`` may exist in the backend and are cleaned up;
- ``chunks``: each chunk's span and the key of its vector in ``vectors``;
- ``vectors``: an embedding cache keyed by sha256(model, text), so renames, restores, backend
  switches and rebuilds with the same model never embed a text twice.

The backend is always changed first and this file second; replaying events is harmless because
every step writes the *current* state of a node, never a delta.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    node_id    INTEGER PRIMARY KEY,
    path       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    hash       TEXT,
    meta       TEXT NOT NULL DEFAULT '{}',
    owner      TEXT NOT NULL DEFAULT '',
    chunks     INTEGER NOT NULL,
    high       INTEGER NOT NULL,
    indexed_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    node_id INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    start   INTEGER NOT NULL,
    end     INTEGER NOT NULL,
    key     BLOB NOT NULL,
    PRIMARY KEY (node_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chunks_key ON chunks(key);
CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class DocRow:
    """What the index holds for one file."""

    node_id: int
    path: str
    version: int
    hash: str | None
    meta: str
    owner: str
    chunks: int
    high: int


@dataclass(frozen=True)
class ChunkRow:
    node_id: int
    idx: int
    start: int
    end: int
    key: bytes


def vector_key(model: str, text: str) -> bytes:
    """The cache key of a text's vector under one model."""
    return hashlib.sha256(model.encode() + b"\x00" + text.encode("utf-8", "surrogatepass")).digest()[:20]


def chunk_id(node_id: int, index: int) -> str:
    """The dense backend id of a chunk: stable across renames (node ids never change)."""
    return f"{node_id}:{index}"


class IndexState:
    """The state database. Thread-safe (one connection per thread, WAL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.conn.executescript(SCHEMA)

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(Exception):
                    conn.close()
            self._conns.clear()
        self._local = threading.local()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    # --- meta -----------------------------------------------------------------------------------

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def put(self, conn: sqlite3.Connection, key: str, value: object) -> None:
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, str(value)))

    @property
    def cursor(self) -> int:
        return int(self.get("cursor", "0") or 0)

    @property
    def generation(self) -> int:
        return int(self.get("generation", "0") or 0)

    def bump(self, conn: sqlite3.Connection) -> int:
        """Advance the generation inside ``conn``'s transaction; returns the new value."""
        conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '0')")
        conn.execute("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'generation'")
        return int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    def identity(self) -> dict[str, str]:
        """What the index was built with (model, dimension, backend, chunker), empty when new."""
        keys = ("store_id", "model", "dimension", "backend", "chunker")
        return {k: v for k in keys if (v := self.get(k)) is not None}

    def set_identity(self, values: Mapping[str, object]) -> None:
        with self.transaction() as conn:
            for key, value in values.items():
                self.put(conn, key, value)

    # --- docs and chunks ------------------------------------------------------------------------

    def docs(self, node_ids: Iterable[int]) -> dict[int, DocRow]:
        ids = list(node_ids)
        out: dict[int, DocRow] = {}
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            rows = self.conn.execute(
                "SELECT node_id, path, version, hash, meta, owner, chunks, high FROM docs "
                f"WHERE node_id IN ({','.join('?' * len(part))})", part,
            ).fetchall()
            out.update({r[0]: DocRow(*r) for r in rows})
        return out

    def all_docs(self) -> dict[int, DocRow]:
        rows = self.conn.execute("SELECT node_id, path, version, hash, meta, owner, chunks, high FROM docs")
        return {r[0]: DocRow(*r) for r in rows}

    def chunk_rows(self, node_id: int) -> list[ChunkRow]:
        rows = self.conn.execute(
            "SELECT node_id, idx, start, end, key FROM chunks WHERE node_id = ? ORDER BY idx", (node_id,)
        ).fetchall()
        return [ChunkRow(*r) for r in rows]

    def counts(self) -> tuple[int, int]:
        """(documents, chunks) the index holds."""
        docs = self.conn.execute("SELECT count(*), coalesce(sum(chunks), 0) FROM docs").fetchone()
        return int(docs[0]), int(docs[1])

    def raise_high(self, highs: dict[int, tuple[str, int]]) -> None:
        """Record, before the backend is written, how many chunk ids each node may now have.

        ``highs`` maps node id -> (path, chunk count about to be written).
        """
        if not highs:
            return
        now = time.time_ns()
        with self.transaction() as conn:
            for node_id, (path, count) in highs.items():
                conn.execute(
                    "INSERT INTO docs(node_id, path, version, hash, chunks, high, indexed_ns) "
                    "VALUES (?, ?, 0, NULL, 0, ?, ?) "
                    "ON CONFLICT(node_id) DO UPDATE SET high = max(high, excluded.high)",
                    (node_id, path, count, now),
                )

    def record(
        self,
        *,
        written: list[tuple[DocRow, list[ChunkRow]]],
        removed: list[int],
        cursor: int | None,
    ) -> int:
        """After the backend changed: the new doc rows, removed nodes and the cursor, atomically.

        Returns the new generation.
        """
        now = time.time_ns()
        with self.transaction() as conn:
            for node_id in removed:
                conn.execute("DELETE FROM docs WHERE node_id = ?", (node_id,))
                conn.execute("DELETE FROM chunks WHERE node_id = ?", (node_id,))
            for doc, chunk_rows in written:
                conn.execute(
                    "INSERT OR REPLACE INTO docs(node_id, path, version, hash, meta, owner, chunks, high, indexed_ns) "
                    "VALUES (?,?,?,?,?,?,?,?,?)",
                    (doc.node_id, doc.path, doc.version, doc.hash, doc.meta, doc.owner, doc.chunks,
                     doc.chunks, now),
                )
                conn.execute("DELETE FROM chunks WHERE node_id = ?", (doc.node_id,))
                conn.executemany(
                    "INSERT INTO chunks(node_id, idx, start, end, key) VALUES (?,?,?,?,?)",
                    [(c.node_id, c.idx, c.start, c.end, c.key) for c in chunk_rows],
                )
            if cursor is not None:
                self.put(conn, "cursor", cursor)
            return self.bump(conn)

    def set_cursor(self, cursor: int) -> None:
        with self.transaction() as conn:
            self.put(conn, "cursor", cursor)

    def clear(self, *, keep_vectors: bool) -> None:
        """Forget everything the backend held (rebuild); the vector cache may be kept."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM docs")
            conn.execute("DELETE FROM chunks")
            if not keep_vectors:
                conn.execute("DELETE FROM vectors")
            self.put(conn, "cursor", 0)
            self.bump(conn)

    # --- vector cache ---------------------------------------------------------------------------

    def vectors(self, keys: list[bytes], dimension: int) -> dict[bytes, np.ndarray]:
        out: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            part = unique[start:start + 500]
            rows = self.conn.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(part))})", part
            ).fetchall()
            for key, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape[0] == dimension:
                    out[key] = vector
        return out

    def put_vectors(self, items: dict[bytes, np.ndarray]) -> None:
        if not items:
            return
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO vectors(key, vector) VALUES (?, ?)",
                [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
            )

    def vector_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM vectors").fetchone()[0])

    def prune_vectors(self) -> int:
        """Drop cached vectors no live chunk uses; returns how many were dropped."""
        with self.transaction() as conn:
            cur = conn.execute("DELETE FROM vectors WHERE key NOT IN (SELECT key FROM chunks)")
            return int(cur.rowcount or 0)

    def describe(self) -> dict[str, object]:
        docs, chunks = self.counts()
        return {
            "documents": docs,
            "chunks": chunks,
            "cached_vectors": self.vector_count(),
            "cursor": self.cursor,
            "generation": self.generation,
            "identity": json.loads(json.dumps(self.identity())),
        }
