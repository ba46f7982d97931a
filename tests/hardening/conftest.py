"""Fixtures of the hardening suite: real mounts (optionally ``allow_other``) and small disks.

Mounts are real ``agentfs mount`` daemons (see tests/fuse/conftest.py, whose skip-or-fail rule they
follow: skipped where this machine cannot mount, a failure under ``CI=true`` or
``AGENTFS_REQUIRE_FUSE=1``). A small disk is a tmpfs of a given size mounted with mount(8); that
needs root, so without it the test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuse.conftest import Mount, agentfs_cli, cannot_mount


class HardMount(Mount):
    """A :class:`Mount` that can let other users in (``--allow-other``) and knows its indexer."""

    def __init__(self, store: Path, mountpoint: Path, principal: str, *, allow_other: bool = False) -> None:
        super().__init__(store, mountpoint, principal)
        self.allow_other = allow_other

    def start(self) -> HardMount:
        if not self.allow_other:
            super().start()
            return self
        if not os.path.exists("/dev/fuse"):
            cannot_mount("no /dev/fuse")
        self.path.mkdir(parents=True, exist_ok=True)
        result = agentfs_cli("mount", str(self.store), str(self.path), "--as", self.principal, "--json",
                             "--allow-other", check=False)
        if result.returncode != 0:
            cannot_mount(result.stderr.strip() or result.stdout.strip())
        self.pid = json.loads(result.stdout)["pid"]
        return self

    def indexer_pids(self) -> list[int]:
        """The index's background sync processes this daemon started (children of it)."""
        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.pid:  # field 4: the parent's pid
                out.append(int(entry.name))
        return out


def lazy_unmount(path: Path) -> None:
    """Detach a mount whose daemon is gone (``fusermount -uz``); a no-op when nothing is mounted."""
    for tool in ("fusermount3", "fusermount"):
        if shutil.which(tool):
            subprocess.run([tool, "-uz", str(path)], capture_output=True, check=False, timeout=30)
            return


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (a disk that fills up fast); unmounted afterwards."""
    target = tmp_path / "disk"
    target.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(target)], capture_output=True,
                          text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False, timeout=30)
