"""The FUSE operations: a thin adapter from kernel requests to :class:`~agentfs.ContextFS` calls.

Each callback translates a path and flags, calls the core as the mount's principal, and turns the
result into a stat, bytes or ``-errno`` (via :func:`agentfs.fuse.errors.to_errno`, the one place
errors are mapped). Access control, append-only history, read-only views, validation, versions
and audit all happen in the core; nothing here decides them.

What the adapter adds is bookkeeping the kernel needs:

- **Attribute cache.** A stat per path (mode bits for this principal included), filled by
  ``getattr`` and by ``readdir`` (so ``ls -l`` costs one core call per folder, not per entry),
  dropped on every change event; the kernel caches on top (long timeouts, explicit invalidation).
- **Open files** (:mod:`agentfs.fuse.handles`): writes are staged and committed on flush/fsync,
  one version per closed file. A created file exists only in its handle until that first commit.
- **Unlinked open files.** libfuse hides a file that is unlinked (or renamed over) while open by
  renaming it to ``.fuse_hidden*``; here that rename deletes the file in the store and orphans
  its handles, which keep reading what they had; their writes go nowhere, as on a local disk.
- **Kernel invalidation** for changes the kernel did not see (other processes, outside edits,
  metadata rewrites): see :mod:`agentfs.fuse.kernel_cache`.
"""

from __future__ import annotations

import contextlib
import errno
import io
import itertools
import json
import logging
import os
import stat
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from agentfs import paths
from agentfs.errors import (
    AgentFSError,
    ConflictError,
    DirectoryNotEmptyError,
    IsADirectoryError_,
    NotADirectoryError_,
    NotFoundError,
    PermissionDeniedError,
)
from agentfs.fs import ContextFS
from agentfs.fuse import binding
from agentfs.fuse.attrs import (
    ALL_PERMISSIONS,
    META_PREFIX,
    PREFIX,
    Attr,
    attr_of,
    decode,
    file_type,
    permission_bits,
    xattr_names,
    xattr_value,
)
from agentfs.fuse.errors import log_refusal, to_errno
from agentfs.fuse.handles import OpenFile
from agentfs.fuse.kernel_cache import Invalidator, KernelCache
from agentfs.store.records import Event
from agentfs.types import FileInfo

log = logging.getLogger("agentfs.fuse")

HIDDEN_PREFIX = ".fuse_hidden"  # libfuse's name for unlinked files that are still open
MAX_CACHED = 200_000
CONTENT_OPS = frozenset({"write", "append", "meta", "mode"})  # changes that keep the name
XATTR_CREATE, XATTR_REPLACE = 1, 2
APPEND_RETRIES = 50
_placeholder_inodes = itertools.count(1 << 41)  # created files have no catalog id until committed


class Entry:
    """A directory entry for fuse-python (read by attribute name)."""

    __slots__ = ("ino", "name", "offset", "type")

    def __init__(self, name: str, ino: int, kind: int) -> None:
        self.name = name
        self.ino = ino
        self.type = kind
        self.offset = 0


def _key(path: str) -> str:
    """A path as the caches key it: Unicode NFC, as the core names files and change events.

    The kernel passes names as a program spelled them; "e\u0301" (NFD) and "\u00e9" are one file
    in the store, and a cache keyed by the raw name would miss the events that drop it.
    """
    return path if path.isascii() else unicodedata.normalize("NFC", path)


def _foreign_xattr_errno(name: str) -> int:
    """The answer for an extended attribute that is not agentfs' own.

    Other ``user.*`` names simply are not there (ENODATA). The ``security``, ``system`` and
    ``trusted`` namespaces (SELinux labels, POSIX ACLs, capabilities) this file system does not
    support at all: ENOTSUP, which `ls -l` remembers for the whole mount instead of asking two
    questions per entry (the kernel never caches xattrs: each question is a round trip here).
    """
    return errno.ENODATA if name.startswith("user.") else errno.ENOTSUP


def _hidden(path: str) -> bool:
    return path.rsplit("/", 1)[-1].startswith(HIDDEN_PREFIX)


class Operations:
    """The callbacks fuse-python calls (see :func:`agentfs.fuse.binding.serve`)."""

    def __init__(
        self,
        fs: ContextFS,
        *,
        read_only: bool = False,
        uid: int | None = None,
        gid: int | None = None,
        on_init: Callable[[], None] | None = None,
        on_destroy: Callable[[], None] | None = None,
    ) -> None:
        self.fs = fs
        self.read_only = read_only
        self.uid = os.getuid() if uid is None else uid
        self.gid = os.getgid() if gid is None else gid
        self.on_init = on_init
        self.on_destroy = on_destroy
        self.kernel: Invalidator | None = None  # set in fsinit when invalidation is possible
        self._lock = threading.Lock()
        self._stats: dict[str, tuple[Attr, FileInfo, frozenset[str]]] = {}
        # Paths the core said do not exist: a create asks right after the kernel's failed lookup
        # (and `echo > new` would pay for that second miss on every new file). Same lifetime.
        self._missing: set[str] = set()
        # Folder listings: the kernel never caches them (libfuse 2.9), and a folder of 10,000
        # files costs ~0.3 s to list through the core. Dropped with the stats, by change events.
        self._listings: dict[str, list[Entry]] = {}
        self._generation = 0  # bumped by every change; a stat read across a change is not cached
        self._files: dict[str, list[OpenFile]] = {}  # current path -> open handles
        self._admin = fs.is_admin
        self._staging_dir = fs.staging_path().parent
        self._virtual = [m.path for m in fs.mount_table.mounts if fs.provider_for(m.path).capabilities.virtual]
        self._unsubscribe = fs.subscribe(self._on_event)

    # --- lifecycle ------------------------------------------------------------------------------

    def fsinit(self) -> None:
        binding.pin_thread_state()
        binding.remember_session()
        cache = KernelCache.attach(binding.libfuse())
        if cache is None:
            log.warning("kernel cache invalidation unavailable: relying on short cache timeouts")
        else:
            self.kernel = Invalidator(cache)
        if self.on_init is not None:
            self.on_init()

    def fsdestroy(self) -> None:
        binding.pin_thread_state()
        if self.on_destroy is not None:
            self.on_destroy()
        self.stop_invalidating()
        self._unsubscribe()

    def stop_invalidating(self) -> None:
        """Send no more kernel notifications: they read libfuse's node tables, which libfuse frees
        when it leaves its loop (before ``fsdestroy``). Called when the daemon is told to stop."""
        kernel, self.kernel = self.kernel, None
        if kernel is not None:
            kernel.close()

    @property
    def keep_cache(self) -> bool:
        """Keep file pages across opens: safe only when changes from elsewhere are invalidated."""
        return self.kernel is not None

    # --- caches and change events ---------------------------------------------------------------

    def _permissions(self, info: FileInfo) -> frozenset[str]:
        if self._admin:
            return frozenset(ALL_PERMISSIONS)
        return frozenset(self.fs.permissions(info.path))

    def _lookup(self, path: str) -> tuple[Attr, FileInfo, frozenset[str]]:
        key = _key(path)
        cached = self._stats.get(key)
        if cached is not None:
            return cached
        if key in self._missing:
            raise NotFoundError(f"{path} does not exist", path=path)
        generation = self._generation
        try:
            info = self.fs.stat(path, permissions=False)
        except NotFoundError:
            self._remember_missing(key, generation)
            raise
        permissions = self._permissions(info)
        if info.virtual and "exec" in permissions and self._tool_of_call(path):
            permissions |= {"write"}  # writing a tool's call file runs the tool: exec is what it takes
        entry = (self._attr(info, permissions), info, permissions)
        self._remember(key, entry, generation)
        return entry

    def _tool_of_call(self, path: str) -> str | None:
        """The tool a ``call`` file runs when written, or None for any other path."""
        if not path.endswith("/call"):
            return None
        normalized = paths.normalize(path)
        is_call = getattr(self.fs.provider_for(normalized), "is_call", None)
        return paths.parent(normalized) if is_call is not None and is_call(normalized) else None

    def _attr(self, info: FileInfo, permissions: frozenset[str]) -> Attr:
        return attr_of(info, permissions, uid=self.uid, gid=self.gid, read_only=self.read_only)

    def _remember(self, path: str, entry: tuple[Attr, FileInfo, frozenset[str]], generation: int) -> None:
        if entry[1].virtual:  # search results (and tool results) change with commits anywhere
            return
        with self._lock:
            if generation != self._generation:
                return
            if len(self._stats) >= MAX_CACHED:
                self._stats.clear()
            self._stats[path] = entry

    def _remember_missing(self, path: str, generation: int) -> None:
        if any(paths.is_within(path, v) for v in self._virtual):
            return  # search results come and go with every commit
        with self._lock:
            if generation != self._generation:
                return
            if len(self._missing) >= MAX_CACHED:
                self._missing.clear()
            self._missing.add(path)

    def _forget(self, targets: Iterable[str]) -> None:
        with self._lock:
            self._generation += 1
            for path in map(_key, targets):
                self._stats.pop(path, None)
                self._missing.discard(path)
                self._listings.pop(path, None)
                self._listings.pop(paths.parent(path), None)

    def _on_event(self, event: Event) -> None:
        """In-process commits: drop stale stats; tell the kernel unless a mount request made it."""
        targets = [event.path] + ([event.old_path] if event.old_path else [])
        self._forget(targets)
        # The kernel saw its own requests' changes, under the name the program used; a non-ASCII
        # name may be cached under another spelling too (NFC and NFD are one file here).
        if not binding.is_worker_thread() or not all(target.isascii() for target in targets):
            self._invalidate_kernel([event])
        elif self._virtual and self.kernel is not None:
            self.kernel.paths((v, True) for v in self._virtual)

    def invalidate_events(self, events: list[Event]) -> None:
        """Commits made by other processes (from the watcher): drop every cache that holds them."""
        self._forget([p for e in events for p in (e.path, e.old_path) if p])
        self._invalidate_kernel(events)

    def invalidate_all(self) -> None:
        """Rules or memberships changed: every mode bit and every visibility may differ."""
        with self._lock:
            self._generation += 1
            self._stats.clear()
            self._missing.clear()
            self._listings.clear()
        self._admin = self.fs.is_admin
        if self.kernel is not None:
            self.kernel.everything()
            self.kernel.paths((v, True) for v in self._virtual)
            # Called on the watcher's thread, never inside a request: wait until the kernel has
            # dropped the old mode bits, so a denial seen at open is also seen by the next stat.
            self.kernel.flush()

    def _invalidate_kernel(self, events: Iterable[Event]) -> None:
        if self.kernel is None:
            return
        items: list[tuple[str, bool]] = []
        for event in events:
            items.append((event.path, event.op not in CONTENT_OPS))
            if event.old_path:
                items.append((event.old_path, True))
        items.extend((v, True) for v in self._virtual)  # search results may rank differently now
        self.kernel.paths(items)

    # --- open-file bookkeeping ------------------------------------------------------------------

    def _open_writers(self, path: str) -> list[OpenFile]:
        with self._lock:
            return [h for h in self._files.get(_key(path), ()) if h.writable]

    def _pending(self, path: str) -> OpenFile | None:
        """An open handle that created ``path``, not committed yet (so not in the store)."""
        for handle in reversed(self._open_writers(path)):
            if handle.created and not handle.orphaned:
                return handle
        return None

    def _uncommitted(self, path: str) -> OpenFile | None:
        """An open handle holding changes to ``path`` not committed yet (created, written or
        truncated): what a local disk would already show to every reader."""
        for handle in reversed(self._open_writers(path)):
            if (handle.created or handle.dirty) and not handle.orphaned:
                return handle
        return None

    def _register(self, path: str, handle: OpenFile) -> OpenFile:
        with self._lock:
            self._files.setdefault(_key(path), []).append(handle)
        return handle

    def _unregister(self, path: str, handle: OpenFile) -> None:
        path = _key(path)
        with self._lock:
            handles = self._files.get(path)
            if handles is None or handle not in handles:  # renamed meanwhile: look everywhere
                handles = next((hs for hs in self._files.values() if handle in hs), None)
                path = next((p for p, hs in self._files.items() if hs is handles), path)
            if handles is not None:
                handles.remove(handle)
                if not handles:
                    del self._files[path]

    def _rekey(self, old: str, new: str) -> None:
        """Open writers follow a rename (of the file or of a folder above it)."""
        old, new = _key(old), _key(new)
        with self._lock:
            for path in [p for p in self._files if paths.is_within(p, old)]:
                moved = self._files.pop(path)
                self._files.setdefault(paths.rebase(path, old, new), []).extend(moved)

    def _preload(self, path: str) -> None:
        """Let every open handle of ``path`` open its content now, before the store forgets it."""
        with self._lock:
            handles = list(self._files.get(_key(path), ()))
        for handle in handles:
            with handle.lock:
                handle.load(path)

    def _orphan(self, path: str, hidden: str) -> None:
        """Open handles of a file gone for everyone else keep what they hold; writes go nowhere."""
        with self._lock:
            handles = self._files.pop(_key(path), [])
            if handles:
                self._files.setdefault(_key(hidden), []).extend(handles)
        for handle in handles:
            with handle.lock:
                handle.orphaned = True

    def _discard_pending(self, path: str, hidden: str) -> None:
        """Unlink of a file not committed yet: it never comes to exist (unless its commit won)."""
        self._orphan(path, hidden)
        with contextlib.suppress(NotFoundError):
            self.fs.rm(path)

    # --- attributes -----------------------------------------------------------------------------

    def getattr(self, path: str) -> Attr | int:
        binding.pin_thread_state()
        try:
            if _hidden(path):
                return -errno.ENOENT
            for handle in reversed(self._open_writers(path)):
                if handle.created or handle.dirty:
                    with handle.lock:
                        return handle.current_attr()
            return self._lookup(path)[0]
        except Exception as exc:
            return -to_errno(exc, lookup=True)

    def fgetattr(self, path: str, handle: OpenFile) -> Attr | int:
        binding.pin_thread_state()
        # An unlinked file lives on in its handle; a file being written shows what is staged.
        # Otherwise the store's current attributes: a reader's older snapshot must never
        # overwrite fresher attributes in the kernel's cache.
        if handle.orphaned or (handle.writable and (handle.created or handle.dirty)):
            with handle.lock:
                return handle.current_attr()
        return self.getattr(path)

    def access(self, path: str, mode: int) -> int:
        binding.pin_thread_state()
        try:
            pending = self._pending(path)
            if pending is not None:
                return 0
            attr, info, permissions = self._lookup(path)
        except Exception as exc:
            return -to_errno(exc, lookup=True)
        if mode & os.W_OK:
            if self.read_only or info.read_only:
                return -errno.EROFS
            if not ({"write", "append"} & permissions):
                return -errno.EACCES
        if mode & os.R_OK and info.kind == "file" and "read" not in permissions:
            return -errno.EACCES
        if mode & os.X_OK and not attr.st_mode & 0o100:
            return -errno.EACCES
        return 0

    def readdir(self, path: str, offset: int) -> list[Entry] | int:
        binding.pin_thread_state()
        key = _key(path)
        listing = self._listings.get(key)
        if listing is None:
            try:
                listing = self._list(path)
            except Exception as exc:
                return -to_errno(exc, lookup=True)
        if not self._files:
            return listing
        with self._lock:  # files being created here are listed though not committed yet
            pending = [(p, h) for p, hs in self._files.items() for h in hs
                       if h.created and not h.orphaned and paths.parent(p) == key]
        if not pending:
            return listing
        names = {entry.name for entry in listing}
        extra = [Entry(paths.name(p), h.attr.st_ino, stat.S_IFREG) for p, h in pending if paths.name(p) not in names]
        return listing + extra

    def _list(self, path: str) -> list[Entry]:
        generation = self._generation
        attr, _, _ = self._lookup(path)
        entries = self.fs.ls(path)
        listing = [Entry(".", attr.st_ino, stat.S_IFDIR), Entry("..", 1, stat.S_IFDIR)]
        for info in entries:
            listing.append(Entry(info.name, info.ino, file_type(info)))
            if self._admin:  # one core call per folder then serves every `ls -l` lookup
                permissions = frozenset(ALL_PERMISSIONS)
                self._remember(info.path, (self._attr(info, permissions), info, permissions), generation)
        with self._lock:
            # Search results re-rank with every commit: their folders are listed afresh each time.
            if generation == self._generation and not any(paths.is_within(path, v) for v in self._virtual):
                self._listings[_key(path)] = listing
        return listing

    def readlink(self, path: str) -> str | int:
        binding.pin_thread_state()
        try:
            return self.fs.readlink(path)
        except Exception as exc:
            return -to_errno(exc, lookup=True)

    def statfs(self) -> Any:
        binding.pin_thread_state()
        return os.statvfs(self.fs.root)

    # --- opening, reading, writing --------------------------------------------------------------

    def open(self, path: str, flags: int) -> tuple[OpenFile, bool] | int:
        binding.pin_thread_state()
        writable = (flags & os.O_ACCMODE) != os.O_RDONLY or bool(flags & os.O_TRUNC)
        try:
            pending = self._uncommitted(path)
            if pending is not None:
                if writable or pending.append:  # start from the other handle's content, committed
                    self._commit(path, pending)
                else:  # a reader of a file being written reads what is staged so far
                    snapshot = self._snapshot_of(path, pending)
                    if snapshot is not None:
                        return self._register(path, snapshot), True
            attr, info, permissions = self._lookup(path)
            if info.kind == "dir":
                return -errno.EISDIR
            if not writable:
                if "read" not in permissions:
                    self.fs.require("read", path)  # raises, and audits the denial
                handle = OpenFile(path, attr, loader=self._load, version=None if info.virtual else info.version,
                                  staging_dir=self._staging_dir, keep_cache=self.keep_cache and not info.virtual)
                return self._register(path, handle), True
            return self._open_for_writing(path, flags, attr, info), True
        except Exception as exc:
            return -to_errno(exc, lookup=True)

    def _snapshot_of(self, path: str, pending: OpenFile) -> OpenFile | None:
        """A read-only handle on what ``pending`` has staged, or None when it was committed (or
        dropped) meanwhile: then the store has the truth. Its release runs on another thread and
        closes the staging file, so the snapshot opens its own descriptor under the writer's lock."""
        if not self._admin:
            self.fs.require("read", path)
        with pending.lock:
            if pending.closed or pending.orphaned or not (pending.created or pending.dirty):
                return None
            staged, attr = pending.staged_path(path), pending.current_attr()
            snapshot = OpenFile(path, attr, loader=lambda _path, _version: open(staged, "rb"),  # noqa: SIM115
                                staging_dir=self._staging_dir, keep_cache=False)
            snapshot.load(path)
        return snapshot

    def _open_for_writing(self, path: str, flags: int, attr: Attr, info: FileInfo) -> OpenFile:
        if self.read_only:
            raise OSError(errno.EROFS, "read-only mount")
        tool = self._tool_of_call(path) if info.virtual else None
        if tool is not None:
            return self._open_call(path, attr, tool)
        append = bool(flags & os.O_APPEND) and not flags & os.O_TRUNC
        self._check_change(path, "append" if append else "write", exists=True)
        if flags & os.O_ACCMODE == os.O_RDWR:
            self.fs.require("read", path)
        handle = OpenFile(path, attr, loader=self._load, version=info.version, staging_dir=self._staging_dir,
                          writable=True, append=append, keep_cache=self.keep_cache)
        if flags & os.O_TRUNC:
            handle.truncate_on_open()
        self._register(path, handle)
        return handle

    def _open_call(self, path: str, attr: Attr, tool: str) -> OpenFile:
        """A write handle on a tool's ``call`` file: the bytes written are the call's JSON
        arguments; each flush with new bytes runs the tool (exec permission, audited by the core)
        and the result becomes what this principal reads from the file. Nothing is committed."""
        self.fs.require("exec", tool)
        handle = OpenFile(path, attr.resized(0, time.time()), loader=lambda _path, _version: io.BytesIO(b""),
                          staging_dir=self._staging_dir, writable=True, keep_cache=False)
        handle.call = tool
        return self._register(path, handle)

    def _run_call(self, path: str, handle: OpenFile, *, written_only: bool) -> None:
        with handle.lock:
            if not handle.dirty or (written_only and not handle.written):
                return
            arguments = handle.take_staged()
        try:
            self.fs.service("tools").write_call(self.fs, path, arguments)
        finally:  # the result (or the error) is the file's new content: its size changed
            self._forget([path])
            if self.kernel is not None:
                self.kernel.cache.invalidate_attributes(path)

    def _load(self, path: str, version: int | None) -> Any:
        return self.fs.open_read(path, version=version)

    def _check_change(self, path: str, op: str, *, exists: bool) -> None:
        """Ask the core now what it would say at commit: ACL (audited), then the provider's rules."""
        self.fs.require("append" if op == "append" else "write", path)
        self.fs.provider_for(path).check_change(op, paths.normalize(path), exists=exists, admin=self._admin,
                                                principal=self.fs.principal)

    def create(self, path: str, flags: int, mode: int) -> tuple[OpenFile, bool] | int:
        binding.pin_thread_state()
        try:
            if self.read_only:
                return -errno.EROFS
            normalized = paths.normalize(path)
            if _hidden(path):
                return -errno.EPERM
            info: FileInfo | None
            try:
                info = self._lookup(path)[1]
            except AgentFSError:
                info = None
            if info is not None or self._pending(path) is not None:
                if flags & os.O_EXCL:
                    return -errno.EEXIST
                return self.open(path, flags)
            # An O_APPEND create is an append to a new file, as in the core: `>>` needs only append.
            self._check_change(path, "append" if flags & os.O_APPEND else "create", exists=False)
            probe = FileInfo(path=normalized, kind="file", size=0, version=0, mode=mode & 0o7777, owner="",
                             author="", created_ns=0, modified_ns=time.time_ns(), ino=next(_placeholder_inodes))
            permissions = frozenset(ALL_PERMISSIONS) if self._admin else frozenset(self.fs.permissions(path))
            handle = OpenFile(path, self._attr(probe, permissions), loader=self._load,
                              staging_dir=self._staging_dir, writable=True, created=True,
                              append=bool(flags & os.O_APPEND), keep_cache=self.keep_cache)
            handle.mode = (mode & 0o7777) or None
            self._register(path, handle)
            return handle, True
        except Exception as exc:
            return -to_errno(exc)

    def mknod(self, path: str, mode: int, device: int) -> int:
        binding.pin_thread_state()
        if not stat.S_ISREG(mode):
            return -errno.EPERM  # no devices, fifos or sockets in a context store
        created = self.create(path, os.O_WRONLY | os.O_EXCL, mode)
        if isinstance(created, int):
            return created
        return self.release(path, 0, created[0])

    def read(self, path: str, size: int, offset: int, handle: OpenFile) -> bytes | int:
        binding.pin_thread_state()
        try:
            with handle.lock:
                return handle.read(path, size, offset)
        except Exception as exc:
            return -to_errno(exc, lookup=True)

    def write(self, path: str, data: bytes, offset: int, handle: OpenFile) -> int:
        binding.pin_thread_state()
        if not handle.writable:
            return -errno.EBADF
        try:
            if handle.call is not None:
                return self._write_call(path, data, handle)
            with handle.lock:
                return handle.write(path, data, offset)
        except Exception as exc:
            return -to_errno(exc)

    def _write_call(self, path: str, data: bytes, handle: OpenFile) -> int:
        """Arguments accumulate; once they are a whole JSON value the tool runs, so the
        ``write(2)`` itself fails with the call's error (shells ignore errors at close)."""
        with handle.lock:
            written = handle.write(path, data, handle.size())  # a stream: each call starts at 0
            staged = handle.staged_bytes()
        try:
            json.loads(staged)
        except ValueError:
            return written  # not whole yet: more writes, or the flush, will run it
        self._run_call(path, handle, written_only=False)
        return written

    def ftruncate(self, path: str, length: int, handle: OpenFile) -> int:
        binding.pin_thread_state()
        if not handle.writable:
            return -errno.EBADF
        try:
            if handle.append and not handle.orphaned:
                self._check_change(path, "write", exists=not handle.created)  # /history: EPERM
            with handle.lock:
                handle.truncate(path, length)
            return 0
        except Exception as exc:
            return -to_errno(exc)

    def truncate(self, path: str, length: int) -> int:
        binding.pin_thread_state()
        try:
            if self.read_only:
                return -errno.EROFS
            writers = [h for h in self._open_writers(path) if not h.orphaned]
            if writers:  # truncate(2) of a file open for writing acts on what is being written
                return self.ftruncate(path, length, writers[-1])
            attr, info, _ = self._lookup(path)
            if info.kind == "dir":
                return -errno.EISDIR
            tool = self._tool_of_call(path) if info.virtual else None
            if tool is not None:  # `: > call` empties the arguments: nothing to store
                self.fs.require("exec", tool)
                return 0
            self._check_change(path, "write", exists=True)
            temporary = OpenFile(path, attr, loader=self._load, version=info.version,
                                 staging_dir=self._staging_dir, writable=True)
            try:
                temporary.truncate(path, length)
                self.fs.write(path, temporary.staged_path(path))
            finally:
                temporary.close()
            return 0
        except Exception as exc:
            return -to_errno(exc)

    def _commit(self, path: str, handle: OpenFile, *, written_only: bool = False) -> None:
        """Commit a handle's staged content as one version (no-op when nothing changed).

        With ``written_only`` (a flush), a handle that only created or truncated the file waits
        for its release: `echo x > f` flushes once before writing, and must make one version.

        Raises:
            AgentFSError: the core refused it (validation, access, append-only...); the kernel's
                copy of the refused bytes, or of a created name that never came to exist, is
                dropped so the mount shows the store's truth.
        """
        if handle.call is not None:
            self._run_call(path, handle, written_only=written_only)
            return
        with handle.lock:
            if handle.orphaned or not handle.dirty or _hidden(path) or (written_only and not handle.written):
                return
            created = handle.created
            try:
                if handle.append:
                    info = self._append(path, handle.appended())
                else:
                    info = self.fs.write(path, handle.staged_path(path), mode=handle.mode if created else None)
            except AgentFSError as exc:
                # One attempt per change: a refusal is reported once, at close. ``dirty`` stays set
                # until here, so a reader opening meanwhile waits for this handle, never reads the
                # version being replaced.
                handle.dirty = handle.written = False
                self._refused("write", path, exc)
                if self.kernel is not None:
                    self.kernel.paths([(path, created)])
                raise
            handle.committed(self._attr(info, self._permissions(info)))
        if created and self.kernel is not None:
            # The kernel knows the file by a placeholder inode number until it asks again. Sent
            # right here, not queued: the next `stat` must see the catalog id. An attributes-only
            # notification takes no inode lock, so it cannot deadlock against this request.
            self.kernel.cache.invalidate_attributes(path)

    def _append(self, path: str, data: bytes) -> FileInfo:
        """``O_APPEND`` is atomic: when another process appended first, the core refuses this
        append as stale (nothing was written) and it is simply made again on the new end."""
        for _ in range(APPEND_RETRIES - 1):
            try:
                return self.fs.append(path, data)
            except ConflictError:
                time.sleep(0.005)
        return self.fs.append(path, data)

    def _refused(self, action: str, path: str, exc: AgentFSError) -> None:
        """Audit a refused commit (the log line comes from :func:`to_errno`, or from release)."""
        if not isinstance(exc, PermissionDeniedError):  # the core already audited ACL denials
            try:
                self.fs.audit_refusal(action, path, exc.message, {"errno": exc.errno, "error": exc.code})
            except AgentFSError:
                log.exception("could not audit the refusal of %s", path)

    def flush(self, path: str, handle: OpenFile) -> int:
        binding.pin_thread_state()
        if not handle.writable:
            return 0
        try:
            self._commit(path, handle, written_only=True)
            return 0
        except Exception as exc:
            return -to_errno(exc)

    def fsync(self, path: str, datasync: int, handle: OpenFile) -> int:
        binding.pin_thread_state()
        if not handle.writable:
            return 0
        try:
            self._commit(path, handle)
            return 0
        except Exception as exc:
            return -to_errno(exc)

    def release(self, path: str, flags: int, handle: OpenFile) -> int:
        binding.pin_thread_state()
        if not handle.writable:
            self._unregister(path, handle)
            with handle.lock:
                stale = handle.keep_cache and handle.loaded and self._outdated(path, handle)
                handle.close()
            if stale and self.kernel is not None:
                # A read that was in flight when a newer version's invalidation went out put the
                # old bytes back into the page cache, which keep_cache would serve from now on.
                # Every read of this handle has been answered by now: drop its pages again.
                self.kernel.paths([(path, False)])
            return 0
        try:
            self._commit(path, handle)
        except AgentFSError as exc:
            log_refusal(exc)  # release has no caller to return it to (flush reported it, if it ran)
        except Exception:
            log.exception("commit of %s at release failed", path)
        finally:
            never_existed = handle.created and not handle.orphaned
            self._unregister(path, handle)
            with handle.lock:
                handle.close()
            if never_existed and self.kernel is not None:
                self.kernel.paths([(path, True)])
        return 0

    def _outdated(self, path: str, handle: OpenFile) -> bool:
        """Whether a reading handle's version is no longer the head of ``path``."""
        try:
            return self._lookup(path)[1].version != handle.version
        except Exception:
            return True  # gone or renamed away: dropping its pages costs nothing

    # --- names ----------------------------------------------------------------------------------

    def mkdir(self, path: str, mode: int) -> int:
        binding.pin_thread_state()
        if self.read_only:
            return -errno.EROFS
        try:
            self.fs.mkdir(path, parents=False)
            return 0
        except Exception as exc:
            return -to_errno(exc)

    def unlink(self, path: str) -> int:
        binding.pin_thread_state()
        if _hidden(path):
            return 0  # the last handle of an unlinked file closed; the store forgot it already
        if self.read_only:
            return -errno.EROFS
        try:
            if self._pending(path) is not None:
                self._discard_pending(path, path)
                return 0
            if self._lookup(path)[1].kind == "dir":
                return -errno.EISDIR
            self.fs.rm(path)
            return 0
        except Exception as exc:
            return -to_errno(exc)

    def rmdir(self, path: str) -> int:
        binding.pin_thread_state()
        if self.read_only:
            return -errno.EROFS
        try:
            if self._lookup(path)[1].kind != "dir":
                raise NotADirectoryError_(f"{path} is not a directory", path=path)
            with self._lock:
                if any(paths.is_within(p, _key(path)) and p != _key(path) for p in self._files):
                    raise DirectoryNotEmptyError(f"{path} has files being written", path=path)
            self.fs.rm(path)
            return 0
        except Exception as exc:
            return -to_errno(exc)

    def rename(self, old: str, new: str) -> int:
        binding.pin_thread_state()
        if self.read_only:
            return -errno.EROFS
        try:
            if _hidden(new):
                return self._hide(old, new)
            pending = self._pending(old)
            if pending is not None:  # a file not committed yet lands first, then moves
                self._commit(old, pending)
            self.fs.mv(old, new, overwrite=True)
            self._rekey(old, new)
            return 0
        except Exception as exc:
            return -to_errno(exc)

    def _hide(self, path: str, hidden: str) -> int:
        """libfuse's rename of a file still open to ``.fuse_hidden*``: it is unlinked for everyone
        else, while its open handles keep working on what they hold."""
        if self._pending(path) is not None:
            self._discard_pending(path, hidden)
            return 0
        info = self._lookup(path)[1]
        if info.kind == "dir":
            raise IsADirectoryError_(f"{path} is a directory", path=path)
        self._preload(path)
        self.fs.rm(path)
        self._orphan(path, hidden)
        return 0

    def symlink(self, target: str, path: str) -> int:
        binding.pin_thread_state()
        if self.read_only:
            return -errno.EROFS
        try:
            self.fs.symlink(path, target)
            return 0
        except Exception as exc:
            return -to_errno(exc)

    def link(self, target: str, path: str) -> int:
        return -errno.EPERM  # no hard links: a path has one history

    def chmod(self, path: str, mode: int) -> int:
        binding.pin_thread_state()
        if self.read_only:
            return -errno.EROFS
        try:
            pending = self._pending(path)
            if pending is not None:
                pending.mode = mode & 0o7777
                return 0
            self.fs.chmod(path, mode)
            return 0
        except Exception as exc:
            return -to_errno(exc)

    def chown(self, path: str, uid: int, gid: int) -> int:
        # Accepted and ignored: agentfs governs by principal, so ownership is always the mounting
        # user's. Refusing would make `tar`, `rsync -a` and `cp -a` run as root fail.
        return 0

    def utimens(self, path: str, atime_s: int, atime_ns: int, mtime_s: int, mtime_ns: int) -> int:
        # Accepted: a file's mtime is the time of its last committed version (UTIME_OMIT, or any
        # other value, leaves it so); `touch` of an existing file succeeds without a new version.
        return 0

    # --- extended attributes --------------------------------------------------------------------

    def _info_with_permissions(self, path: str) -> FileInfo:
        _, info, permissions = self._lookup(path)
        return info.with_permissions(tuple(p for p in ALL_PERMISSIONS if p in permissions))

    def getxattr(self, path: str, name: str, size: int) -> str | int:
        binding.pin_thread_state()
        if not name.startswith(PREFIX):
            return -_foreign_xattr_errno(name)
        try:
            info = self._info_with_permissions(path)
            if name.startswith(META_PREFIX) and "read" not in info.permissions:
                self.fs.get_meta(path)  # raises, and audits the denial
            value = xattr_value(info, name)
        except Exception as exc:
            return -to_errno(exc, lookup=True)
        if value is None:
            return -errno.ENODATA
        # fuse-python takes str here and copies its UTF-8 bytes; sizes are in bytes.
        length = len(value.encode("utf-8"))
        if size == 0:
            return length
        if length > size:
            return -errno.ERANGE
        return value

    def listxattr(self, path: str, size: int) -> list[str] | int:
        binding.pin_thread_state()
        try:
            info = self._info_with_permissions(path)
        except Exception as exc:
            return -to_errno(exc, lookup=True)
        names = xattr_names(info if "read" in info.permissions else replace(info, meta={}))
        if size == 0:
            return sum(len(n.encode("utf-8")) + 1 for n in names)
        return names

    def setxattr(self, path: str, name: str, value: bytes | str, flags: int) -> int:
        binding.pin_thread_state()
        if self.read_only:
            return -errno.EROFS
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        try:
            info = self._lookup(path)[1]
            if name.startswith(META_PREFIX):
                key = name[len(META_PREFIX):]
                if flags & XATTR_CREATE and key in info.meta:
                    return -errno.EEXIST
                if flags & XATTR_REPLACE and key not in info.meta:
                    return -errno.ENODATA
                try:
                    self.fs.set_meta(path, {key: decode(raw, path=info.path, key=key)})
                except AgentFSError as exc:
                    self._refused("meta", path, exc)
                    raise
                self._content_rewritten(path)
                return 0
            if name.startswith(PREFIX):
                if xattr_value(self._info_with_permissions(path), name) == raw.decode("utf-8", "replace"):
                    return 0  # setting a system field to what it is (cp -a, rsync -X) is harmless
                log.info("refused setting %s on %s: system fields are read-only", name, path)
                return -errno.EPERM
            return -errno.ENOTSUP  # only agentfs' own attributes live here
        except Exception as exc:
            return -to_errno(exc)

    def removexattr(self, path: str, name: str) -> int:
        binding.pin_thread_state()
        if self.read_only:
            return -errno.EROFS
        try:
            info = self._lookup(path)[1]
            if name.startswith(META_PREFIX):
                key = name[len(META_PREFIX):]
                if key not in info.meta:
                    return -errno.ENODATA
                try:
                    self.fs.set_meta(path, {}, remove=[key])
                except AgentFSError as exc:
                    self._refused("meta", path, exc)
                    raise
                self._content_rewritten(path)
                return 0
            return -errno.EPERM if name.startswith(PREFIX) else -_foreign_xattr_errno(name)
        except Exception as exc:
            return -to_errno(exc)

    def _content_rewritten(self, path: str) -> None:
        """Metadata of a Markdown file lives in its front matter: the kernel's pages are stale."""
        if self.kernel is not None and path.endswith(".md"):
            self.kernel.paths([(path, False)])


__all__ = ["HIDDEN_PREFIX", "Entry", "Operations", "permission_bits"]
