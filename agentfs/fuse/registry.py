"""Which agentfs mounts this user runs: one JSON record per mount point, plus the kernel's view.

Records live in ``$AGENTFS_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/agentfs``, else
``/tmp/agentfs-<uid>`` (a private 0700 folder), under ``mounts/``: ``<key>.json`` (mount point,
store, principal, daemon pid, options, start time) and ``<key>.log`` (the daemon's log). The
daemon writes its record once the mount answers and removes it when it exits; ``agentfs mounts``
checks each record against ``/proc/self/mountinfo`` and the pid, so a crashed daemon shows up
as stale instead of lying.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from agentfs.fuse.errors import MountError

ENV_RUNTIME_DIR = "AGENTFS_RUNTIME_DIR"


def runtime_dir() -> Path:
    """The private folder for mount records, created if missing.

    Raises:
        MountError: the folder exists but belongs to someone else or is open to others.
    """
    base = os.environ.get(ENV_RUNTIME_DIR)
    if base:
        root = Path(base)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        root = Path(os.environ["XDG_RUNTIME_DIR"]) / "agentfs"
    else:
        root = Path("/tmp") / f"agentfs-{os.getuid()}"
    folder = root / "mounts"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = root.stat()
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o022:
        raise MountError(f"{root} is not a private folder of this user; set {ENV_RUNTIME_DIR} to one")
    return folder


def _key(mountpoint: str | Path) -> str:
    return hashlib.sha256(str(mountpoint).encode()).hexdigest()[:16]


def record_path(mountpoint: str | Path) -> Path:
    return runtime_dir() / f"{_key(mountpoint)}.json"


def log_path(mountpoint: str | Path) -> Path:
    return runtime_dir() / f"{_key(mountpoint)}.log"


def write(record: dict[str, Any]) -> None:
    target = record_path(record["mountpoint"])
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, target)


def read(mountpoint: str | Path) -> dict[str, Any] | None:
    try:
        return json.loads(record_path(mountpoint).read_text())
    except (FileNotFoundError, ValueError):
        return None


def remove(mountpoint: str | Path, *, pid: int | None = None) -> None:
    """Forget a record (only if it is ``pid``'s, when given: a new daemon may own it already)."""
    record = read(mountpoint)
    if record is None or (pid is not None and record.get("pid") != pid):
        return
    with contextlib.suppress(FileNotFoundError):
        record_path(mountpoint).unlink()


def records() -> list[dict[str, Any]]:
    out = []
    for entry in sorted(runtime_dir().glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            out.append(json.loads(entry.read_text()))
    return out


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal
    out, i = [], 0
    while i < len(field):
        digits = field[i + 1:i + 4]
        if field[i] == "\\" and len(digits) == 3 and digits.isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def kernel_mounts() -> dict[str, tuple[str, str]]:
    """Mount point -> (file system type, source) for every mount the kernel lists."""
    out: dict[str, tuple[str, str]] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 2:
            out[_unescape(fields[4])] = (tail[0], _unescape(tail[1]))
    return out


def is_agentfs_mount(mountpoint: str | Path) -> bool:
    entry = kernel_mounts().get(str(mountpoint))
    return entry is not None and entry[0] == "fuse.agentfs"


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    if not pid:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
