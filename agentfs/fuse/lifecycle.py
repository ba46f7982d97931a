"""Mount, unmount and list agentfs mounts (what ``agentfs mount|unmount|mounts`` call).

``mount`` checks everything it can first (store, mount point, /dev/fuse, fuse-python), so a
mistake is one clear line instead of a libfuse message; then it starts the daemon
(:mod:`agentfs.fuse.daemon`) in a session of its own and returns once the mount answers. The
daemon reports readiness on a pipe; if it dies first, its log says why.

``unmount`` asks the daemon to stop (SIGTERM: libfuse unmounts, the store closes cleanly) and
falls back to ``fusermount -u``, then a lazy ``fusermount -uz``, so a crashed daemon never leaves
a mount point that cannot be cleared.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agentfs.errors import StoreNotFoundError
from agentfs.fs import is_store
from agentfs.fuse import registry
from agentfs.fuse.errors import FuseUnavailableError, MountError, MountPointBusyError
from agentfs.governance.policy import parse_principal

FUSE_DEVICE = "/dev/fuse"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def check_fuse() -> None:
    """Raise :class:`FuseUnavailableError` unless this machine can mount with FUSE."""
    if not os.path.exists(FUSE_DEVICE):
        raise FuseUnavailableError(
            f"no {FUSE_DEVICE}: load the fuse module (modprobe fuse) or start the container with --device /dev/fuse"
        )
    try:
        os.close(os.open(FUSE_DEVICE, os.O_RDWR))
    except OSError as exc:
        raise FuseUnavailableError(f"cannot open {FUSE_DEVICE}: {exc.strerror}") from None
    from agentfs.fuse import binding

    binding.load()


def preflight(store: str | Path, mountpoint: str | Path, principal: str) -> tuple[Path, Path, str]:
    """Validate a mount request; returns the resolved store, mount point and principal.

    Raises:
        StoreNotFoundError, MountPointBusyError, MountError, FuseUnavailableError.
    """
    store_path = Path(store).expanduser().resolve()
    if not is_store(store_path):
        raise StoreNotFoundError(f"no agentfs store at {store} (create one with `agentfs init {store}`)",
                                 path=str(store))
    principal = parse_principal(principal)
    target = Path(mountpoint).expanduser().absolute()
    try:
        info = os.stat(target)
    except FileNotFoundError:
        raise MountError(f"mount point {mountpoint} does not exist (mkdir -p {mountpoint})") from None
    except OSError as exc:  # ENOTCONN: a FUSE mount whose daemon died
        raise MountPointBusyError(
            f"mount point {mountpoint} is a dead mount ({exc.strerror}): run `agentfs unmount {mountpoint}` first"
        ) from None
    target = target.resolve()
    if not Path(target).is_dir():
        raise MountError(f"mount point {mountpoint} is not a directory")
    if str(target) in registry.kernel_mounts():
        try:
            os.listdir(target)  # a dead mount's root may still stat fine from the kernel's cache
        except OSError as exc:
            raise MountPointBusyError(
                f"mount point {mountpoint} is a dead mount ({exc.strerror}): run `agentfs unmount {mountpoint}` first"
            ) from None
        record = registry.read(target)
        holder = f" (agentfs, store {record['store']}, pid {record['pid']})" if record else ""
        raise MountPointBusyError(f"mount point {mountpoint} is busy: something is mounted there already{holder}")
    if target == store_path or store_path in target.parents:
        raise MountError(f"mount point {mountpoint} is inside the store {store}; choose a folder outside it")
    if any(os.scandir(target)):
        raise MountError(f"mount point {mountpoint} is not empty; mount on an empty folder")
    del info
    check_fuse()
    return store_path, target, principal


def _daemon_command(store: Path, mountpoint: Path, principal: str, *, read_only: bool, allow_other: bool,
                    ready_fd: int, log: Path) -> list[str]:
    command = [sys.executable, "-m", "agentfs.fuse.daemon", "--store", str(store), "--mountpoint", str(mountpoint),
               "--principal", principal, "--ready-fd", str(ready_fd), "--log", str(log)]
    if read_only:
        command.append("--read-only")
    if allow_other:
        command.append("--allow-other")
    return command


def mount(
    store: str | Path,
    mountpoint: str | Path,
    *,
    principal: str,
    read_only: bool = False,
    allow_other: bool = False,
    timeout: float = START_TIMEOUT_S,
) -> dict[str, Any]:
    """Start a mount in the background; returns its record once the mount answers.

    Raises:
        MountError: the daemon failed (the message carries its reason) or did not get ready.
    """
    store_path, target, principal = preflight(store, mountpoint, principal)
    log = registry.log_path(target)
    read_end, write_end = os.pipe()
    with open(log, "ab") as log_file:
        process = subprocess.Popen(
            _daemon_command(store_path, target, principal, read_only=read_only, allow_other=allow_other,
                            ready_fd=write_end, log=log),
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, pass_fds=(write_end,),
            start_new_session=True, cwd="/",  # never keep the caller's directory busy
        )
    os.close(write_end)
    try:
        line = _read_line(read_end, timeout, process)
    finally:
        os.close(read_end)
    if line.startswith("ready"):
        record = registry.read(target)
        if record is not None:
            return record
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    if registry.is_agentfs_mount(target):
        _force_unmount(target)
    raise MountError(f"could not mount {store} at {mountpoint}: {_failure_reason(log, process)}")


def _read_line(fd: int, timeout: float, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline and b"\n" not in data:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 256)
            if not chunk:  # the daemon exited (or closed the pipe) without saying ready
                break
            data += chunk
        elif process.poll() is not None:
            break
    return data.decode(errors="replace").strip()


def _failure_reason(log: Path, process: subprocess.Popen[bytes]) -> str:
    """The daemon's own words: libfuse's `fuse: ...` line, else its last error, else the exit."""
    try:
        lines = log.read_text(errors="replace").splitlines()[-40:]
    except OSError:
        lines = []
    for line in reversed(lines):
        if line.startswith("fuse:") or "fusermount" in line:
            return line.removeprefix("fuse: ").strip()
    for line in reversed(lines):
        if " ERROR " in line or line.startswith(("Traceback", "agentfs")):
            return line.split(": ", 1)[-1].strip()
    code = process.poll()
    return f"the mount daemon exited with status {code} (log: {log})" if code is not None else \
        f"the mount did not answer in time (log: {log})"


def run_foreground(
    store: str | Path,
    mountpoint: str | Path,
    *,
    principal: str,
    read_only: bool = False,
    allow_other: bool = False,
    on_ready: Any = None,
) -> int:
    """Mount in this process until unmounted or interrupted (Ctrl-C unmounts)."""
    from agentfs.fuse import daemon

    store_path, target, principal = preflight(store, mountpoint, principal)
    return daemon.run(store_path, target, principal=principal, read_only=read_only, allow_other=allow_other,
                      on_ready=on_ready)


def unmount(mountpoint: str | Path, *, timeout: float = STOP_TIMEOUT_S) -> dict[str, Any]:
    """Unmount an agentfs mount (its daemon stops cleanly); clears stale mounts too.

    Returns:
        ``{"mountpoint", "method"}``: how it was unmounted (daemon, fusermount, lazy).

    Raises:
        MountError: nothing of agentfs is mounted there, or it could not be unmounted.
    """
    target = Path(mountpoint).expanduser().absolute()
    with contextlib.suppress(OSError):
        target = target.resolve()
    record = registry.read(target)
    mounted = str(target) in registry.kernel_mounts()
    if record is None and not mounted:
        raise MountError(f"{mountpoint} is not mounted (see `agentfs mounts`)")
    if mounted and not registry.is_agentfs_mount(target) and record is None:
        raise MountError(f"{mountpoint} is not an agentfs mount")
    method = "daemon"
    pid = record.get("pid") if record else None
    if registry.pid_alive(pid) and _is_our_daemon(pid):
        os.kill(pid, signal.SIGTERM)  # type: ignore[arg-type]
        # Done when the kernel mount is gone and the daemon released its record (it does so
        # first thing on the way out); the daemon may take a few more seconds to stop its
        # index sync and close the store, and needs no one waiting for that.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and registry.pid_alive(pid) and (
            _still_mounted(target) or registry.read(target) is not None
        ):
            time.sleep(0.02)
    if _still_mounted(target):
        method = _force_unmount(target)
    registry.remove(target)
    if _still_mounted(target):
        raise MountError(f"{mountpoint} is still mounted; close the files and shells using it and try again")
    return {"mountpoint": str(target), "method": method}


def _is_our_daemon(pid: int | None) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"agentfs.fuse.daemon" in command or any(b"agentfs" in part for part in command[:3])


def _still_mounted(target: Path) -> bool:
    return str(target) in registry.kernel_mounts()


def _force_unmount(target: Path) -> str:
    """fusermount -u, then the lazy -uz (a dead daemon's mount), then umount(8) as root."""
    for tool in ("fusermount3", "fusermount"):
        binary = shutil.which(tool)
        if binary is None:
            continue
        for flags, method in (("-u", "fusermount"), ("-uz", "lazy")):
            result = subprocess.run([binary, flags, str(target)], capture_output=True, text=True, check=False)
            if result.returncode == 0 and not _still_mounted(target):
                return method
    if os.geteuid() == 0 and shutil.which("umount"):
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)
        return "lazy"
    return "none"


def mounts() -> list[dict[str, Any]]:
    """Every agentfs mount this user knows of, each with a ``state``:

    ``mounted`` (serving), ``stale`` (mounted, but its daemon is gone: `agentfs unmount` clears
    it) or ``unregistered`` (an agentfs mount without a record, e.g. started by another user).
    Records of mounts that no longer exist are removed.
    """
    kernel = registry.kernel_mounts()
    out = []
    seen = set()
    for record in registry.records():
        target = record.get("mountpoint", "")
        seen.add(target)
        alive = registry.pid_alive(record.get("pid"))
        if target in kernel:
            out.append({**record, "state": "mounted" if alive else "stale"})
        elif not alive:
            registry.remove(target)
    for target, (fstype, source) in sorted(kernel.items()):
        if fstype == "fuse.agentfs" and target not in seen:
            out.append({"mountpoint": target, "store": source.removeprefix("agentfs:"), "principal": None,
                        "pid": None, "state": "unregistered"})
    return out
