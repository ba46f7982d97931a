"""Files larger than memory stream: through the API and through the mount, in bounded memory.

A file of ``AGENTFS_BIG_FILE_MB`` MiB (256 by default, seconds; set it above the machine's RAM for
the full-length run, see docs/hardening.md) is written from a generated stream and read back, and
the resident-set high-water mark of the process doing the work may grow by at most
``BOUND_MIB`` while it happens: the API in a fresh process of its own, the mount in its daemon.
The bytes read back hash to what was written, and the store holds exactly one version of that size.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import agentfs
from tests.hardening.big_file_worker import BLOCK, Generated
from tests.hardening.conftest import HardMount
from tests.hardening.test_crash_storm import REPO
from tests.helpers import ADMIN

SIZE_MB = int(os.environ.get("AGENTFS_BIG_FILE_MB", "256"))
BOUND_MIB = 64  # growth of the high-water mark allowed while streaming SIZE_MB
WORKER = Path(__file__).with_name("big_file_worker.py")


def need_room(folder: Path, copies: int) -> None:
    """The store keeps the object and the plain file: skip where the disk cannot hold them."""
    free = shutil.disk_usage(folder).free
    if free < copies * SIZE_MB * BLOCK + (1 << 30):
        pytest.skip(f"{SIZE_MB} MiB x {copies} does not fit in {free >> 20} MiB free on {folder}")


def high_water_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for {pid}")


def test_the_api_streams_a_big_file_in_and_out(tmp_path: Path) -> None:
    need_room(tmp_path, copies=2)
    root = tmp_path / "ctx"
    agentfs.init(root, admin=ADMIN).close()
    done = subprocess.run([sys.executable, str(WORKER), str(root), str(SIZE_MB)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["size"] == SIZE_MB * BLOCK
    assert figures["read"] == figures["written"]
    growth = max(figures["after_write_kib"], figures["after_read_kib"]) - figures["before_kib"]
    assert growth < BOUND_MIB * 1024, f"streaming {SIZE_MB} MiB grew the process by {growth >> 10} MiB"
    print(f"api: {SIZE_MB} MiB in and out, high-water mark +{growth >> 10} MiB")  # figures for the docs
    fs = agentfs.open(root, principal=ADMIN)
    try:
        [version] = fs.log("/knowledge/big.bin")
        assert version.size == SIZE_MB * BLOCK and version.hash == figures["written"]
        assert (root / "knowledge/big.bin").stat().st_size == SIZE_MB * BLOCK  # the plain tree too
    finally:
        fs.close()


@pytest.mark.fuse
def test_the_mount_streams_a_big_file_in_and_out(tmp_path: Path) -> None:
    need_room(tmp_path, copies=2)
    root = tmp_path / "ctx"
    agentfs.init(root, admin=ADMIN).close()
    mount = HardMount(root, tmp_path / "mnt", ADMIN).start()
    try:
        target = mount / "knowledge/big.bin"
        (mount / "knowledge/warm.txt").write_bytes(b"warm up every code path once\n")
        (mount / "knowledge/warm.txt").read_bytes()
        before = high_water_kib(mount.pid)  # type: ignore[arg-type]
        source = Generated(SIZE_MB * BLOCK)
        with open(target, "wb", buffering=0) as out:
            while chunk := source.read(BLOCK):
                out.write(chunk)
        back = hashlib.sha256()
        with open(target, "rb", buffering=0) as handle:
            while chunk := handle.read(BLOCK):
                back.update(chunk)
        growth = high_water_kib(mount.pid) - before  # type: ignore[arg-type]
        assert back.hexdigest() == source.hasher.hexdigest()
        assert os.stat(target).st_size == SIZE_MB * BLOCK
        assert growth < BOUND_MIB * 1024, f"the daemon grew by {growth >> 10} MiB streaming {SIZE_MB} MiB"
        print(f"mount: {SIZE_MB} MiB in and out, daemon high-water mark +{growth >> 10} MiB")
    finally:
        mount.stop()
    fs = agentfs.open(root, principal=ADMIN)
    try:
        [version] = fs.log("/knowledge/big.bin")  # one version per close, not per write(2)
        assert version.size == SIZE_MB * BLOCK and version.hash == source.hasher.hexdigest()
        assert fs.verify()["ok"]
    finally:
        fs.close()
