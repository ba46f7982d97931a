"""The mount process: serve one store at one mount point until unmounted or signalled.

Run by ``agentfs mount`` (``python -m agentfs.fuse.daemon ...`` in its own session, or in the
foreground). Besides libfuse's worker threads it runs the live-sync :class:`~agentfs.watch.Watcher`,
the kernel-cache invalidator and, when the semantic index service offers it, the index's
background sync, in a child process: embedding is CPU-bound Python, and in the daemon it would
hold the GIL that every FUSE request needs (each one would wait up to a switch interval).
Readiness is reported once the mount answers a ``stat``; the mount's record for
``agentfs mounts`` exists exactly while the daemon serves.

SIGTERM, SIGINT and SIGHUP end the loop (libfuse's handlers); libfuse unmounts before
:func:`run` returns, and the store is closed cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agentfs.fs import SERVICE_FACTORIES, ContextFS
from agentfs.fuse import binding, registry
from agentfs.fuse.operations import Operations
from agentfs.timefmt import iso
from agentfs.watch import Watcher

log = logging.getLogger("agentfs.fuse")
ENV_LOG_LEVEL = "AGENTFS_LOG_LEVEL"  # e.g. DEBUG: the watcher's decisions in the daemon's log

# With invalidation the kernel may cache for long; without it, staleness is bounded by this.
CACHE_TIMEOUT_S = 60.0
FALLBACK_TIMEOUT_S = 1.0
READY_TIMEOUT_S = 30.0
# Python hands the GIL over every 5 ms by default: a FUSE request arriving while the watcher
# thread computes would wait that long. Requests are short; hand over sooner.
SWITCH_INTERVAL_S = 0.0005


def mount_options(store: Path, *, read_only: bool, allow_other: bool, timeout: float) -> list[str]:
    """libfuse and kernel options of an agentfs mount."""
    source = str(store).replace("\\", "\\\\").replace(",", "\\,")
    options = [
        f"fsname=agentfs:{source}",
        "subtype=agentfs",
        "use_ino",  # st_ino is the catalog's node id: stable across renames and rewrites
        "atomic_o_trunc",  # O_TRUNC reaches open(), so `>` is one version, not truncate + write
        "big_writes",
        "max_write=131072",
        f"attr_timeout={timeout:g}",
        f"entry_timeout={timeout:g}",
        f"negative_timeout={timeout:g}",
    ]
    if read_only:
        options.append("ro")
    if allow_other:
        options.append("allow_other")
    return options


def cache_timeout() -> float:
    """Long kernel caching needs the invalidation that works with the bundled libfuse 2.9."""
    return CACHE_TIMEOUT_S if binding.libfuse_version(binding.libfuse()).startswith("2.9") else FALLBACK_TIMEOUT_S


def run(
    store: str | Path,
    mountpoint: str | Path,
    *,
    principal: str,
    read_only: bool = False,
    allow_other: bool = False,
    on_ready: Callable[[dict], None] | None = None,
    log_file: str | None = None,
) -> int:
    """Mount and serve until unmounted. Returns 0, or 1 when libfuse could not mount.

    Args:
        on_ready: called with the mount's record once the mount answers.
    """
    store, mountpoint = Path(store).resolve(), Path(mountpoint).resolve()
    binding.load()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: stacks to the log
    faulthandler.enable(all_threads=True)  # a crash (SIGSEGV, SIGABRT) leaves its stacks in the log
    fs = ContextFS.open(store, principal=principal)
    record = {
        "mountpoint": str(mountpoint), "store": str(store), "principal": fs.principal, "pid": os.getpid(),
        "read_only": read_only, "allow_other": allow_other, "started": iso(time.time_ns()), "log": log_file,
    }
    operations: Operations
    watcher = Watcher(fs, on_foreign=lambda events: operations.invalidate_events(events),
                      on_rules=lambda: operations.invalidate_all())
    indexer: list[subprocess.Popen[bytes]] = []

    def started() -> None:
        # Runs inside libfuse's init: every request waits for it, so the slow parts (opening the
        # index, waiting for the mount to answer) happen on a thread of their own.
        watcher.start()

        def announce_then_index() -> None:
            _announce(mountpoint, record, on_ready)
            _warm_up()
            indexer.extend(_start_indexer(store))

        threading.Thread(target=announce_then_index, daemon=True, name="agentfs-ready").start()

    def stopping() -> None:
        registry.remove(mountpoint, pid=os.getpid())
        watcher.stop()
        operations.stop_invalidating()
        _stop_indexer(indexer)

    operations = Operations(fs, read_only=read_only, on_init=started, on_destroy=stopping)
    timeout = cache_timeout()
    log.info("mounting %s at %s as %s (cache timeout %gs)", store, mountpoint, fs.principal, timeout)
    try:
        binding.serve(operations, str(mountpoint),
                      mount_options(store, read_only=read_only, allow_other=allow_other, timeout=timeout),
                      on_signal=stopping)
    except Exception as exc:  # fuse.FuseError: libfuse printed its reason to stderr
        log.error("could not mount %s: %s", mountpoint, exc)
        return 1
    finally:
        registry.remove(mountpoint, pid=os.getpid())
        with contextlib.suppress(Exception):
            watcher.stop()
        _stop_indexer(indexer)
        fs.close()
    log.info("unmounted %s", mountpoint)
    return 0


def _warm_up() -> None:
    """Load the tokenizer now: the first commit would otherwise wait ~0.4 s for it (every write
    counts its tokens), on whatever request a user happens to make first."""
    try:
        from agentfs.tokenizer import count_tokens

        count_tokens("warm up")
    except Exception:
        log.exception("tokenizer warm-up failed")


def _start_indexer(store: Path) -> list[subprocess.Popen[bytes]]:
    """Start the index's background sync beside the mount (if this installation has an index)."""
    if "search" not in SERVICE_FACTORIES:
        return []
    try:
        child = subprocess.Popen([sys.executable, "-m", "agentfs.fuse.daemon", "--store", str(store), "--index-only",
                                  "--parent", str(os.getpid())],
                                 stdin=subprocess.DEVNULL, cwd="/")
    except OSError:
        log.exception("the index's background sync did not start")
        return []
    log.info("index background sync: pid %s", child.pid)
    return [child]


def _stop_indexer(indexer: list[subprocess.Popen[bytes]]) -> None:
    while indexer:
        child = indexer.pop()
        child.terminate()
        try:
            child.wait(timeout=2)
        except subprocess.TimeoutExpired:
            child.kill()  # the index's sync is resumable: a round cut short is redone
            child.wait()


def run_indexer(store: str | Path, parent: int) -> int:
    """Keep the semantic index in sync until SIGTERM or until the mount daemon (parent) is gone.

    The index's libraries keep threads of their own, so this process never waits on an orderly
    interpreter exit: it closes the store (bounded) and leaves with ``os._exit``.
    """
    from agentfs.governance.policy import SYSTEM

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(Exception):  # Linux: the kernel sends SIGTERM when the daemon dies
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before we asked
        os._exit(0)
    fs = ContextFS.open(store, principal=SYSTEM)
    try:
        search = fs.service("search")
        if search is not None and hasattr(search, "start_background"):
            search.start_background(fs)
            while not stop.wait(1.0) and os.getppid() == parent:
                pass
    except Exception:
        log.exception("index background sync failed")
    finally:
        closer = threading.Thread(target=fs.close, daemon=True)
        closer.start()
        closer.join(timeout=10)
    os._exit(0)


def _announce(mountpoint: Path, record: dict, on_ready: Callable[[dict], None] | None) -> None:
    """Wait until the mount answers, then record it and tell whoever started us."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if os.path.ismount(mountpoint) and os.stat(mountpoint).st_ino == 1:
                registry.write(record)
                log.info("ready: %s", mountpoint)
                if on_ready is not None:
                    on_ready(record)
                return
        time.sleep(0.02)
    log.error("the mount at %s did not answer within %ss", mountpoint, READY_TIMEOUT_S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentfs.fuse.daemon", description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--mountpoint")
    parser.add_argument("--principal")
    parser.add_argument("--index-only", action="store_true", help="run the index's background sync only")
    parser.add_argument("--parent", type=int, default=None, help="with --index-only: the mount daemon's pid")
    parser.add_argument("--read-only", action="store_true")
    parser.add_argument("--allow-other", action="store_true")
    parser.add_argument("--ready-fd", type=int, default=None, help="write one line here once ready")
    parser.add_argument("--log", default=None, help="log file (default: standard error)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    level = os.environ.get(ENV_LOG_LEVEL, "").upper()
    if level:  # agentfs' own loggers only: the libraries' debug output would drown them
        logging.getLogger("agentfs").setLevel(level if isinstance(logging.getLevelName(level), int) else "INFO")
    if args.index_only:
        return run_indexer(args.store, args.parent or os.getppid())
    if not args.mountpoint or not args.principal:
        parser.error("--mountpoint and --principal are required")
    ready = None
    if args.ready_fd is not None:
        def ready(record: dict) -> None:
            with contextlib.suppress(OSError):
                os.write(args.ready_fd, f"ready {record['pid']}\n".encode())
                os.close(args.ready_fd)
    return run(args.store, args.mountpoint, principal=args.principal, read_only=args.read_only,
               allow_other=args.allow_other, on_ready=ready, log_file=args.log)


if __name__ == "__main__":
    sys.exit(main())
