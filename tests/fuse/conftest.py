"""Mounts for the FUSE tests: a real `agentfs mount` in a subprocess, always unmounted.

When this machine cannot mount (no /dev/fuse, no fuse-python, no fusermount) the tests skip,
unless ``CI=true`` or ``AGENTFS_REQUIRE_FUSE=1``: then they fail, so CI can never be green with
the mount untested.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import agentfs
from agentfs.fs import ContextFS
from tests.helpers import ADMIN

CLI = [sys.executable, "-m", "agentfs.cli.app"]


def fuse_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("AGENTFS_REQUIRE_FUSE") == "1"


def cannot_mount(reason: str) -> None:
    if fuse_required():
        pytest.fail(f"FUSE tests must run here (CI / AGENTFS_REQUIRE_FUSE) but cannot mount: {reason}")
    pytest.skip(f"cannot mount: {reason}")


def require_tool(name: str) -> str:
    """The path of a command a test drives; like the mount itself, skipped only outside CI."""
    found = shutil.which(name)
    if found is None:
        cannot_mount(f"{name} is not installed")
    return found  # type: ignore[return-value]


def agentfs_cli(*args: str, check: bool = True, timeout: float = 120,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `agentfs` command line in a subprocess (as a user would)."""
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"agentfs {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def sh(command: str, *, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a bash command line (the tests drive real tools: cat, grep, mv, tar, ...)."""
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=cwd, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"`{command}` failed ({result.returncode}): {result.stderr.strip()}")
    return result


class Mount:
    """A store mounted by `agentfs mount` (background daemon), as one principal."""

    def __init__(self, store: Path, mountpoint: Path, principal: str, *, read_only: bool = False) -> None:
        self.store = store
        self.path = mountpoint
        self.principal = principal
        self.read_only = read_only
        self.pid: int | None = None
        self.log: str | None = None

    def start(self) -> Mount:
        if not os.path.exists("/dev/fuse"):
            cannot_mount("no /dev/fuse")
        try:
            import fuse  # noqa: F401
        except ImportError:
            cannot_mount("fuse-python is not installed (pip install 'agentfs[fuse]')")
        if shutil.which("fusermount") is None and shutil.which("fusermount3") is None:
            cannot_mount("no fusermount (apt-get install fuse3)")
        self.path.mkdir(parents=True, exist_ok=True)
        args = ["mount", str(self.store), str(self.path), "--as", self.principal, "--json"]
        if self.read_only:
            args.append("--read-only")
        # The daemons of the tests log agentfs' debug lines (the watcher's decisions), which a
        # failed test's report shows with the daemon's thread stacks.
        result = agentfs_cli(*args, check=False, env={**os.environ, "AGENTFS_LOG_LEVEL": "DEBUG"})
        if result.returncode != 0:
            cannot_mount(result.stderr.strip() or result.stdout.strip())
        import json

        record = json.loads(result.stdout)
        self.pid = record["pid"]
        self.log = record.get("log")
        return self

    def log_tail(self, lines: int = 80, *, stacks: bool = False) -> str:
        """The end of the daemon's log (shown with a failed test: what the daemon did meanwhile).

        ``stacks``: first have the daemon write every thread's stack to its log (SIGUSR1, see
        ``faulthandler.register`` in the daemon), to tell a stuck thread from a wrong decision.
        """
        if stacks and self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGUSR1)
                time.sleep(0.5)
                lines += 150
        try:
            with open(self.log or "", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError as exc:
            return f"(no daemon log: {exc})"

    def stop(self) -> None:
        """Unmount; never leaves a mount behind, even when the daemon misbehaved."""
        if str(self.path) not in _kernel_mounts():
            return
        result = agentfs_cli("unmount", str(self.path), check=False)
        if result.returncode != 0 or str(self.path) in _kernel_mounts():
            for tool in ("fusermount3", "fusermount"):
                if shutil.which(tool):
                    subprocess.run([tool, "-uz", str(self.path)], capture_output=True, check=False)
                    break

    def __truediv__(self, other: str) -> Path:
        return self.path / other.lstrip("/")


def _kernel_mounts() -> set[str]:
    from agentfs.fuse.registry import kernel_mounts

    return set(kernel_mounts())


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return bool(value)
        time.sleep(interval)


def make_store(root: Path) -> ContextFS:
    return agentfs.init(root, admin=ADMIN)


@pytest.fixture(scope="module")
def admin_mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mount, ContextFS]]:
    """A fresh store mounted as its administrator, plus an API handle on the same store."""
    base = tmp_path_factory.mktemp("fuse-admin")
    fs = make_store(base / "ctx")
    mount = Mount(base / "ctx", base / "mnt", ADMIN)
    try:
        mount.start()
        yield mount, fs
    finally:
        mount.stop()
        fs.close()


@pytest.fixture
def mnt(admin_mount: tuple[Mount, ContextFS]) -> Mount:
    return admin_mount[0]


@pytest.fixture
def api(admin_mount: tuple[Mount, ContextFS]) -> ContextFS:
    return admin_mount[1]


@pytest.fixture
def work(mnt: Mount, request: pytest.FixtureRequest) -> Path:
    """A fresh folder for one test, under /knowledge of the admin mount."""
    folder = mnt / f"knowledge/{request.node.name.replace('[', '_').replace(']', '')}"
    folder.mkdir()
    return folder


def ns(mount: Mount, path: Path) -> str:
    """The namespace path of a path under the mount point."""
    return "/" + str(path.relative_to(mount.path))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failed test that used a mount reports the end of that mount's daemon log as well."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not (report.failed and call.when == "call"):
        return
    mounts: dict[str, Mount] = {}
    for value in getattr(item, "funcargs", {}).values():
        for candidate in value if isinstance(value, tuple) else (value,):
            if isinstance(candidate, Mount):
                mounts[str(candidate.path)] = candidate
    for path, mount in mounts.items():
        report.sections.append((f"daemon log of {path}", mount.log_tail(stacks=True)))
