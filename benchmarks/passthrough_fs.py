"""The floor of a fuse-python mount: a passthrough with no logic, for ``benchmarks/fuse.py --floor``.

Every callback is at most one system call on a native directory (no catalog, no versions, no
ACL, no commit), served through the same binding as an agentfs mount (:func:`agentfs.fuse.binding.serve`:
fuse-python 1.0 over libfuse 2.9, multithreaded) with the same kernel options (long attribute and
entry timeouts, ``kernel_cache``-style ``keep_cache`` on every open, ``big_writes``). Whatever this
mount costs against the native directory, any fuse-python file system costs at least as much on
this machine: it separates what agentfs spends from what the kernel round trips and the binding
spend.

    python benchmarks/passthrough_fs.py SOURCE MOUNTPOINT    # foreground; fusermount -u to stop
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path
from typing import Any

from agentfs.fuse import binding, daemon
from agentfs.fuse.attrs import Attr
from agentfs.fuse.operations import Entry


class Handle:
    """One open file: a descriptor on the native file (fuse-python reads the two flags)."""

    keep_cache = True
    direct_io = False

    def __init__(self, fd: int) -> None:
        self.fd = fd


def _errno(exc: OSError) -> int:
    return -(exc.errno or errno.EIO)


class Passthrough:
    """Each request becomes the same request on ``source``: nothing else."""

    def __init__(self, source: str) -> None:
        self.source = source.rstrip("/")

    def _real(self, path: str) -> str:
        return self.source + path

    def getattr(self, path: str) -> Attr | int:
        binding.pin_thread_state()
        try:
            st = os.lstat(self._real(path))
        except OSError as exc:
            return _errno(exc)
        attr = Attr(st.st_mode, st.st_ino, st.st_size, st.st_mtime, st.st_uid, st.st_gid, st.st_nlink)
        return attr

    def fgetattr(self, path: str, handle: Handle) -> Attr | int:
        return self.getattr(path)

    def access(self, path: str, mode: int) -> int:
        binding.pin_thread_state()
        return 0 if os.access(self._real(path), mode) else -errno.EACCES

    def readdir(self, path: str, offset: int) -> list[Entry] | int:
        binding.pin_thread_state()
        try:
            with os.scandir(self._real(path)) as entries:
                here = os.lstat(self._real(path)).st_ino
                listing = [Entry(".", here, stat.S_IFDIR), Entry("..", here, stat.S_IFDIR)]
                for entry in entries:
                    kind = stat.S_IFDIR if entry.is_dir(follow_symlinks=False) else stat.S_IFREG
                    listing.append(Entry(entry.name, entry.inode(), kind))
                return listing
        except OSError as exc:
            return _errno(exc)

    def open(self, path: str, flags: int) -> tuple[Handle, bool] | int:
        binding.pin_thread_state()
        try:
            return Handle(os.open(self._real(path), flags & ~os.O_CREAT)), True
        except OSError as exc:
            return _errno(exc)

    def create(self, path: str, flags: int, mode: int) -> tuple[Handle, bool] | int:
        binding.pin_thread_state()
        try:
            return Handle(os.open(self._real(path), flags | os.O_CREAT, mode)), True
        except OSError as exc:
            return _errno(exc)

    def read(self, path: str, size: int, offset: int, handle: Handle) -> bytes | int:
        binding.pin_thread_state()
        try:
            return os.pread(handle.fd, size, offset)
        except OSError as exc:
            return _errno(exc)

    def write(self, path: str, data: bytes, offset: int, handle: Handle) -> int:
        binding.pin_thread_state()
        try:
            return os.pwrite(handle.fd, data, offset)
        except OSError as exc:
            return _errno(exc)

    def flush(self, path: str, handle: Handle) -> int:
        binding.pin_thread_state()
        return 0

    def fsync(self, path: str, datasync: int, handle: Handle) -> int:
        binding.pin_thread_state()
        return 0

    def release(self, path: str, flags: int, handle: Handle) -> int:
        binding.pin_thread_state()
        os.close(handle.fd)
        return 0

    def truncate(self, path: str, length: int) -> int:
        binding.pin_thread_state()
        try:
            os.truncate(self._real(path), length)
            return 0
        except OSError as exc:
            return _errno(exc)

    def ftruncate(self, path: str, length: int, handle: Handle) -> int:
        binding.pin_thread_state()
        try:
            os.ftruncate(handle.fd, length)
            return 0
        except OSError as exc:
            return _errno(exc)

    def _call(self, function: Any, *args: Any) -> int:
        binding.pin_thread_state()
        try:
            function(*args)
            return 0
        except OSError as exc:
            return _errno(exc)

    def mkdir(self, path: str, mode: int) -> int:
        return self._call(os.mkdir, self._real(path), mode)

    def rmdir(self, path: str) -> int:
        return self._call(os.rmdir, self._real(path))

    def unlink(self, path: str) -> int:
        return self._call(os.unlink, self._real(path))

    def rename(self, old: str, new: str) -> int:
        return self._call(os.rename, self._real(old), self._real(new))

    def chmod(self, path: str, mode: int) -> int:
        return self._call(os.chmod, self._real(path), mode)

    def utimens(self, path: str, ts_acc: Any, ts_mod: Any) -> int:
        return 0  # `touch` succeeds; no workload of benchmarks/fuse.py sets times

    def getxattr(self, path: str, name: str, size: int) -> int:
        return -errno.ENOTSUP  # as agentfs answers for names outside user.agentfs.*

    def listxattr(self, path: str, size: int) -> list[str] | int:
        return [] if size else 0

    def statfs(self) -> Any:
        binding.pin_thread_state()
        return os.statvfs(self.source)


def main(argv: list[str]) -> int:
    source, mountpoint = argv
    # The kernel options of an agentfs mount (timeouts, use_ino, atomic_o_trunc, big_writes...).
    options = [option for option in daemon.mount_options(Path(source), read_only=False, allow_other=False,
                                                          timeout=daemon.cache_timeout())
               if not option.startswith(("fsname=", "subtype="))]
    options += ["fsname=passthrough", "subtype=passthrough"]
    binding.serve(Passthrough(source), mountpoint, options)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
