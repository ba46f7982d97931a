"""A full disk: a store on a 4 MiB tmpfs, filled up by a file beside it.

Through the API and through the mount, a write that does not fit fails with ENOSPC and a message
naming the cause; nothing of it is applied (head version, plain tree, catalog), a half-written temp
file does not keep the space, earlier versions stay readable, ``verify()`` is clean. Once space is
freed, writes succeed again and the store reopens and verifies clean.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import agentfs
from agentfs.errors import NoSpaceError
from agentfs.fs import ContextFS
from tests.hardening.conftest import HardMount
from tests.helpers import ADMIN

NOTE = "/memory/semantic/note.md"


def free_bytes(path: Path) -> int:
    vfs = os.statvfs(path)
    return vfs.f_bavail * vfs.f_frsize


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` with a file beside the store until about ``leave`` bytes stay free."""
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, free_bytes(disk) - leave))
    return filler


def assert_intact(fs: ContextFS, versions: dict[int, bytes]) -> None:
    head = max(versions)
    assert fs.stat(NOTE).version == head
    for version, data in versions.items():
        assert fs.read(NOTE, version=version) == data
    assert (fs.root / NOTE.lstrip("/")).read_bytes() == versions[head]  # the plain tree too
    report = fs.verify()
    assert report["ok"] and not report["problems"], report["problems"]
    assert fs.status() == []


def test_api_writes_on_a_full_disk_fail_with_enospc_and_apply_nothing(small_disk: Path) -> None:
    fs = agentfs.init(small_disk / "ctx", admin=ADMIN)
    try:
        versions = {1: b"first\n", 2: b"second\n"}
        for data in versions.values():
            fs.write(NOTE, data)
        filler = fill(small_disk, leave=64 * 1024)
        before = free_bytes(small_disk)

        big = os.urandom(300_000).hex().encode()  # no room for its object: fails while writing it
        with pytest.raises(NoSpaceError) as info:
            fs.write(NOTE, big)
        assert info.value.errno == errno.ENOSPC
        assert "no space left" in info.value.message and str(fs.root) in info.value.message
        assert free_bytes(small_disk) >= before - 8192, "the failed write kept the space it half used"
        assert_intact(fs, versions)

        with pytest.raises(NoSpaceError):  # a batch: all or nothing
            fs.write_many([("/memory/semantic/other.md", b"small\n"), (NOTE, big)])
        assert not fs.exists("/memory/semantic/other.md")
        assert_intact(fs, versions)

        # fill the last bytes with many small commits until the catalog itself cannot grow
        small = 0
        with pytest.raises(NoSpaceError):
            for small in range(10_000):
                fs.write(f"/memory/episodic/e{small}.md", os.urandom(3000).hex())
        assert_intact(fs, versions)
        written = {info.path for info in fs.ls("/memory/episodic")}
        assert len(written) == small  # every write that returned is there, the failed one is not

    finally:
        fs.close()
    # opening the store on the full disk (a CLI command, a new process): a clear error, no traceback
    fill(small_disk, leave=0)
    with pytest.raises(NoSpaceError, match="catalog cannot open"):
        agentfs.open(small_disk / "ctx", principal=ADMIN).stat(NOTE)

    filler.unlink()
    fs = agentfs.open(small_disk / "ctx", principal=ADMIN)
    try:
        assert_intact(fs, versions)
        fs.write(NOTE, big)
        versions[3] = big
        assert_intact(fs, versions)
    finally:
        fs.close()
    again = agentfs.open(small_disk / "ctx", principal=ADMIN)
    try:
        assert_intact(again, versions)
        assert again.verify(deep=True)["ok"]
    finally:
        again.close()


@pytest.mark.fuse
def test_mount_writes_on_a_full_disk_fail_with_enospc_and_apply_nothing(small_disk: Path, tmp_path: Path) -> None:
    fs = agentfs.init(small_disk / "ctx", admin=ADMIN)
    fs.write(NOTE, b"first\n")
    mount = HardMount(small_disk / "ctx", tmp_path / "mnt", ADMIN).start()
    try:
        target = mount / NOTE
        filler = fill(small_disk, leave=96 * 1024)
        failed_at = None
        fd = os.open(target, os.O_WRONLY | os.O_TRUNC)
        try:
            for _ in range(64):
                os.write(fd, b"y" * 65536)
        except OSError as exc:
            failed_at = exc.errno
        finally:
            try:
                os.close(fd)
            except OSError as exc:  # the commit at close can be what fails
                failed_at = failed_at or exc.errno
        assert failed_at == errno.ENOSPC
        assert target.read_bytes() == b"first\n"  # no truncated version was committed
        assert_intact(fs, {1: b"first\n"})
        with pytest.raises(OSError) as info:  # a shell redirect sees the same
            target.write_bytes(os.urandom(500_000).hex().encode())
        assert info.value.errno == errno.ENOSPC
        assert_intact(fs, {1: b"first\n"})

        filler.unlink()
        target.write_bytes(b"second\n")
        assert target.read_bytes() == b"second\n"
        assert_intact(fs, {1: b"first\n", 2: b"second\n"})
    finally:
        mount.stop()
        fs.close()
