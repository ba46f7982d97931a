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
import logging
import os
import signal
import threading
import time
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
log = logging.getLogger("agentfs.fuse")


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


EXIT_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
_session: list[int] = []  # libfuse's struct fuse_session *, once the loop runs


def running_session(lib: ctypes.CDLL) -> tuple[int, int]:
    """``(struct fuse *, struct fuse_session *)`` of the running loop, or zeros. Call from
    ``fsinit`` (libfuse's init context, where ``fuse_get_context`` names the instance)."""
    lib.fuse_get_context.restype = ctypes.c_void_p
    lib.fuse_get_session.restype = ctypes.c_void_p
    lib.fuse_get_session.argtypes = [ctypes.c_void_p]
    context = lib.fuse_get_context()
    fuse_ptr = ctypes.c_uint64.from_address(context).value if context else 0  # fuse_context starts with it
    return fuse_ptr, (lib.fuse_get_session(fuse_ptr) or 0) if fuse_ptr else 0


def remember_session() -> None:
    """Note the running session for the signal thread (call from ``fsinit``)."""
    lib = libfuse()
    session = running_session(lib)[1] if lib is not None else 0
    if session:
        _session[:] = [session]


def serve(operations: Any, mountpoint: str, options: list[str], *,
          on_signal: Callable[[], None] | None = None) -> None:
    """Mount and run libfuse's multithreaded loop until unmounted or signalled (blocks).

    SIGINT, SIGTERM and SIGHUP end the loop in order: a thread of ours learns of them, calls
    ``on_signal`` (which stops everything that reaches into libfuse from outside a request:
    the kernel cache invalidation), and only then asks libfuse to leave its loop, unmount and
    free its tables. libfuse's own handlers would end the loop at once, freeing what those
    threads still use.

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
    # Python's C-level handler runs on whichever thread gets the signal and writes its number to
    # the wakeup pipe; our thread reads it there (the Python-level handlers, no-ops, would run
    # only when the main thread is back from libfuse). A handler of ours also keeps libfuse from
    # installing its own, which would end the loop at once. SIGUSR2 interrupts libfuse's wait.
    wake_read, wake_write = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(wake_write, False)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (*EXIT_SIGNALS, signal.SIGUSR2)}
    previous_wakeup = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    loop_done = threading.Event()
    stopper = threading.Thread(target=_stop_on_signal, args=(wake_read, on_signal, threading.get_ident(), loop_done),
                               name="agentfs-signals", daemon=True)
    stopper.start()
    try:
        fuse_main(multithreaded=1, fuse_args=args, **callbacks)
    finally:
        loop_done.set()
        _session.clear()
        signal.set_wakeup_fd(previous_wakeup)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_write)  # ends the thread's read


def _stop_on_signal(wake: int, on_signal: Callable[[], None] | None, main_thread: int,
                    loop_done: threading.Event) -> None:
    try:
        while True:
            data = os.read(wake, 1)
            if not data or loop_done.is_set():
                return
            if data[0] in EXIT_SIGNALS:
                received = data[0]
                break
    finally:
        os.close(wake)
    log.info("%s received: unmounting", signal.Signals(received).name)
    if on_signal is not None:
        try:
            on_signal()
        except Exception:
            log.exception("stopping before the unmount failed")
    lib = libfuse()
    deadline = time.monotonic() + 10
    while not _session and not loop_done.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)  # signalled before libfuse's init: the session comes with it
    if lib is None or not _session:
        return
    session = _session[0]
    lib.fuse_session_exit.argtypes = [ctypes.c_void_p]
    lib.fuse_session_exited.argtypes = [ctypes.c_void_p]
    lib.fuse_session_exit(session)
    # libfuse's main thread leaves its loop when a signal interrupts its wait (sem_wait); then it
    # resets the session's exit flag. Interrupt it until it has left.
    while not loop_done.is_set() and lib.fuse_session_exited(session) and time.monotonic() < deadline:
        signal.pthread_kill(main_thread, signal.SIGUSR2)
        loop_done.wait(0.05)
