"""Outside edits, expiry and verification: keeping the plain tree and the catalog one story.

The plain tree under a store is readable and writable without agentfs. Edits made there behind
agentfs' back are found by :func:`scan` (stat first, hash only when size or mtime differ) and
committed by :func:`apply` as principal ``external``, through the same providers and validation as
every other write: a broken front matter or a rewrite of append-only history is reported, not
committed, and the catalog keeps its last good version.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat as stat_mod
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentfs import paths
from agentfs.errors import AgentFSError, InvalidPathError
from agentfs.frontmatter import parse_duration
from agentfs.governance.policy import EXTERNAL, SYSTEM
from agentfs.store.objects import hash_file
from agentfs.store.store import META_DIR
from agentfs.types import Change

if TYPE_CHECKING:
    from agentfs.fs import ContextFS


def scan(fs: ContextFS, under: str = "/") -> list[Change]:
    """Compare the plain tree with the catalog; return added, modified and deleted entries."""
    store = fs._core.store
    store._flush_confirmed()
    # Pending rows are judged under the write lock, as in scan_paths: then no commit is in flight,
    # so a pending commit is applied (its writer, alive, clears the row lazily) or was cut short
    # by a crash and awaits recovery. Only the latter is left out: neither side of it can be judged.
    subtree = list(store.subtree(under))
    cut_short: set[int] = set()
    has_pending = store.conn.execute("SELECT 1 FROM pending LIMIT 1").fetchone() is not None
    with store.quiescent() if has_pending else contextlib.nullcontext():
        pending = {row[0] for row in store.conn.execute("SELECT node_id FROM pending")} if has_pending else set()
        for entry in subtree:
            if entry.id in pending and store.cut_short(entry, store.plain_stat(entry.path)):
                cut_short.add(entry.id)
    nodes = {n.path: n for n in subtree if n.id not in cut_short}
    skip = {n.path for n in subtree if n.id in cut_short}
    virtual = {p for p, prov in fs._core.providers.items() if prov.capabilities.virtual}
    seen: set[str] = set()
    changes: list[Change] = []
    base = store.plain_path(under)
    for dirpath, dirnames, filenames in os.walk(base):
        rel_dir = "/" + os.path.relpath(dirpath, store.root).replace(os.sep, "/").lstrip("./")
        rel_dir = "/" if rel_dir in ("/", "/.") else rel_dir
        if rel_dir == "/":
            dirnames[:] = [d for d in dirnames if d != META_DIR]
        for name in [*dirnames, *filenames]:
            try:
                path = paths.normalize(rel_dir.rstrip("/") + "/" + name)
            except InvalidPathError as exc:
                changes.append(Change(rel_dir.rstrip("/") + "/" + name, "added", "file", problem=str(exc)))
                continue
            if path in virtual or path in skip:
                continue
            seen.add(path)
            full = store.plain_path(path)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue
            kind = "symlink" if stat_mod.S_ISLNK(st.st_mode) else "dir" if stat_mod.S_ISDIR(st.st_mode) else "file"
            node = nodes.get(path)
            if node is None:
                changes.append(Change(path, "added", kind))
                continue
            if node.kind != kind:
                changes.append(Change(path, "modified", kind, problem=f"was a {node.kind}, now a {kind}"))
                continue
            if kind == "file" and (st.st_size != node.size or st.st_mtime_ns != node.modified_ns):
                if st.st_size != node.size or hash_file(full) != node.hash:
                    changes.append(Change(path, "modified", kind))
            elif kind == "symlink":
                target = os.readlink(full)
                if hashlib.sha256(target.encode()).hexdigest() != node.hash:
                    changes.append(Change(path, "modified", kind))
    for path, node in nodes.items():
        if path == "/" or path in seen or path in virtual:
            continue
        if node.kind == "dir" and path in fs._core.providers:
            changes.append(Change(path, "deleted", "dir", problem="mount folders cannot be deleted"))
            continue
        changes.append(Change(path, "deleted", node.kind))
    return changes


def scan_paths(fs: ContextFS, candidates: Iterable[str]) -> list[Change]:
    """Like :func:`scan`, for these namespace paths only (what a file watcher saw change).

    The catalog and the plain files are compared under the store's write lock, so no commit is
    half-way through its plain-tree update meanwhile: a ``pending`` row is either applied (rows
    are cleared lazily, at their writer's next commit) or was cut short by a crash, and then the
    plain tree still shows exactly the version before it (see :meth:`Store.cut_short`), which
    recovery re-applies. An added folder is walked, so a tree moved in from elsewhere arrives
    whole. Invalid names come back with a ``problem``, as in :func:`scan`.
    """
    store = fs._core.store
    store._flush_confirmed()
    virtual = [p for p, prov in fs._core.providers.items() if prov.capabilities.virtual]
    wanted: set[str] = set()
    changes: list[Change] = []
    for raw in candidates:
        try:
            path = paths.normalize(raw)
        except InvalidPathError as exc:
            changes.append(Change(str(raw), "added", "file", problem=str(exc)))
            continue
        if path != "/" and not any(paths.is_within(path, v) for v in virtual):
            wanted.add(path)
    with store.quiescent():
        nodes = {path: store.node(path) for path in sorted(wanted)}
        tombs = {path: store.tombstone(path) for path, node in nodes.items() if node is None}
        pending = {row[0] for row in store.conn.execute("SELECT node_id FROM pending")}
        plain: dict[str, os.stat_result | None] = {}
        for path, node in nodes.items():
            st = store.plain_stat(path)
            latest = node or tombs.get(path)
            if latest is not None and latest.id in pending and store.cut_short(latest, st):
                continue
            plain[path] = st
    for path, st in plain.items():
        node = nodes[path]
        full = store.plain_path(path)
        if st is None:
            if node is not None and node.kind == "dir" and path in fs._core.providers:
                changes.append(Change(path, "deleted", "dir", problem="mount folders cannot be deleted"))
            elif node is not None:
                changes.append(Change(path, "deleted", node.kind))
            continue
        kind = "symlink" if stat_mod.S_ISLNK(st.st_mode) else "dir" if stat_mod.S_ISDIR(st.st_mode) else "file"
        if node is None:
            changes.append(Change(path, "added", kind))
            if kind == "dir":
                changes.extend(_added_below(full, path))
        elif node.kind != kind:
            changes.append(Change(path, "modified", kind, problem=f"was a {node.kind}, now a {kind}"))
        elif kind == "file" and (st.st_size != node.size or st.st_mtime_ns != node.modified_ns):
            with contextlib.suppress(FileNotFoundError):
                if st.st_size != node.size or hash_file(full) != node.hash:
                    changes.append(Change(path, "modified", kind))
        elif kind == "symlink":
            with contextlib.suppress(FileNotFoundError):
                if hashlib.sha256(os.readlink(full).encode()).hexdigest() != node.hash:
                    changes.append(Change(path, "modified", kind))
    return changes


def _added_below(folder: Path, path: str) -> list[Change]:
    """Everything inside a folder that is new to the catalog, parents first."""
    out: list[Change] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        rel_dir = path.rstrip("/") + "/" + os.path.relpath(dirpath, folder).replace(os.sep, "/")
        rel_dir = rel_dir[:-2] if rel_dir.endswith("/.") else rel_dir
        for name in sorted(dirnames) + sorted(filenames):
            raw = rel_dir.rstrip("/") + "/" + name
            try:
                entry = paths.normalize(raw)
            except InvalidPathError as exc:
                out.append(Change(raw, "added", "file", problem=str(exc)))
                continue
            mode = os.lstat(os.path.join(dirpath, name)).st_mode
            kind = "symlink" if stat_mod.S_ISLNK(mode) else "dir" if stat_mod.S_ISDIR(mode) else "file"
            out.append(Change(entry, "added", kind))
    return out


def apply(fs: ContextFS, under: str = "/") -> list[Change]:
    return commit_changes(fs, scan(fs, under))


def commit_changes(fs: ContextFS, changes: list[Change]) -> list[Change]:
    """Commit outside edits as ``external``; each result says ``problem`` when refused."""
    ext = fs.as_principal(EXTERNAL)
    store = fs._core.store
    results: list[Change] = []
    # Parents before children for additions; children before parents for deletions.
    for change in sorted(changes, key=lambda c: (c.change == "deleted", c.path if c.change != "deleted" else ""),
                         reverse=False):
        if change.problem:
            results.append(change)
            continue
        try:
            full = store.plain_path(change.path)
            if change.change == "deleted":
                # Something back at the path since the scan is newer than the deletion.
                if store.node(change.path) is not None and not os.path.lexists(full):
                    ext.rm(change.path, recursive=True)
            elif change.kind == "dir":
                ext.mkdir(change.path, exist_ok=True)
            elif change.kind == "symlink":
                target = os.readlink(full)
                node = store.node(change.path)
                if node is not None:
                    ext.rm(change.path)
                ext.symlink(change.path, target)
            else:
                _commit_file(ext, change, full)
            results.append(change)
        except (AgentFSError, OSError) as exc:
            results.append(Change(change.path, change.change, change.kind, problem=str(exc)))
    # A refused edit stays in the plain tree untouched (it is the user's work): the catalog keeps
    # its last good version, and status/sync keep reporting the problem until the file is fixed.
    return results


def _commit_file(ext: ContextFS, change: Change, full: Path) -> None:
    store = ext._core.store
    node = store.node(change.path)
    data = full.read_bytes() if full.stat().st_size <= 8 * 1024 * 1024 else full
    provider = ext._core.route(change.path)
    if node is not None and provider.capabilities.append_only and isinstance(data, bytes) and node.hash:
        old = store.objects.read(node.hash)
        if data.startswith(old):
            ext.append(change.path, data[len(old):])
            return
    ext.write(change.path, data, message="edited outside agentfs")


def expire(fs: ContextFS) -> list[str]:
    """Delete expired files as ``system``: mount ``ttl`` (by age) and front-matter ``ttl``."""
    store = fs._core.store
    system = fs.as_principal(SYSTEM)
    now = time.time_ns()
    expired: list[str] = []
    for spec in fs._core.table.mounts:
        mount_ttl = parse_duration(spec.options.ttl) if spec.options.ttl else None
        for node in store.subtree(spec.path, include_self=False):
            if node.kind != "file":
                continue
            ttl: int | None = mount_ttl
            node_ttl = node.meta.get("ttl")
            if node_ttl is not None:
                try:
                    ttl = parse_duration(node_ttl)
                except ValueError:
                    continue
            if ttl is not None and node.modified_ns + ttl * 1_000_000_000 < now:
                try:
                    system.rm(node.path)
                    expired.append(node.path)
                except AgentFSError:
                    continue
    return expired


def _applied(store: Any, node_id: int) -> bool:
    """Whether the plain tree already shows a pending node's head. A pending row is cleared lazily,
    at its writer's next commit: a live writer in another process (a mount) leaves rows whose
    plain-tree update is long done, which are no problem."""
    node = store.node_by_id(node_id)
    if node is None:
        return True
    st = store.plain_stat(node.path)
    if node.deleted:
        return st is None or store.node(node.path) is not None
    if st is None:
        return False
    if node.kind == "file":  # the update sets the plain file's mtime to the version's time
        return st.st_size == node.size and st.st_mtime_ns == node.modified_ns
    return True


def verify(fs: ContextFS, *, repair: bool = False, deep: bool = False) -> dict[str, Any]:
    """Check the store's invariants. Returns ``{"ok": bool, "problems": [...], counts...}``.

    Checks: every version's object exists (and, with ``deep``, still hashes to its name); each
    node's head equals its latest version row; every version has an audit row and an outbox event;
    the audit hash chain is intact; no commit is pending on the plain tree.
    """
    store = fs._core.store
    store._flush_confirmed()
    if repair:
        store.recover()
    problems: list[str] = []
    conn = store.conn
    versions = 0
    for node_id, version, hash_, op in conn.execute("SELECT node_id, version, hash, op FROM versions"):
        versions += 1
        if hash_ and op != "delete":
            ok = store.objects.verify(hash_) if deep else store.objects.exists(hash_)
            if not ok:
                problems.append(f"node {node_id} version {version}: object {hash_[:12]} missing or damaged")
    for _node_id, path, head, latest in conn.execute(
        "SELECT n.id, n.path, n.version, (SELECT max(version) FROM versions v WHERE v.node_id = n.id) FROM nodes n"
    ):
        if head != latest:
            problems.append(f"{path}: head version {head} but latest version row {latest}")
    missing_events = conn.execute(
        "SELECT count(*) FROM versions v WHERE v.node_id != 1 AND NOT EXISTS "
        "(SELECT 1 FROM outbox o WHERE o.node_id = v.node_id AND o.version = v.version)"
    ).fetchone()[0]
    if missing_events:
        problems.append(f"{missing_events} versions have no outbox event")
    intact, bad = store.verify_audit_chain()
    if not intact:
        problems.append(f"audit hash chain broken at row {bad}")
    pending_ids = [row[0] for row in conn.execute("SELECT node_id FROM pending")]
    pending = len(pending_ids)
    unapplied = 0 if repair else sum(not _applied(store, node_id) for node_id in pending_ids)
    if unapplied:
        problems.append(f"{unapplied} commits not yet applied to the plain tree (run `agentfs verify --repair`)")
    audit_rows = conn.execute("SELECT count(*) FROM audit").fetchone()[0]
    return {
        "ok": not problems,
        "problems": problems,
        "nodes": sum(store.count_nodes().values()),
        "versions": versions,
        "audit_rows": audit_rows,
        "pending": pending,
    }
