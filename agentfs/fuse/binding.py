"""fuse-python, kept in one file: its import, its threads, its service loop.

fuse-python 1.0.x (API ``(0, 2)``) wraps libfuse 2.9's high-level, path-based API. Two of its
habits matter for speed and correctness, and both are handled here so the adapter never sees them:

- Every callback enters Python through ``PyGILState_Ensure``/``Release`` on a libfuse worker
  thread Python did not create. ``Release`` then destroys the thread state, and every
  ``threading.local`` with it: the store's per-thread SQLite connection would be opened again
  (and leaked) on every request. :func:`pin_thread_state` keeps one thread state per worker.
- ``fuse.Fuse.main`` routes each call through two Python wrappers (errno translation, open
  flag tuples). :func:`serve` hands the C module our bound methods directly; the adapter returns
  ``-errno`` itself and ``(handle, True)`` from ``open``/``create``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from agentfs.fuse.errors import FuseUnavailableError

# The callbacks the C module accepts, by the names it takes them under.
OPERATIONS = (
    "getattr", "readlink", "readdir", "mknod", "mkdir", "unlink", "rmdir", "symlink", "rename",
    "link", "chmod", "chown", "truncate", "open", "read", "write", "release", "statfs", "fsync",
    "create", "flush", "fgetattr", "ftruncate", "getxattr", "listxattr", "setxattr", "removexattr",
    "access", "utimens", "fsinit", "fsdestroy",
)

_thread = threading.local()


def load() -> ModuleType:
    """Import fuse-python with the API version this adapter is written for."""
    try:
        import fuse
    except ImportError:
        raise FuseUnavailableError(
            "FUSE support needs fuse-python: pip install 'agentfs[fuse]'"
        ) from None
    fuse.fuse_python_api = (0, 2)
    return fuse


def pin_thread_state() -> None:
    """Keep the calling worker thread's Python thread state (and its thread-locals) alive.

    Called at the start of each callback; the extra ``PyGILState_Ensure`` is never released, so
    the state outlives the callback. Cheap after the first call on a thread (one attribute read).
    """
    if not getattr(_thread, "pinned", False):
        ctypes.pythonapi.PyGILState_Ensure()
        _thread.pinned = True


def is_worker_thread() -> bool:
    """True on a libfuse worker thread (inside or after a callback), False on our own threads."""
    return bool(getattr(_thread, "pinned", False))


def libfuse() -> ctypes.CDLL | None:
    """The libfuse that fuse-python loaded (the wheel bundles its own), or None if not found.

    ``RTLD_NOLOAD`` guarantees the very same copy (and so the same globals), never a second one.
    """
    load()
    import fuseparts._fuse  # noqa: F401 - maps the library into the process

    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.rsplit(None, 1)[-1] if line.count(" ") >= 5 else ""
            if "libfuse" in os.path.basename(path) and ".so" in path:
                try:
                    return ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
                except OSError:
                    return None
    return None


def libfuse_version(lib: ctypes.CDLL | None) -> str:
    """The version in the library's file name (``2.9.7``), or ``""``."""
    name = getattr(lib, "_name", "") or ""
    marker = ".so."
    return name.rsplit(marker, 1)[-1] if marker in name else ""


def serve(operations: Any, mountpoint: str, options: list[str]) -> None:
    """Mount and run libfuse's multithreaded loop until unmounted or signalled (blocks).

    libfuse installs its own SIGINT/SIGTERM/SIGHUP handlers: any of them ends the loop, and
    libfuse unmounts before this returns.

    Raises:
        fuse.FuseError: libfuse could not mount (its reason went to standard error).
    """
    load()
    from fuseparts._fuse import main as fuse_main

    callbacks: dict[str, Callable[..., Any]] = {}
    for name in OPERATIONS:
        method = getattr(operations, name, None)
        if method is not None:
            callbacks[name] = method
    args = ["agentfs", mountpoint, "-f"]
    if options:
        args += ["-o", ",".join(options)]
    # libfuse installs its exit handler only on signals left at SIG_DFL. Python's own SIGINT
    # handler would never run while the main thread sits in libfuse's C loop: Ctrl-C would do
    # nothing. Hand the three signals to libfuse for the loop's lifetime.
    exits = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_DFL) for sig in exits}
    try:
        fuse_main(multithreaded=1, fuse_args=args, **callbacks)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
