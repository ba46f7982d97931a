"""The embedded store: catalog (SQLite, WAL), objects, plain tree, and the commit transaction.

The store knows nothing about principals' rights, providers or FUSE. It offers reads of the catalog
and one way to change it: :meth:`Store.transaction`, which gives a :class:`Transaction` whose
changes (versions, node rows, audit rows, outbox events, lexical index) commit in **one** SQLite
transaction, and whose plain-tree updates are applied right after the commit.

Crash safety, step by step (a writer may be SIGKILLed at any instant):

1. content goes to ``objects/`` first (temp + rename): an orphan object is harmless;
2. one SQLite transaction records everything, plus a ``pending`` row per touched node;
3. the plain tree is updated (temp + rename per file) while the store's write lock is still held;
4. the next transaction of any writer clears ``pending`` rows it has confirmed.

If a writer dies after 2 and before 4, the next :meth:`Store.open` (or ``agentfs verify --repair``)
re-applies the pending nodes' head versions to the plain tree. Nothing half-written is ever
visible: the catalog commits atomically and each plain file is replaced atomically.

Concurrency: one writer at a time per store, across processes, via ``flock`` on
``.agentfs/write.lock`` held around steps 2-3 (so plain-tree updates land in commit order), and
SQLite's own locking underneath. Readers never block (WAL).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import sqlite3
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agentfs import paths
from agentfs.errors import (
    AlreadyExistsError,
    ConflictError,
    DirectoryNotEmptyError,
    IsADirectoryError_,
    NoSpaceError,
    NotADirectoryError_,
    NotFoundError,
    StoreError,
    StoreNotFoundError,
)
from agentfs.governance.policy import EXTERNAL, Policy, Rule
from agentfs.store.objects import ObjectStore, hash_file, no_space
from agentfs.store.records import (
    NODE_COLUMNS,
    VERSION_COLUMNS,
    AuditEntry,
    Event,
    Node,
    Version,
)
from agentfs.store.schema import SCHEMA, SCHEMA_VERSION

META_DIR = ".agentfs"
WRITERS_DIR = "writers"  # one locked file per open store (see Store._register_writer)
FTS_MAX_BYTES = 2 * 1024 * 1024  # bigger text files are stored and versioned, not word-indexed
DIR_MODE = 0o755
FILE_MODE = 0o644


def now_ns() -> int:
    return time.time_ns()


def _chain(prev: str, row: tuple[Any, ...]) -> str:
    return hashlib.sha256((prev + "\x1f" + json.dumps(row, default=str)).encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class VersionBefore:
    """The parts of a previous version that tell whether the plain tree still shows it."""

    kind: str
    time_ns: int
    op: str
    path: str


class Store:
    """An agentfs store on disk. Thread-safe; one instance per process and directory is enough."""

    def __init__(self, root: Path, *, sync: str = "normal") -> None:
        self.root = root.resolve()
        self.meta_dir = self.root / META_DIR
        self.catalog_path = self.meta_dir / "catalog.sqlite"
        if not self.catalog_path.exists():
            raise StoreNotFoundError(
                f"no agentfs store at {root} (create one with `agentfs init DIR`; name the store first, set AGENTFS_STORE, or run inside a store)", path=str(root)
            )
        self.sync = sync
        self.objects = ObjectStore(self.meta_dir / "objects", fsync=(sync == "full"))
        self.tmp_dir = self.meta_dir / "tmp"
        self._root_str, self._tmp_str = str(self.root), str(self.tmp_dir)
        self.tmp_dir.mkdir(exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._lock_file = open(self.meta_dir / "write.lock", "a+b")  # noqa: SIM115 - held for life
        self._policy: Policy | None = None
        self._policy_epoch: str | None = None
        self._confirmed: set[int] = set()  # pending rows this process has materialised
        self._closed = False
        conn = self.conn
        version = self.kv_get("schema_version")
        if version is None or int(version) != SCHEMA_VERSION:
            raise StoreError(
                f"{self.catalog_path} has schema version {version}, this agentfs reads {SCHEMA_VERSION}"
            )
        if "writer" not in {row[1] for row in conn.execute("PRAGMA table_info(pending)")}:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                conn.execute("ALTER TABLE pending ADD COLUMN writer TEXT")
        del conn
        self.token, self._writer_file = self._register_writer()
        self.recover()
        # Temp files of writers killed mid-commit (nothing refers to them). Only old ones: a live
        # writer in another process may be filling a young one right now.
        self.objects.clean_tmp()

    # --- creation and connections ---------------------------------------------------------------

    @classmethod
    def create(cls, root: Path, *, admin: str, config: dict[str, Any]) -> Store:
        """Create the ``.agentfs`` folder and an empty catalog. Fails if a store exists."""
        root = root.resolve()
        meta = root / META_DIR
        if (meta / "catalog.sqlite").exists():
            raise AlreadyExistsError(f"{root} is already an agentfs store", path=str(root))
        root.mkdir(parents=True, exist_ok=True)
        meta.mkdir(exist_ok=True)
        (meta / "objects").mkdir(exist_ok=True)
        (meta / "index").mkdir(exist_ok=True)
        conn = sqlite3.connect(meta / "catalog.sqlite", isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # One transaction for the whole schema: in autocommit every CREATE would be its own
            # commit with its own fsync (~70 ms per store on a plain disk).
            conn.executescript("BEGIN;\n" + SCHEMA + "\nCOMMIT;")
            store_id = uuid.uuid4().hex
            now = now_ns()
            conn.execute("BEGIN IMMEDIATE")
            for key, value in (
                ("schema_version", str(SCHEMA_VERSION)),
                ("store_id", store_id),
                ("admins", json.dumps([admin])),
                ("acl_epoch", "0"),
                ("config", json.dumps(config)),
                ("created_ns", str(now)),
            ):
                conn.execute("INSERT INTO kv(key, value) VALUES (?, ?)", (key, value))
            conn.execute(
                f"INSERT INTO nodes({NODE_COLUMNS}) VALUES (1, '/', '', 'dir', 1, NULL, 0, NULL, ?, ?, ?, ?, ?, '{{}}', NULL, 0)",
                (DIR_MODE, admin, admin, now, now),
            )
            conn.execute(
                f"INSERT INTO versions({VERSION_COLUMNS}) VALUES (1, 1, 'mkdir', '/', NULL, 'dir', NULL, 0, NULL, ?, '{{}}', NULL, ?, ?, 'store created')",
                (DIR_MODE, admin, now),
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        return cls(root, sync=config.get("sync", "normal"))  # init --sync full holds from the start

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections must not be shared across threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError("the store is closed")
            conn = sqlite3.connect(
                self.catalog_path, isolation_level=None, check_same_thread=False, timeout=60.0
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={'FULL' if self.sync == 'full' else 'NORMAL'}")
                conn.execute("PRAGMA busy_timeout=60000")
                conn.execute("PRAGMA temp_store=MEMORY")
                conn.execute("PRAGMA cache_size=-32768")
                # A commit touches ~40 pages; the default checkpoint every 1,000 pages meant two
                # fsyncs every ~25 commits (a third of a commit's wall time on a plain disk).
                # Checkpointing every 10,000 pages (a WAL of up to ~40 MiB) coalesces repeated pages.
                conn.execute("PRAGMA wal_autocheckpoint=10000")
            except sqlite3.Error as exc:
                conn.close()
                raise self._open_error(exc) from exc
            self._local.conn = conn
            with self._write_lock:
                self._all_conns = [*getattr(self, "_all_conns", []), conn]
        return conn

    def _open_error(self, exc: sqlite3.Error) -> StoreError:
        """Why the catalog did not open. On a full disk SQLite cannot create its shared-memory
        file and says only "disk I/O error": the free space tells the two apart."""
        full = no_space(exc, self.root) is not None
        if not full:
            with contextlib.suppress(OSError):
                full = os.statvfs(self.meta_dir).f_bavail == 0
        if full:
            return NoSpaceError(f"no space left on the file system holding {self.root}: the catalog cannot open "
                                "(SQLite needs room for its write-ahead log); free some space and retry")
        return StoreError(f"cannot open the catalog {self.catalog_path}: {exc}")

    def close(self) -> None:
        """Confirm pending materialisations and close every connection of this store."""
        if self._closed:
            return
        with contextlib.suppress(Exception):
            self._flush_confirmed()
        self._closed = True
        for conn in getattr(self, "_all_conns", []):
            with contextlib.suppress(Exception):
                conn.close()
        self._all_conns = []
        with contextlib.suppress(Exception):
            self._lock_file.close()
        with contextlib.suppress(Exception):
            os.unlink(self.meta_dir / WRITERS_DIR / self.token)
            self._writer_file.close()

    # --- writers --------------------------------------------------------------------------------

    def _register_writer(self) -> tuple[str, Any]:
        """This open store's token, and the file it keeps locked under ``.agentfs/writers/`` for as
        long as it is open: the kernel drops the lock when the process dies, however it dies. The
        token goes into every ``pending`` row this store writes, so recovery can tell a live
        writer's rows (applied: no commit is in flight while recovery holds the write lock) from a
        dead one's (maybe cut short)."""
        folder = self.meta_dir / WRITERS_DIR
        folder.mkdir(exist_ok=True)
        token = uuid.uuid4().hex
        # Locked before it gets its name, so a sweep never takes a newborn file for a dead one.
        handle = open(folder / f".{token}", "a+b")  # noqa: SIM115 - held while the store is open
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        os.rename(folder / f".{token}", folder / token)
        # Files of stores killed without closing (the kernel released their locks).
        with contextlib.suppress(OSError):
            self._forget_dead_writers({name for name in os.listdir(folder) if not name.startswith(".")})
        return token, handle

    def writer_alive(self, token: str | None) -> bool:
        """Whether the store that wrote a ``pending`` row is still open (in any process)."""
        if not token:
            return False  # written before rows named their writer
        if token == getattr(self, "token", None):
            return True
        try:
            fd = os.open(self.meta_dir / WRITERS_DIR / token, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def _forget_dead_writers(self, tokens: set[str]) -> None:
        for token in tokens:
            if token and not self.writer_alive(token):
                with contextlib.suppress(OSError):
                    os.unlink(self.meta_dir / WRITERS_DIR / token)

    # --- key/value ------------------------------------------------------------------------------

    def kv_get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def store_id(self) -> str:
        return self.kv_get("store_id") or ""

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self.kv_get("config") or "{}")

    def set_config(self, config: dict[str, Any]) -> None:
        with self.transaction() as tx:
            tx.execute("INSERT OR REPLACE INTO kv(key, value) VALUES ('config', ?)", (json.dumps(config),))

    # --- reads ----------------------------------------------------------------------------------

    def node(self, path: str) -> Node | None:
        """The live node at ``path``, or None."""
        row = self.conn.execute(
            f"SELECT {NODE_COLUMNS} FROM nodes WHERE path = ? AND deleted = 0", (path,)
        ).fetchone()
        return Node.from_row(row) if row else None

    def head(self, path: str) -> tuple[str, str | None] | None:
        """``(kind, hash)`` of the live node at ``path``, or None: all a read needs, fetched alone."""
        return self.conn.execute("SELECT kind, hash FROM nodes WHERE path = ? AND deleted = 0", (path,)).fetchone()

    def node_by_id(self, node_id: int) -> Node | None:
        row = self.conn.execute(f"SELECT {NODE_COLUMNS} FROM nodes WHERE id = ?", (node_id,)).fetchone()
        return Node.from_row(row) if row else None

    def tombstone(self, path: str) -> Node | None:
        """The most recently deleted node that lived at ``path`` (for log and restore)."""
        row = self.conn.execute(
            f"SELECT {NODE_COLUMNS} FROM nodes WHERE path = ? AND deleted = 1 "
            "ORDER BY modified_ns DESC, id DESC LIMIT 1",
            (path,),
        ).fetchone()
        return Node.from_row(row) if row else None

    def children(self, path: str) -> list[Node]:
        rows = self.conn.execute(
            f"SELECT {NODE_COLUMNS} FROM nodes WHERE parent = ? AND deleted = 0 ORDER BY path", (path,)
        ).fetchall()
        return [Node.from_row(r) for r in rows]

    def has_children(self, path: str) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM nodes WHERE parent = ? AND deleted = 0 LIMIT 1", (path,)
            ).fetchone()
            is not None
        )

    def subtree(self, path: str, *, include_self: bool = True) -> list[Node]:
        """Every live node at or below ``path``, parents before children."""
        lo, hi = paths.subtree_range(path)
        rows = self.conn.execute(
            f"SELECT {NODE_COLUMNS} FROM nodes WHERE deleted = 0 AND path >= ? AND path < ? ORDER BY path",
            (lo, hi),
        ).fetchall()
        out = [Node.from_row(r) for r in rows]
        if include_self:
            me = self.node(path)
            if me is not None:
                out.insert(0, me)
        return out

    def live_files(self) -> list[Node]:
        rows = self.conn.execute(
            f"SELECT {NODE_COLUMNS} FROM nodes WHERE deleted = 0 ORDER BY path"
        ).fetchall()
        return [Node.from_row(r) for r in rows]

    def versions(self, node_id: int) -> list[Version]:
        rows = self.conn.execute(
            f"SELECT {VERSION_COLUMNS} FROM versions WHERE node_id = ? ORDER BY version", (node_id,)
        ).fetchall()
        return [Version.from_row(r) for r in rows]

    def version(self, node_id: int, version: int) -> Version | None:
        row = self.conn.execute(
            f"SELECT {VERSION_COLUMNS} FROM versions WHERE node_id = ? AND version = ?", (node_id, version)
        ).fetchone()
        return Version.from_row(row) if row else None

    def count_nodes(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT kind, count(*) FROM nodes WHERE deleted = 0 GROUP BY kind"
        ).fetchall()
        return {kind: n for kind, n in rows}

    def plain_path(self, path: str) -> Path:
        return self.root / path.lstrip("/") if path != "/" else self.root

    def plain_stat(self, path: str) -> os.stat_result | None:
        """The plain entry at ``path`` (not followed if a symlink), or None when there is none."""
        try:
            return os.lstat(self.plain_path(path))
        except (FileNotFoundError, NotADirectoryError):
            return None

    # --- governance data ------------------------------------------------------------------------

    def policy(self) -> Policy:
        """Rules, memberships and admins, reloaded only when another commit changed them."""
        epoch = self.kv_get("acl_epoch")
        if self._policy is None or epoch != self._policy_epoch:
            rules = [
                Rule(rid, principal, frozenset(actions.split(",")), path, effect, created_by)
                for rid, principal, actions, path, effect, created_by in self.conn.execute(
                    "SELECT id, principal, actions, path, effect, created_by FROM rules ORDER BY id"
                )
            ]
            memberships: dict[str, set[str]] = {}
            for principal, grp in self.conn.execute("SELECT principal, grp FROM members"):
                memberships.setdefault(principal, set()).add(grp)
            admins = set(json.loads(self.kv_get("admins") or "[]"))
            self._policy = Policy(rules, memberships, admins)
            self._policy_epoch = epoch
        return self._policy

    # --- audit and outbox reads -----------------------------------------------------------------

    def audit_entries(
        self,
        *,
        principal: str | None = None,
        path: str | None = None,
        since_ns: int | None = None,
        decision: str | None = None,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        where: list[str] = []
        args: list[Any] = []
        if principal:
            where.append("principal = ?")
            args.append(principal)
        if path and path != "/":
            lo, hi = paths.subtree_range(path)
            where.append("(path = ? OR (path >= ? AND path < ?))")
            args += [path, lo, hi]
        if since_ns is not None:
            where.append("time_ns >= ?")
            args.append(since_ns)
        if decision:
            where.append("decision = ?")
            args.append(decision)
        sql = "SELECT id, time_ns, principal, action, path, decision, reason, version, detail, chain FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        rows = self.conn.execute(sql, (*args, limit)).fetchall()
        return [AuditEntry(*r) for r in reversed(rows)]

    def verify_audit_chain(self) -> tuple[bool, int | None]:
        """Recompute the audit hash chain. Returns (intact, first bad id)."""
        prev = ""
        for row in self.conn.execute(
            "SELECT id, time_ns, principal, action, path, decision, reason, version, detail, chain FROM audit ORDER BY id"
        ):
            expected = _chain(prev, row[1:9])
            if row[9] != expected:
                return False, row[0]
            prev = expected
        return True, None

    def events_since(self, seq: int, limit: int = 1000) -> list[Event]:
        rows = self.conn.execute(
            "SELECT seq, time_ns, op, node_id, path, old_path, version, kind FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [Event(*r) for r in rows]

    def last_event_seq(self) -> int:
        row = self.conn.execute("SELECT max(seq) FROM outbox").fetchone()
        return row[0] or 0

    def cursor(self, consumer: str) -> int:
        row = self.conn.execute("SELECT seq FROM cursors WHERE consumer = ?", (consumer,)).fetchone()
        return row[0] if row else 0

    def set_cursor(self, consumer: str, seq: int) -> None:
        self.conn.execute(
            "INSERT INTO cursors(consumer, seq) VALUES (?, ?) ON CONFLICT(consumer) DO UPDATE SET seq = excluded.seq",
            (consumer, seq),
        )

    # --- lexical search -------------------------------------------------------------------------

    def fts_search(
        self,
        match: str,
        *,
        limit: int,
        include_prefixes: tuple[str, ...] | None = None,
        exclude_prefixes: tuple[str, ...] = (),
        owners: tuple[str, ...] = (),
        under: str | tuple[str, ...] | None = None,
        pool: int | None = None,
        match_all: str | None = None,
    ) -> list[tuple[Node, float]]:
        """BM25 search; the access filter is part of the SQL, so it applies before the LIMIT.

        ``pool`` bounds the work: FTS5 computes BM25 for *every* matching row before it can sort,
        so a query of common words costs time in proportion to the store (~2 us a row: 60-200 ms
        at 100,000 files). With ``pool``, BM25 ranks only the ``pool`` newest rows matching
        ``match_all`` (every term) plus the ``pool // 2`` newest matching ``match``; the access
        filter still runs inside each window, so the windows hold readable rows only.

        Returns (node, score) with higher scores better.
        """
        where = ["fts MATCH ?"]
        args: list[Any] = [match]
        for prefix in exclude_prefixes:
            lo, hi = paths.subtree_range(prefix)
            where.append("NOT (n.path = ? OR (n.path >= ? AND n.path < ?))")
            args += [prefix, lo, hi]
        if include_prefixes is not None:
            ors = []
            for prefix in include_prefixes:
                lo, hi = paths.subtree_range(prefix)
                ors.append("(n.path = ? OR (n.path >= ? AND n.path < ?))")
                args += [prefix, lo, hi]
            if owners:
                ors.append(f"n.owner IN ({','.join('?' * len(owners))})")
                args += list(owners)
            where.append("(" + (" OR ".join(ors) if ors else "0") + ")")
        roots = (under,) if isinstance(under, str) else tuple(under or ())
        if roots and "/" not in roots:  # several roots: one query over all of them (an OR of ranges)
            ors = []
            for root in roots:
                lo, hi = paths.subtree_range(root)
                ors.append("(n.path = ? OR (n.path >= ? AND n.path < ?))")
                args += [root, lo, hi]
            where.append("(" + " OR ".join(ors) + ")")
        columns = ", ".join("n." + c.strip() for c in NODE_COLUMNS.split(","))
        if pool is not None:
            filters = " AND ".join(where[1:]) or "1"
            window = (
                "SELECT * FROM (SELECT n.id AS id, bm25(fts) AS r FROM fts JOIN nodes n ON n.id = fts.rowid "
                f"WHERE fts MATCH ? AND n.deleted = 0 AND {filters} ORDER BY fts.rowid DESC LIMIT ?)"
            )
            # Both windows rank with the same phrases, so a row's BM25 is the same in each.
            sql = (
                f"SELECT {columns}, min(w.r) AS rank FROM ({window} UNION ALL {window}) w "
                "JOIN nodes n ON n.id = w.id GROUP BY n.id ORDER BY rank, n.id LIMIT ?"
            )
            params: tuple[Any, ...] = (match_all or match, *args[1:], max(pool, limit), match, *args[1:],
                                       max(pool // 2, limit), limit)
        else:
            sql = (
                f"SELECT {columns}, bm25(fts) AS rank "
                "FROM fts JOIN nodes n ON n.id = fts.rowid "
                f"WHERE n.deleted = 0 AND {' AND '.join(where)} ORDER BY rank LIMIT ?"
            )
            params = (*args, limit)
        try:
            rows = self.conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise ValueError(f"bad search query {match!r}: {exc}") from None
        return [(Node.from_row(r[:-1]), -float(r[-1])) for r in rows]

    # --- writing --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One atomic commit. Plain-tree updates run after COMMIT, still under the write lock."""
        with self._write_lock:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX)
            try:
                conn = self.conn
                conn.execute("BEGIN IMMEDIATE")
                tx = Transaction(self, conn)
                try:
                    if self._confirmed:
                        ids = list(self._confirmed)
                        conn.executemany("DELETE FROM pending WHERE node_id = ?", [(i,) for i in ids])
                    yield tx
                    conn.execute("COMMIT")
                except BaseException as exc:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    full = no_space(exc, self.root)
                    if full is not None:  # SQLite rolled back: nothing of this commit is applied
                        raise full from exc
                    raise
                self._confirmed.clear()
                tx.apply_plain()
            finally:
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)

    @contextlib.contextmanager
    def quiescent(self) -> Iterator[None]:
        """Hold the write lock without committing: while it is held no commit is in flight in any
        process (every writer updates the plain tree before it lets go), so a ``pending`` row is
        either applied (rows are cleared lazily) or left by a writer that died."""
        with self._write_lock:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)

    def record_denial(self, principal: str, action: str, path: str, reason: str, detail: dict | None = None) -> None:
        """Audit a denied action in a transaction of its own (nothing else commits)."""
        with self.transaction() as tx:
            tx.audit(principal, action, path, "deny", reason, None, detail)

    def _flush_confirmed(self) -> None:
        if not self._confirmed:
            return
        with self._write_lock:
            ids = list(self._confirmed)
            self.conn.executemany("DELETE FROM pending WHERE node_id = ?", [(i,) for i in ids])
            self._confirmed.difference_update(ids)

    def recover(self) -> list[str]:
        """Re-apply head versions of nodes whose plain-tree update may not have happened.

        Only rows of writers that are gone are judged: a store still open elsewhere has applied
        its commits (none is in flight while this holds the write lock), and whatever its files
        show since (an outside edit, an outside deletion) is for ``sync`` or a watcher to commit.
        """
        pending = self.conn.execute("SELECT node_id FROM pending").fetchall()
        if not pending:
            return []
        repaired: list[str] = []
        with self._write_lock:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX)
            try:
                rows = self.conn.execute("SELECT node_id, writer FROM pending").fetchall()
                alive = {writer: self.writer_alive(writer) for writer in {w for _, w in rows}}  # one check per writer
                ids = [node_id for node_id, writer in rows if not alive[writer]]
                nodes = [n for n in (self.node_by_id(i) for i in ids) if n is not None]
                # A rename that died before its plain-tree move leaves the old path behind: remove
                # it (children before parents) unless a live node owns that path again.
                stale = set()
                for node in nodes:
                    row = self.conn.execute(
                        "SELECT old_path FROM versions WHERE node_id = ? ORDER BY version DESC LIMIT 1", (node.id,)
                    ).fetchone()
                    if row and row[0] and self.node(row[0]) is None and not self._leave_plain(node, row[0]):
                        stale.add(row[0])
                for old in sorted(stale, reverse=True):
                    self._remove_plain(old)
                # Tombstones first, so a deletion never undoes what now lives at its path.
                for node in sorted(nodes, key=lambda n: (not n.deleted, n.path)):
                    if not self._leave_plain(node, node.path):
                        self.materialize(node)
                        repaired.append(node.path)
                self.conn.executemany("DELETE FROM pending WHERE node_id = ?", [(i,) for i in ids])
            finally:
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
        return repaired

    def _leave_plain(self, node: Node, path: str) -> bool:
        """Whether recovery must leave a pending file's plain entry at ``path`` as it is: applied
        already, or applied and changed outside since, so that re-applying the commit would undo a
        newer edit. Rows are cleared lazily, so most pending rows a store sees at open belong to
        live writers and are long applied.

        agentfs stamps every file it writes with its version's time, to the nanosecond: the head's
        time means applied (and whole, if the size agrees: else torn by a power cut), the time of
        the version before means cut short. Any other time is an edit made since, which is left
        for ``sync`` or a mount's watcher to commit. A missing entry is re-applied: that is what a
        creation or a rename cut short looks like.
        """
        if node.kind != "file":
            return False
        st = self.plain_stat(path)
        if st is None or not stat.S_ISREG(st.st_mode):
            return False
        if st.st_mtime_ns == node.modified_ns and not node.deleted:
            return st.st_size == node.size  # applied: nothing to repair (else torn: repair)
        return not self.cut_short(node, st)

    def cut_short(self, latest: Node, st: os.stat_result | None) -> bool:
        """Whether a pending commit's plain-tree update never happened (its writer died), judged
        from ``st``, the plain entry at its path, under the write lock (so it is not in flight).

        Cut short, the plain entry is still exactly the version before: agentfs gave that file
        its version's mtime to the nanosecond, which an edit made since (an editor, a script, the
        kernel's clock) does not reproduce; a renamed entry is still missing at its new path. A
        pending new entry whose plain entry is missing was deleted outside afterwards, or its
        writer died before anybody was told of it; either way the deletion is what the plain
        tree shows (recovery, which knows the writer is gone, re-applies it itself).
        """
        before = self.version_before(latest)
        if before is None or before.op == "delete":
            return False
        if st is None:  # a rename whose plain-tree move never happened left nothing at the new path
            return before.path != latest.path
        kind = "symlink" if stat.S_ISLNK(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) else "file"
        if kind != before.kind:
            return False
        if kind == "dir":  # folders' mtimes are the kernel's: a folder still there awaits its deletion
            return bool(latest.deleted)
        return st.st_mtime_ns == before.time_ns

    def version_before(self, node: Node) -> VersionBefore | None:
        """The version preceding ``node``'s head: what the plain tree shows while the head's
        plain-tree update has not happened (a writer died, or judged under the write lock)."""
        row = self.conn.execute(
            "SELECT kind, time_ns, op, path FROM versions WHERE node_id = ? AND version < ? "
            "ORDER BY version DESC LIMIT 1",
            (node.id, node.version),
        ).fetchone()
        return VersionBefore(*row) if row else None

    def materialize(self, node: Node) -> None:
        """Make the plain tree show ``node``'s head (idempotent)."""
        target = self.plain_path(node.path)
        if node.deleted:
            # Another node may live at this path now (a rename over it, a later write): then the
            # plain entry is that node's, not this tombstone's.
            if self.node(node.path) is None:
                self._remove_plain(node.path)
            return
        if node.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if node.kind == "symlink":
            link_target = self.objects.read(node.hash).decode() if node.hash else ""
            tmp = self.tmp_dir / uuid.uuid4().hex
            os.symlink(link_target, tmp)
            os.replace(tmp, target)
            return
        self.write_plain(node.path, None, node.hash, node.mode, node.modified_ns)

    def _remove_plain(self, path: str) -> None:
        """Remove a plain file, link or empty folder (a folder with foreign files stays)."""
        target = self.plain_path(path)
        with contextlib.suppress(OSError):
            if target.is_dir() and not target.is_symlink():
                target.rmdir()  # fails, and is left alone, when something is still inside
            else:
                target.unlink()

    def adopt_plain(self, node: Node) -> None:
        """Make the plain file of an outside edit committed as ``external`` agentfs' own: it
        already holds the bytes, so it only gets the version's mode and mtime. Rewriting it would
        undo whatever happened to it since it was read (another edit, a deletion), which the
        watcher commits next; then it is left as it is."""
        target = self.plain_path(node.path)
        try:
            st = os.lstat(target)
        except (FileNotFoundError, NotADirectoryError):
            return
        if not stat.S_ISREG(st.st_mode) or st.st_size != node.size:
            return
        if hash_file(target) != node.hash:
            return
        os.chmod(target, node.mode & 0o7777)
        os.utime(target, ns=(node.modified_ns, node.modified_ns))
        # A write between the hash and the utime would now wear the version's time, which says
        # "this file is that version": the watcher would never look at it again, and a rewrite of
        # the same size would escape `sync` too. Check once more; if the bytes moved, give the
        # file a time no version has, so the edit is seen (the utime itself is an event).
        try:
            changed = os.lstat(target).st_size != node.size or hash_file(target) != node.hash
        except (FileNotFoundError, NotADirectoryError):
            return
        if changed:
            os.utime(target)

    def write_plain(self, path: str, data: bytes | None, digest: str | None, mode: int, mtime_ns: int) -> None:
        """Atomically replace one plain file with content (from ``data`` or the object)."""
        # Plain strings, not pathlib: this runs once per commit and pathlib's joins add up.
        target = self._root_str + path if path != "/" else self._root_str
        tmp = f"{self._tmp_str}/{uuid.uuid4().hex}"
        if data is not None:
            # No fsync even with sync=full: the object holding these bytes is fsynced and the
            # commit's `pending` row is durable, so recovery rebuilds this file after a power cut.
            with open(tmp, "wb") as handle:
                handle.write(data)
        elif digest is not None:
            import shutil

            shutil.copyfile(self.objects.path_of(digest), tmp)
        else:
            open(tmp, "wb").close()  # an empty file
        os.chmod(tmp, mode & 0o7777)
        os.utime(tmp, ns=(mtime_ns, mtime_ns))
        try:
            os.replace(tmp, target)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(tmp, target)
        except IsADirectoryError:
            # An outside `mkdir` where the catalog has a file: the catalog wins, but never
            # silently delete somebody's directory; move it aside.
            os.replace(target, f"{target}.conflict-{uuid.uuid4().hex[:6]}")
            os.replace(tmp, target)


class Transaction:
    """Changes inside one commit. Obtained from :meth:`Store.transaction` only."""

    def __init__(self, store: Store, conn: sqlite3.Connection) -> None:
        self.store = store
        self.conn = conn
        self.time_ns = now_ns()
        self._plain: list[tuple[str, Any]] = []
        self._chain_prev: str | None = None
        self.events: list[Event] = []  # in-process listeners get these after commit

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, args)

    def _tick(self) -> int:
        # Strictly increasing within a transaction, so versions of one commit keep their order.
        self.time_ns += 1
        return self.time_ns

    def _live(self, path: str) -> Node | None:
        row = self.conn.execute(
            f"SELECT {NODE_COLUMNS} FROM nodes WHERE path = ? AND deleted = 0", (path,)
        ).fetchone()
        return Node.from_row(row) if row else None

    def _tomb(self, path: str) -> Node | None:
        row = self.conn.execute(
            f"SELECT {NODE_COLUMNS} FROM nodes WHERE path = ? AND deleted = 1 ORDER BY modified_ns DESC, id DESC LIMIT 1",
            (path,),
        ).fetchone()
        return Node.from_row(row) if row else None

    # --- primitives -----------------------------------------------------------------------------

    def _version_row(self, node: Node, op: str, *, old_path: str | None = None, message: str | None = None) -> None:
        self.conn.execute(
            f"INSERT INTO versions({VERSION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                node.id, node.version, op, node.path, old_path, node.kind,
                None if op == "delete" else node.hash, 0 if op == "delete" else node.size,
                node.tokens, node.mode, node.meta_json, node.provenance_json, node.author,
                node.modified_ns, message,
            ),
        )
        self.conn.execute("INSERT OR REPLACE INTO pending(node_id, writer) VALUES (?, ?)", (node.id, self.store.token))
        cur = self.conn.execute(
            "INSERT INTO outbox(time_ns, op, node_id, path, old_path, version, kind) VALUES (?,?,?,?,?,?,?)",
            (node.modified_ns, op, node.id, node.path, old_path, node.version, node.kind),
        )
        self.events.append(
            Event(cur.lastrowid or 0, node.modified_ns, op, node.id, node.path, old_path, node.version, node.kind)
        )

    def _write_node(self, node: Node, *, insert: bool) -> Node:
        """Insert or update a node row; an inserted node with id 0 gets the next id from SQLite."""
        values = (
            node.path, node.parent, node.kind, node.version, node.hash, node.size, node.tokens,
            node.mode, node.owner, node.author, node.created_ns, node.modified_ns, node.meta_json,
            node.provenance_json, node.deleted,
        )
        if insert:
            cur = self.conn.execute(
                "INSERT INTO nodes(id, path, parent, kind, version, hash, size, tokens, mode, owner, author, "
                "created_ns, modified_ns, meta, provenance, deleted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (node.id or None, *values),
            )
            return node if node.id else dataclasses.replace(node, id=int(cur.lastrowid or 0))
        else:
            self.conn.execute(
                "UPDATE nodes SET path=?, parent=?, kind=?, version=?, hash=?, size=?, tokens=?, mode=?, "
                "owner=?, author=?, created_ns=?, modified_ns=?, meta=?, provenance=?, deleted=? WHERE id=?",
                (*values, node.id),
            )
        return node

    def _new_id(self) -> int:
        row = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM nodes").fetchone()
        return int(row[0])

    def _fts_put(self, node: Node, text: str | None, *, fresh: bool = False) -> None:
        if not fresh:  # a node that never existed has no row to replace
            self.conn.execute("DELETE FROM fts WHERE rowid = ?", (node.id,))
        if text is not None:
            words = node.path.replace("/", " ").replace("-", " ").replace("_", " ").replace(".", " ")
            self.conn.execute("INSERT INTO fts(rowid, path, body) VALUES (?, ?, ?)", (node.id, words, text))

    # --- operations -----------------------------------------------------------------------------

    def ensure_dirs(self, path: str, author: str) -> None:
        """Create missing ancestors of ``path`` as directories (like ``mkdir -p``)."""
        parent = self._live(paths.parent(path))
        if parent is not None:  # a live folder's own ancestors are live folders: one lookup is enough
            if parent.kind != "dir":
                raise NotADirectoryError_(f"{parent.path} is a file, so {path} cannot be created under it", path=path)
            return
        for ancestor in paths.ancestors(paths.parent(path))[1:]:
            node = self._live(ancestor)
            if node is None:
                self.mkdir(ancestor, author=author, mode=DIR_MODE)
            elif node.kind != "dir":
                raise NotADirectoryError_(f"{ancestor} is a file, so {path} cannot be created under it", path=path)

    def write_file(
        self,
        path: str,
        *,
        digest: str,
        size: int,
        tokens: int | None,
        meta: dict[str, Any],
        author: str,
        data: bytes | None = None,
        text: str | None = None,
        mode: int | None = None,
        op: str | None = None,
        provenance: list[dict[str, Any]] | None = None,
        message: str | None = None,
        if_version: int | None = None,
        make_parents: bool = True,
        kind: str = "file",
        owner: str | None = None,
    ) -> Node:
        """Commit new content at ``path`` (creating, overwriting or resurrecting the node).

        ``owner`` is the owner of a file this creates (default: its author); an existing file keeps its owner.
        """
        # One lookup for both: the live node at path, else its most recent tombstone (as _tomb).
        row = self.conn.execute(
            f"SELECT {NODE_COLUMNS} FROM nodes WHERE path = ? ORDER BY deleted, modified_ns DESC, id DESC LIMIT 1",
            (path,),
        ).fetchone()
        found = Node.from_row(row) if row else None
        existing = found if found is not None and not found.deleted else None
        if existing is not None and existing.kind == "dir":
            raise IsADirectoryError_(f"{path} is a directory", path=path)
        current = existing.version if existing is not None else 0
        if if_version is not None and if_version != current:
            raise ConflictError(
                f"{path} is at version {current}, not {if_version}: somebody else wrote it first "
                "(re-read it and try again)",
                path=path,
                current_version=current,
            )
        if make_parents:
            self.ensure_dirs(path, author)
        else:
            parent = self._live(paths.parent(path))
            if parent is None:
                raise NotFoundError(f"{paths.parent(path)} does not exist", path=path)
            if parent.kind != "dir":
                raise NotADirectoryError_(f"{paths.parent(path)} is not a directory", path=path)
        t = self._tick()
        meta_json = json.dumps(meta, sort_keys=True, ensure_ascii=False)
        prov_json = json.dumps(provenance) if provenance else None
        if existing is not None:
            node = Node(existing.id, path, paths.parent(path), kind, existing.version + 1, digest, size, tokens,
                        existing.mode if mode is None else mode, existing.owner, author, existing.created_ns, t,
                        meta_json, prov_json, 0)
            self._write_node(node, insert=False)
            op = op or "write"
        else:
            tomb = found
            if tomb is not None:
                node = Node(tomb.id, path, paths.parent(path), kind, tomb.version + 1, digest, size, tokens,
                            FILE_MODE if mode is None else mode, owner or author, author, t, t, meta_json,
                            prov_json, 0)
                self._write_node(node, insert=False)
            else:
                node = Node(0, path, paths.parent(path), kind, 1, digest, size, tokens,
                            FILE_MODE if mode is None else mode, owner or author, author, t, t, meta_json,
                            prov_json, 0)
                node = self._write_node(node, insert=True)
            op = op or "create"
        self._version_row(node, op, message=message)
        if kind == "file":
            self._fts_put(node, text, fresh=existing is None and found is None)
        self._plain.append(("write", (node, data)))
        return node

    def set_mode(self, path: str, mode: int, author: str) -> Node:
        node = self._live(path)
        if node is None:
            raise NotFoundError(f"{path} does not exist", path=path)
        t = self._tick()
        new = Node(node.id, node.path, node.parent, node.kind, node.version + 1, node.hash, node.size,
                   node.tokens, mode, node.owner, author, node.created_ns, t, node.meta_json,
                   node.provenance_json, 0)
        self._write_node(new, insert=False)
        self._version_row(new, "mode")
        self._plain.append(("chmod", new))
        return new

    def mkdir(self, path: str, *, author: str, mode: int = DIR_MODE, exist_ok: bool = False,
              owner: str | None = None) -> Node:
        existing = self._live(path)
        if existing is not None:
            if exist_ok and existing.kind == "dir":
                return existing
            raise AlreadyExistsError(f"{path} already exists", path=path)
        parent = self._live(paths.parent(path))
        if parent is None:
            self.ensure_dirs(path, author)
        elif parent.kind != "dir":
            raise NotADirectoryError_(f"{paths.parent(path)} is not a directory", path=path)
        t = self._tick()
        tomb = self._tomb(path)
        if tomb is not None and tomb.kind == "dir":
            node = Node(tomb.id, path, paths.parent(path), "dir", tomb.version + 1, None, 0, None, mode,
                        owner or author, author, t, t, "{}", None, 0)
            self._write_node(node, insert=False)
        else:
            node = Node(self._new_id(), path, paths.parent(path), "dir", 1, None, 0, None, mode,
                        owner or author, author, t, t, "{}", None, 0)
            self._write_node(node, insert=True)
        self._version_row(node, "mkdir")
        self._plain.append(("mkdir", node))
        return node

    def delete(self, path: str, *, author: str, recursive: bool = False) -> list[Node]:
        """Tombstone ``path`` (and, with ``recursive``, everything below it). Returns the nodes."""
        node = self._live(path)
        if node is None:
            raise NotFoundError(f"{path} does not exist", path=path)
        if path == "/":
            raise DirectoryNotEmptyError("the root cannot be deleted", path=path)
        targets = [node]
        if node.kind == "dir":
            lo, hi = paths.subtree_range(path)
            below = [
                Node.from_row(r)
                for r in self.conn.execute(
                    f"SELECT {NODE_COLUMNS} FROM nodes WHERE deleted = 0 AND path >= ? AND path < ? ORDER BY path DESC",
                    (lo, hi),
                )
            ]
            if below and not recursive:
                raise DirectoryNotEmptyError(f"{path} is not empty", path=path)
            targets = [*below, node]
        out = []
        for target in targets:
            t = self._tick()
            dead = Node(target.id, target.path, target.parent, target.kind, target.version + 1, target.hash,
                        target.size, target.tokens, target.mode, target.owner, author, target.created_ns, t,
                        target.meta_json, target.provenance_json, 1)
            self._write_node(dead, insert=False)
            self._version_row(dead, "delete")
            self.conn.execute("DELETE FROM fts WHERE rowid = ?", (target.id,))
            self._plain.append(("delete", dead))
            out.append(dead)
        return out

    def rename(self, src: str, dst: str, *, author: str, overwrite: bool = True) -> list[Node]:
        """Move ``src`` to ``dst`` (POSIX rename semantics). Returns the moved nodes."""
        node = self._live(src)
        if node is None:
            raise NotFoundError(f"{src} does not exist", path=src)
        if src == dst:
            return [node]
        if paths.is_within(dst, src):
            raise AlreadyExistsError(f"cannot move {src} into itself ({dst})", path=dst)
        target = self._live(dst)
        if target is not None:
            if not overwrite:
                raise AlreadyExistsError(f"{dst} already exists", path=dst)
            if node.kind == "dir" and target.kind != "dir":
                raise NotADirectoryError_(f"{dst} is not a directory", path=dst)
            if node.kind != "dir" and target.kind == "dir":
                raise IsADirectoryError_(f"{dst} is a directory", path=dst)
            if target.kind == "dir" and self.conn.execute(
                "SELECT 1 FROM nodes WHERE parent = ? AND deleted = 0 LIMIT 1", (dst,)
            ).fetchone():
                raise DirectoryNotEmptyError(f"{dst} is not empty", path=dst)
            self.delete(dst, author=author)
        self.ensure_dirs(dst, author)
        moved = []
        lo, hi = paths.subtree_range(src)
        below = [
            Node.from_row(r)
            for r in self.conn.execute(
                f"SELECT {NODE_COLUMNS} FROM nodes WHERE deleted = 0 AND path >= ? AND path < ? ORDER BY path",
                (lo, hi),
            )
        ] if node.kind == "dir" else []
        for item in [node, *below]:
            new_path = paths.rebase(item.path, src, dst)
            t = self._tick()
            new = Node(item.id, new_path, paths.parent(new_path), item.kind, item.version + 1, item.hash,
                       item.size, item.tokens, item.mode, item.owner, author, item.created_ns, t,
                       item.meta_json, item.provenance_json, 0)
            self._write_node(new, insert=False)
            self._version_row(new, "rename", old_path=item.path)
            if item.kind == "file":
                words = new_path.replace("/", " ").replace("-", " ").replace("_", " ").replace(".", " ")
                self.conn.execute("UPDATE fts SET path = ? WHERE rowid = ?", (words, item.id))
            moved.append(new)
        self._plain.append(("rename", (src, dst)))
        return moved

    def audit(
        self,
        principal: str,
        action: str,
        path: str,
        decision: str,
        reason: str,
        version: int | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        if self._chain_prev is None:
            row = self.conn.execute("SELECT chain FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            self._chain_prev = row[0] if row else ""
        t = self._tick()
        detail_json = json.dumps(detail, sort_keys=True, default=str) if detail else None
        row_values = (t, principal, action, path, decision, reason, version, detail_json)
        chain = _chain(self._chain_prev, row_values)
        self.conn.execute(
            "INSERT INTO audit(time_ns, principal, action, path, decision, reason, version, detail, chain) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (*row_values, chain),
        )
        self._chain_prev = chain

    # --- governance writes ----------------------------------------------------------------------

    def add_rule(self, principal: str, actions: frozenset[str], path: str, effect: str, created_by: str) -> int:
        cur = self.conn.execute(
            "INSERT INTO rules(principal, actions, path, effect, created_by, created_ns) VALUES (?,?,?,?,?,?)",
            (principal, ",".join(sorted(actions)), path, effect, created_by, self._tick()),
        )
        self._bump_acl()
        return int(cur.lastrowid or 0)

    def remove_rule(self, rule_id: int) -> bool:
        cur = self.conn.execute("DELETE FROM rules WHERE id = ?", (rule_id,))
        self._bump_acl()
        return cur.rowcount > 0

    def add_member(self, principal: str, group: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO members(principal, grp) VALUES (?, ?)", (principal, group))
        self._bump_acl()

    def remove_member(self, principal: str, group: str) -> bool:
        cur = self.conn.execute("DELETE FROM members WHERE principal = ? AND grp = ?", (principal, group))
        self._bump_acl()
        return cur.rowcount > 0

    def set_admins(self, admins: list[str]) -> None:
        self.conn.execute("INSERT OR REPLACE INTO kv(key, value) VALUES ('admins', ?)", (json.dumps(sorted(admins)),))
        self._bump_acl()

    def _bump_acl(self) -> None:
        self.conn.execute(
            "UPDATE kv SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'acl_epoch'"
        )

    # --- after commit ---------------------------------------------------------------------------

    def apply_plain(self) -> None:
        store = self.store
        for action, payload in self._plain:
            try:
                if action == "write":
                    node, data = payload
                    if node.author == EXTERNAL:  # the plain file is where these bytes came from
                        store.adopt_plain(node)
                    else:
                        store.write_plain(node.path, data, node.hash, node.mode, node.modified_ns)
                    store._confirmed.add(node.id)
                elif action == "mkdir":
                    store.plain_path(payload.path).mkdir(parents=True, exist_ok=True)
                    store._confirmed.add(payload.id)
                elif action == "chmod":
                    os.chmod(store.plain_path(payload.path), payload.mode & 0o7777)
                    store._confirmed.add(payload.id)
                elif action == "delete":
                    # An outside deletion is already done; what is there now came after it.
                    if payload.author != EXTERNAL:
                        store.materialize(payload)
                    store._confirmed.add(payload.id)
                elif action == "rename":
                    src, dst = payload
                    source, target = store.plain_path(src), store.plain_path(dst)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if source.exists() or source.is_symlink():
                        os.replace(source, target)
                    for node in store.subtree(dst):
                        # The bytes moved with the rename; only the recorded mtime is new (status
                        # compares it), so touch instead of copying every file again.
                        plain = store.plain_path(node.path)
                        if node.kind == "file" and plain.exists():
                            os.utime(plain, ns=(node.modified_ns, node.modified_ns))
                        else:
                            store.materialize(node)
                        store._confirmed.add(node.id)
            except OSError:
                # The catalog committed; the pending row stays and recovery re-applies the head.
                # A plain-tree failure (disk full, a foreign file in the way) never undoes a commit.
                continue
