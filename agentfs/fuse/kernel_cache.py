"""Drop the kernel's cached entries, attributes and pages of paths that changed behind its back.

The kernel caches what the mount told it (attributes, names, file pages) for the mount's timeouts.
Changes made through the mount keep those caches right by themselves. Changes made elsewhere
(another process writing through the Python API, an edit to the plain files, a metadata rewrite
of a Markdown file) need the kernel to be told: FUSE's notifications ``inval_inode`` and
``inval_entry`` do that, but they name the kernel's node ids, which libfuse 2.9's high-level
API, all fuse-python offers, keeps to itself (its ``fuse_invalidate`` is a stub).

This module finds those node ids the way libfuse 3's ``fuse_invalidate_path`` does: it walks
libfuse's own name table, under libfuse's own lock. That reads libfuse 2.9's private structures,
so :meth:`KernelCache.attach` first checks them against facts that must hold (the root node, the
table geometry) and declines, returning None, if anything looks unexpected. The mount then falls
back to short cache timeouts instead of invalidation.

All notifications are sent from one background thread (:class:`Invalidator`), never from inside a
FUSE request: libfuse warns that notifying from a request's own call path can deadlock. They are
written to a duplicate of the FUSE device descriptor, not through libfuse's ``notify`` calls:
libfuse frees its channel when it unmounts, before the file system's ``destroy`` can stop this
thread, and a notification sent through the freed channel crashed the daemon at shutdown. A
write to the duplicate after the unmount just fails (``ENODEV``).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import queue
import struct
import threading
import unicodedata
from collections.abc import Iterable

from agentfs.fuse import binding

log = logging.getLogger("agentfs.fuse")

_U64 = ctypes.c_uint64
_ROOT_ID = 1
_MASK64 = (1 << 64) - 1

# libfuse 2.9 lib/fuse.c (x86_64 / aarch64 LP64):
#   struct node_table { struct node **array; size_t use; size_t size; size_t split; };
#   struct fuse { struct fuse_session *se; struct node_table name_table; struct node_table id_table;
#                 struct list_head lru_table; fuse_ino_t ctr; unsigned generation; unsigned hidectr;
#                 pthread_mutex_t lock; ... };
#   struct node { struct node *name_next; struct node *id_next; fuse_ino_t nodeid;
#                 unsigned generation; int refctr; struct node *parent; char *name; uint64_t nlookup;
#                 int open_count; struct timespec stat_updated, mtime; off_t size; struct lock *locks;
#                 unsigned is_hidden:1, cache_valid:1; int treelock; char inline_name[32]; };
_NAME_TABLE = 8
_ID_TABLE = 40
_LOCK = 104
_TABLE_ARRAY, _TABLE_USE, _TABLE_SIZE, _TABLE_SPLIT = 0, 8, 16, 24
_NODE_NAME_NEXT, _NODE_ID_NEXT, _NODE_ID, _NODE_PARENT, _NODE_NAME = 0, 8, 16, 32, 40
_NODE_INLINE_NAME = 120
_NODE_TABLE_MIN_SIZE = 8192

# The kernel's FUSE protocol (linux/fuse.h): a notification is a reply header whose `error` field
# holds the notification code and whose `unique` is 0, then the notification's own struct.
_OUT_HEADER = struct.Struct("=IiQ")  # struct fuse_out_header { u32 len; i32 error; u64 unique; }
_INVAL_INODE = struct.Struct("=Qqq")  # struct fuse_notify_inval_inode_out { u64 ino; i64 off, len; }
_INVAL_ENTRY = struct.Struct("=QII")  # struct fuse_notify_inval_entry_out { u64 parent; u32 namelen, flags; }
_NOTIFY_INVAL_INODE, _NOTIFY_INVAL_ENTRY = 2, 3
# Not worth a log line: the kernel holds nothing under that node (ENOENT), or the mount is gone.
_QUIET = {errno.ENOENT, errno.ENODEV, errno.ENOTCONN, errno.EBADF}


def _spellings(path: str) -> list[str]:
    """The names the kernel may know a store path by: as stored (NFC) and, for a non-ASCII last
    name, decomposed (NFD, what macOS clients and some tools send). The kernel keeps one entry per
    spelling; the store has one file."""
    name = path.rsplit("/", 1)[-1]
    if name.isascii():
        return [path]
    decomposed = unicodedata.normalize("NFD", name)
    return [path] if decomposed == name else [path, path[: len(path) - len(name)] + decomposed]


def _u64(address: int) -> int:
    return _U64.from_address(address).value


class KernelCache:
    """Invalidate kernel caches by namespace path. Build one with :meth:`attach`."""

    def __init__(self, lib: ctypes.CDLL, fuse_ptr: int, device_fd: int) -> None:
        self._lib = lib
        self._fuse = fuse_ptr
        self._fd = device_fd  # our own duplicate of the FUSE device: valid for as long as we hold it
        self._lock = ctypes.c_void_p(fuse_ptr + _LOCK)
        self._libc = ctypes.CDLL(None)
        self._libc.pthread_mutex_lock.argtypes = [ctypes.c_void_p]
        self._libc.pthread_mutex_unlock.argtypes = [ctypes.c_void_p]

    @classmethod
    def attach(cls, lib: ctypes.CDLL | None) -> KernelCache | None:
        """Bind to the running libfuse instance. Call from ``fsinit`` (libfuse's init context).

        Returns None when the library is not a libfuse 2.9 whose structures pass the checks.
        """
        if lib is None:
            return None
        try:
            lib.fuse_session_next_chan.restype = ctypes.c_void_p
            lib.fuse_session_next_chan.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            lib.fuse_chan_fd.restype = ctypes.c_int
            lib.fuse_chan_fd.argtypes = [ctypes.c_void_p]
            fuse_ptr, session = binding.running_session(lib)
        except AttributeError:
            return None
        if not fuse_ptr or not session or session != _u64(fuse_ptr):  # struct fuse starts with its session
            return None
        channel = lib.fuse_session_next_chan(session, None)
        if not channel:
            return None
        fd = lib.fuse_chan_fd(channel)
        if fd < 0:
            return None
        cache = cls(lib, fuse_ptr, os.dup(fd))
        if cache._layout_ok():
            return cache
        cache.close()
        return None

    def close(self) -> None:
        """Let go of the device descriptor (after the last notification)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _notify(self, code: int, body: bytes, *tail: bytes) -> None:
        size = _OUT_HEADER.size + len(body) + sum(len(t) for t in tail)
        try:
            os.writev(self._fd, [_OUT_HEADER.pack(size, code, 0), body, *tail])
        except OSError as exc:
            if exc.errno not in _QUIET:
                raise

    def _inval_inode(self, nodeid: int, offset: int, length: int) -> None:
        self._notify(_NOTIFY_INVAL_INODE, _INVAL_INODE.pack(nodeid, offset, length))

    def _inval_entry(self, parent: int, name: bytes) -> None:
        self._notify(_NOTIFY_INVAL_ENTRY, _INVAL_ENTRY.pack(parent, len(name), 0), name + b"\0")

    # --- libfuse's tables -----------------------------------------------------------------------

    def _table(self, offset: int) -> tuple[int, int, int, int]:
        base = self._fuse + offset
        return (_u64(base + _TABLE_ARRAY), _u64(base + _TABLE_USE), _u64(base + _TABLE_SIZE),
                _u64(base + _TABLE_SPLIT))

    @staticmethod
    def _bucket(value: int, size: int, split: int) -> int:
        value %= size
        old = value % (size // 2)
        return old if old >= split else value

    def _layout_ok(self) -> bool:
        """Check libfuse's structures against facts that hold in every libfuse 2.9 instance."""
        for offset in (_NAME_TABLE, _ID_TABLE):
            array, use, size, split = self._table(offset)
            if not array or size < _NODE_TABLE_MIN_SIZE or size & (size - 1) or split > size // 2 or use > size:
                return False
        root = self._node_by_id(_ROOT_ID)
        if not root or _u64(root + _NODE_PARENT) != 0:
            return False
        name = _u64(root + _NODE_NAME)
        return name == root + _NODE_INLINE_NAME and ctypes.string_at(name) == b"/"

    def _node_by_id(self, nodeid: int) -> int:
        array, _, size, split = self._table(_ID_TABLE)
        bucket = self._bucket((nodeid * 2654435761) & 0xFFFFFFFF, size, split)
        node = _u64(array + 8 * bucket)
        for _ in range(1 << 20):  # a corrupt chain must not hang the mount
            if not node or _u64(node + _NODE_ID) == nodeid:
                return node
            node = _u64(node + _NODE_ID_NEXT)
        return 0

    def _child(self, parent: int, name: bytes) -> int:
        array, _, size, split = self._table(_NAME_TABLE)
        value = parent
        for byte in name:
            value = (value * 31 + byte) & _MASK64
        node = _u64(array + 8 * self._bucket(value, size, split))
        for _ in range(1 << 20):
            if not node:
                return 0
            parent_node = _u64(node + _NODE_PARENT)
            if parent_node and _u64(parent_node + _NODE_ID) == parent and ctypes.string_at(_u64(node + _NODE_NAME)) == name:
                return _u64(node + _NODE_ID)
            node = _u64(node + _NODE_NAME_NEXT)
        return 0

    def _resolve(self, path: str) -> tuple[int, int]:
        """(parent node id, node id) of ``path``; 0 where libfuse does not know the name."""
        parts = [p.encode("utf-8") for p in path.split("/") if p]
        if not parts:
            return 0, _ROOT_ID
        self._libc.pthread_mutex_lock(self._lock)
        try:
            nodeid = _ROOT_ID
            for part in parts[:-1]:
                nodeid = self._child(nodeid, part)
                if not nodeid:
                    return 0, 0
            return nodeid, self._child(nodeid, parts[-1])
        finally:
            self._libc.pthread_mutex_unlock(self._lock)

    def _all_nodes(self) -> list[int]:
        self._libc.pthread_mutex_lock(self._lock)
        try:
            array, _, size, _ = self._table(_ID_TABLE)
            out = []
            for bucket in range(size):
                node = _u64(array + 8 * bucket)
                while node:
                    out.append(_u64(node + _NODE_ID))
                    node = _u64(node + _NODE_ID_NEXT)
            return out
        finally:
            self._libc.pthread_mutex_unlock(self._lock)

    # --- notifications --------------------------------------------------------------------------

    def invalidate(self, path: str, *, entry: bool) -> None:
        """Drop the kernel's attributes and pages of ``path``; with ``entry``, its name too.

        Dropping the name (for creations, deletions and renames) also removes a cached "does not
        exist". A folder that still exists keeps its name, so a shell sitting in it keeps a valid
        working directory.
        """
        for spelling in _spellings(path):
            parent, nodeid = self._resolve(spelling)
            if nodeid:
                self._inval_inode(nodeid, 0, 0)
            if entry and parent:
                self._inval_entry(parent, spelling.rsplit("/", 1)[-1].encode("utf-8"))

    def invalidate_attributes(self, path: str) -> None:
        """Drop only the cached attributes of ``path`` (its pages stay valid)."""
        for spelling in _spellings(path):
            _, nodeid = self._resolve(spelling)
            if nodeid:
                self._inval_inode(nodeid, -1, 0)

    def invalidate_all_attributes(self) -> None:
        """Drop every cached attribute (after an ACL change: mode bits and access changed)."""
        for nodeid in self._all_nodes():
            self._inval_inode(nodeid, -1, 0)


class Invalidator:
    """Sends invalidations from one thread, coalescing bursts (a `rm -r` of 1,000 files)."""

    def __init__(self, cache: KernelCache) -> None:
        self.cache = cache  # for the rare notification that must be sent synchronously
        self._queue: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="agentfs-invalidate", daemon=True)
        self._thread.start()

    def paths(self, items: Iterable[tuple[str, bool]]) -> None:
        """Queue ``(path, entry)`` pairs (see :meth:`KernelCache.invalidate`)."""
        for path, entry in items:
            self._queue.put(("entry" if entry else "inode", path))

    def attributes(self, path: str) -> None:
        self._queue.put(("attributes", path))

    def everything(self) -> None:
        self._queue.put(("all", ""))

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything queued so far has been sent."""
        done = threading.Event()
        self._queue.put(("barrier", done))  # type: ignore[arg-type]
        done.wait(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.cache.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch = [item]
            while True:  # coalesce what is already waiting
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            seen: set[tuple[str, object]] = set()
            for entry in batch:
                if entry is None:
                    return
                kind, target = entry
                if kind == "barrier":
                    target.set()  # type: ignore[attr-defined]
                    continue
                if (kind, target) in seen:
                    continue
                seen.add((kind, target))
                try:
                    if kind == "all":
                        self.cache.invalidate_all_attributes()
                    elif kind == "attributes":
                        self.cache.invalidate_attributes(str(target))
                    else:
                        self.cache.invalidate(str(target), entry=kind == "entry")
                except Exception:  # an invalidation is an optimisation of freshness, never fatal
                    log.exception("kernel cache invalidation of %s failed", target)
