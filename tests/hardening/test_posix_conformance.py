"""POSIX conformance of the mount, pjdfstest-style, as root and as uid 65534 through ``--allow-other``.

pjdfstest itself is not packaged for this system (no apt package, no PyPI), so this is a focused
subset of its checks, written in Python with direct system calls: open flags (``O_CREAT``,
``O_EXCL``, ``O_TRUNC``, ``O_APPEND``, ``O_DIRECTORY``), create, mkdir, rmdir, unlink, rename,
truncate, ftruncate, utimensat (with ``UTIME_OMIT`` and ``UTIME_NOW``), symlink, readlink, chmod,
chown, link and mknod, each with the errno POSIX (Linux) gives for the usual mistakes.

Where agentfs differs on purpose the check asserts the documented behaviour (docs/hardening.md,
"POSIX conformance"): ownership is the mounting user's, mode bits show the principal's rights,
a file's mtime is the time of its last version (utimensat is accepted and changes nothing),
hard links and special files are EPERM, symlinks may not leave the namespace (EINVAL).

Every check runs twice: as root, and in a forked child switched to uid/gid 65534 (``nobody``), which
only reaches the mount because it was mounted with ``allow_other``. The child imports nothing
after the switch (the interpreter's own files are not readable by ``nobody`` here).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import stat
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import agentfs
from tests.hardening.conftest import HardMount
from tests.helpers import ADMIN

pytestmark = pytest.mark.fuse

NOBODY = 65534
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
AT_FDCWD = -100
_libc = ctypes.CDLL(None, use_errno=True)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def utimensat(path: str, atime: tuple[int, int], mtime: tuple[int, int]) -> None:
    """utimensat(2) itself: Python's os.utime cannot pass UTIME_OMIT."""
    times = (_Timespec * 2)(_Timespec(*atime), _Timespec(*mtime))
    if _libc.utimensat(AT_FDCWD, path.encode(), times, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)


def expect(code: int, call: Callable[..., object], *args: object) -> None:
    try:
        call(*args)
    except OSError as exc:
        assert exc.errno == code, f"{call.__name__}{args}: {errno.errorcode.get(exc.errno)} instead of " \
                                  f"{errno.errorcode[code]}"
        return
    raise AssertionError(f"{call.__name__}{args} succeeded; expected {errno.errorcode[code]}")


def write(path: str, data: bytes, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> None:
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1 << 20)
    finally:
        os.close(fd)


# --- the checks: each gets a fresh, empty folder of the mount --------------------------------------

def check_open_create_excl(d: str) -> None:
    f = f"{d}/f"
    expect(errno.ENOENT, os.open, f, os.O_RDONLY)
    fd = os.open(f, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.close(fd)
    st = os.stat(f)
    assert stat.S_ISREG(st.st_mode) and st.st_size == 0
    expect(errno.EEXIST, os.open, f, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    fd = os.open(f, os.O_CREAT | os.O_WRONLY, 0o644)  # O_CREAT alone opens the existing file
    os.close(fd)
    expect(errno.EEXIST, os.open, d, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)


def check_open_trunc_and_append(d: str) -> None:
    f = f"{d}/f"
    write(f, b"0123456789")
    fd = os.open(f, os.O_WRONLY | os.O_TRUNC)
    assert os.fstat(fd).st_size == 0
    os.close(fd)
    assert read(f) == b""
    write(f, b"abc")
    fd = os.open(f, os.O_WRONLY | os.O_APPEND)
    os.lseek(fd, 0, os.SEEK_SET)  # O_APPEND writes at the end whatever the offset
    os.write(fd, b"Z")
    os.close(fd)
    assert read(f) == b"abcZ"
    fd = os.open(f, os.O_RDWR)
    os.pwrite(fd, b"X", 1)
    assert os.pread(fd, 10, 0) == b"aXcZ"
    os.close(fd)


def check_open_errors(d: str) -> None:
    f = f"{d}/f"
    write(f, b"x")
    expect(errno.EISDIR, os.open, d, os.O_WRONLY)
    expect(errno.ENOTDIR, os.open, f + "/", os.O_RDONLY)
    expect(errno.ENOTDIR, os.open, f, os.O_RDONLY | os.O_DIRECTORY)
    expect(errno.ENOTDIR, os.open, f + "/x", os.O_RDONLY)
    expect(errno.ENOENT, os.open, f"{d}/no/such", os.O_CREAT | os.O_WRONLY, 0o644)
    fd = os.open(f, os.O_RDONLY)
    expect(errno.EBADF, os.write, fd, b"y")
    os.close(fd)
    fd = os.open(f, os.O_WRONLY)
    expect(errno.EBADF, os.read, fd, 1)
    os.close(fd)


def check_name_lengths(d: str) -> None:
    fd = os.open(f"{d}/{'n' * 255}", os.O_CREAT | os.O_WRONLY, 0o644)  # NAME_MAX is fine
    os.close(fd)
    expect(errno.ENAMETOOLONG, os.open, f"{d}/{'n' * 256}", os.O_CREAT | os.O_WRONLY, 0o644)
    expect(errno.ENAMETOOLONG, os.mkdir, f"{d}/{'n' * 256}")
    deep = d + ("/" + "p" * 200) * 10  # ~2,000 bytes: long paths are not refused early
    os.makedirs(deep)
    write(deep + "/f", b"deep")
    assert read(deep + "/f") == b"deep"


def check_mkdir(d: str) -> None:
    sub = f"{d}/sub"
    os.mkdir(sub, 0o755)
    st = os.stat(sub)
    assert stat.S_ISDIR(st.st_mode) and st.st_nlink >= 2
    expect(errno.EEXIST, os.mkdir, sub)
    expect(errno.ENOENT, os.mkdir, f"{d}/no/such")
    write(f"{d}/f", b"x")
    expect(errno.ENOTDIR, os.mkdir, f"{d}/f/x")
    expect(errno.EEXIST, os.mkdir, f"{d}/f")
    assert sorted(os.listdir(d)) == ["f", "sub"]


def check_rmdir(d: str) -> None:
    os.mkdir(f"{d}/sub")
    write(f"{d}/sub/f", b"x")
    expect(errno.ENOTEMPTY, os.rmdir, f"{d}/sub")
    expect(errno.ENOTDIR, os.rmdir, f"{d}/sub/f")
    expect(errno.ENOENT, os.rmdir, f"{d}/missing")
    expect(errno.EINVAL, os.rmdir, f"{d}/sub/.")
    os.unlink(f"{d}/sub/f")
    os.rmdir(f"{d}/sub")
    expect(errno.ENOENT, os.stat, f"{d}/sub")


def check_unlink(d: str) -> None:
    f = f"{d}/f"
    write(f, b"kept while open")
    fd = os.open(f, os.O_RDONLY)
    os.unlink(f)
    expect(errno.ENOENT, os.stat, f)
    assert os.pread(fd, 100, 0) == b"kept while open"
    os.close(fd)
    expect(errno.ENOENT, os.unlink, f)
    os.mkdir(f"{d}/sub")
    expect(errno.EISDIR, os.unlink, f"{d}/sub")
    assert os.listdir(d) == ["sub"]


def check_rename(d: str) -> None:
    write(f"{d}/a", b"a")
    write(f"{d}/b", b"b")
    os.rename(f"{d}/a", f"{d}/b")  # over an existing file, atomically
    assert read(f"{d}/b") == b"a" and sorted(os.listdir(d)) == ["b"]
    os.rename(f"{d}/b", f"{d}/b")  # onto itself: nothing happens
    assert read(f"{d}/b") == b"a"
    os.mkdir(f"{d}/dir")
    os.mkdir(f"{d}/empty")
    os.mkdir(f"{d}/full")
    write(f"{d}/full/x", b"x")
    expect(errno.EISDIR, os.rename, f"{d}/b", f"{d}/dir")
    expect(errno.ENOTDIR, os.rename, f"{d}/dir", f"{d}/b")
    expect(errno.ENOTEMPTY, os.rename, f"{d}/dir", f"{d}/full")
    expect(errno.EINVAL, os.rename, f"{d}/dir", f"{d}/dir/inside")
    expect(errno.ENOENT, os.rename, f"{d}/missing", f"{d}/m2")
    os.rename(f"{d}/full", f"{d}/empty")  # a folder over an empty folder
    assert read(f"{d}/empty/x") == b"x"
    os.rename(f"{d}/b", f"{d}/dir/b")  # across folders
    assert read(f"{d}/dir/b") == b"a"
    ino = os.stat(f"{d}/dir/b").st_ino
    os.rename(f"{d}/dir", f"{d}/moved")
    assert os.stat(f"{d}/moved/b").st_ino == ino  # inode numbers follow renames


def check_truncate(d: str) -> None:
    f = f"{d}/f"
    write(f, b"0123456789")
    os.truncate(f, 4)
    assert read(f) == b"0123"
    os.truncate(f, 8)  # growing fills with zeros
    assert read(f) == b"0123\0\0\0\0"
    expect(errno.EINVAL, os.truncate, f, -1)
    expect(errno.EISDIR, os.truncate, d, 0)
    expect(errno.ENOENT, os.truncate, f"{d}/missing", 0)
    fd = os.open(f, os.O_RDWR)
    os.ftruncate(fd, 2)
    assert os.fstat(fd).st_size == 2
    os.close(fd)
    fd = os.open(f, os.O_RDONLY)
    expect(errno.EINVAL, os.ftruncate, fd, 0)  # Linux: EINVAL for a descriptor not open for writing
    os.close(fd)
    assert read(f) == b"01"


def check_utimensat(d: str) -> None:
    f = f"{d}/f"
    write(f, b"x")
    before = os.stat(f)
    utimensat(f, (0, UTIME_OMIT), (0, UTIME_OMIT))  # both omitted: accepted, nothing changes
    after = os.stat(f)
    assert (after.st_atime_ns, after.st_mtime_ns) == (before.st_atime_ns, before.st_mtime_ns)
    utimensat(f, (0, UTIME_NOW), (0, UTIME_OMIT))
    utimensat(f, (1_000_000, 0), (2_000_000, 0))  # accepted (touch, tar, cp -p work) ...
    assert os.stat(f).st_mtime_ns == before.st_mtime_ns  # ... the mtime stays the version's time
    assert read(f) == b"x"
    expect(errno.ENOENT, utimensat, f"{d}/missing", (0, UTIME_NOW), (0, UTIME_NOW))


def check_symlink(d: str) -> None:
    write(f"{d}/target", b"t")
    os.symlink("target", f"{d}/link")
    assert os.readlink(f"{d}/link") == "target"
    assert stat.S_ISLNK(os.lstat(f"{d}/link").st_mode)
    assert read(f"{d}/link") == b"t"
    expect(errno.EEXIST, os.symlink, "target", f"{d}/link")
    expect(errno.EINVAL, os.readlink, f"{d}/target")
    expect(errno.EINVAL, os.symlink, "/etc/passwd", f"{d}/abs")  # outside the namespace
    expect(errno.EINVAL, os.symlink, "../" * 12 + "etc/passwd", f"{d}/esc")
    os.unlink(f"{d}/link")  # removes the link, not its target
    assert read(f"{d}/target") == b"t"


def check_chmod(d: str) -> None:
    f = f"{d}/f"
    write(f, b"#!/bin/sh\n")
    assert os.stat(f).st_mode & 0o777 == 0o644  # the admin principal may read and write
    os.chmod(f, 0o755)
    assert os.stat(f).st_mode & 0o111 == 0o111  # executable: the exec bit is kept
    os.chmod(f, 0o600)
    assert os.stat(f).st_mode & 0o777 == 0o644  # rights come from the ACL, not the stored bits
    os.chmod(f, 0o4755)
    assert os.stat(f).st_mode & 0o7000 == 0  # no setuid, setgid or sticky bits
    expect(errno.ENOENT, os.chmod, f"{d}/missing", 0o644)
    assert os.access(f, os.R_OK | os.W_OK)


def check_ownership(d: str) -> None:
    f = f"{d}/f"
    write(f, b"x")
    owner = os.stat(f).st_uid
    assert owner == os.stat(d).st_uid  # the mounting user's, whoever created it
    os.chown(f, 123, 456)  # accepted and ignored: tar/rsync -a/cp -a keep working
    assert os.stat(f).st_uid == owner


def check_link_and_special_files(d: str) -> None:
    write(f"{d}/f", b"x")
    expect(errno.EPERM, os.link, f"{d}/f", f"{d}/hard")
    expect(errno.EPERM, os.mkfifo, f"{d}/fifo")
    expect(errno.EPERM, os.mknod, f"{d}/chr", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    expect(errno.EPERM, os.mknod, f"{d}/blk", 0o600 | stat.S_IFBLK, os.makedev(7, 0))
    assert os.listdir(d) == ["f"]
    assert os.stat(f"{d}/f").st_nlink == 1


CHECKS: dict[str, Callable[[str], None]] = {
    name.removeprefix("check_"): fn for name, fn in globals().items() if name.startswith("check_")
}


def run_checks(base: str, tag: str) -> dict[str, str]:
    """Run every check in a fresh folder under ``base``; ``{name: "ok" | what failed}``."""
    results = {}
    for name, fn in CHECKS.items():
        folder = f"{base}/{tag}-{name}"
        try:
            os.mkdir(folder)
            fn(folder)
            results[name] = "ok"
        except BaseException as exc:  # a failed check is a result, not a crash
            results[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return results


def run_as(uid: int, base: str) -> dict[str, str]:
    """``run_checks`` in a forked child with ``uid``/``gid`` (and no supplementary groups)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(reader)
            if uid != os.getuid():
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            payload = json.dumps(run_checks(base, f"u{uid}")).encode()
            while payload:
                payload = payload[os.write(writer, payload):]
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(writer)
    chunks = []
    deadline = time.monotonic() + 120
    while chunk := os.read(reader, 65536):
        chunks.append(chunk)
        assert time.monotonic() < deadline, "the checks did not finish in 120 s"
    os.close(reader)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and chunks, f"the checks as uid {uid} did not report"
    return json.loads(b"".join(chunks))


@pytest.fixture(scope="module")
def shared_mount() -> Iterator[HardMount]:
    """The store mounted as its admin with ``allow_other``, in a folder every user can reach."""
    if os.geteuid() != 0:
        pytest.skip("switching to uid 65534 needs root")
    top = Path(tempfile.mkdtemp(prefix="agentfs-posix-"))
    top.chmod(0o755)  # pytest's own temp folders are 0700: nobody could not reach the mount
    fs = agentfs.init(top / "ctx", admin=ADMIN)
    fs.close()
    mount = HardMount(top / "ctx", top / "mnt", ADMIN, allow_other=True)
    try:
        mount.start()
        yield mount
    finally:
        mount.stop()
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def results(shared_mount: HardMount) -> dict[int, dict[str, str]]:
    base = str(shared_mount / "knowledge")
    return {uid: run_as(uid, base) for uid in (0, NOBODY)}


@pytest.mark.parametrize("uid", [0, NOBODY], ids=["root", "nobody"])
@pytest.mark.parametrize("check", list(CHECKS))
def test_posix(results: dict[int, dict[str, str]], uid: int, check: str) -> None:
    assert results[uid][check] == "ok"


def test_the_store_is_sound_after_the_suite(results: dict[int, dict[str, str]], shared_mount: HardMount) -> None:
    fs = agentfs.open(shared_mount.store, principal=ADMIN)
    try:
        report = fs.verify()
        assert report["ok"], report["problems"]
        created = {i.author for i in fs.walk("/knowledge") if i.kind == "file"}
        assert created == {ADMIN}  # whatever the uid, the mount acts as its principal
    finally:
        fs.close()
