"""Open files of the mount: reads from immutable objects, writes staged until the file is closed.

A file opened for reading reads the content-addressed object of the version it found (objects
never change, so ``pread`` on them needs no locking). A file opened for writing gets a private
staging file on the store's file system: the current content is copied in on the first write
(unless opened with ``O_TRUNC`` or just created), ``write``/``truncate`` act on it, and the
adapter commits it as **one** version when the file is flushed (closed) or fsync'ed, never per
``write()``. With ``O_APPEND`` only the new bytes are staged and committed as an append, the one
change ``/history`` allows.

Staging files are anonymous (``O_TMPFILE``): a crashed daemon leaves nothing behind, and the
commit reads them through ``/proc/self/fd``.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from agentfs.fuse.attrs import Attr

_COPY_CHUNK = 1 << 20


def anonymous_file(directory: Path) -> int:
    """A read-write file with no name, on the file system of ``directory``."""
    try:
        return os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except (AttributeError, OSError):
        path = directory / f".stage-{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
        os.unlink(path)
        return fd


class OpenFile:
    """One ``open()`` of a file through the mount (fuse-python's file handle object).

    ``keep_cache`` and ``direct_io`` are read by fuse-python when the file is opened.
    """

    direct_io = False

    def __init__(
        self,
        path: str,
        attr: Attr,
        *,
        loader: Callable[[str, int | None], BinaryIO],
        version: int | None = None,
        staging_dir: Path,
        writable: bool = False,
        append: bool = False,
        created: bool = False,
        keep_cache: bool = True,
    ) -> None:
        self.path = path  # where it was opened; operations get the current path from libfuse
        self.attr = attr
        self.writable = writable
        self.append = append
        self.created = created  # not in the store yet: the first commit creates it
        self.keep_cache = keep_cache
        self.mode: int | None = None  # mode bits to create the file with
        self.dirty = created  # a created file is committed even when nothing was written
        # Bytes were written (or the file truncated) since the last commit. Shells open, dup2 and
        # close a redirection's fd before writing, so a flush before any write must not commit.
        self.written = False
        self.orphaned = False  # unlinked or overwritten while open: its bytes go nowhere
        self.closed = False  # released: its staging file is gone
        self.call: str | None = None  # a tool's ``call`` file: the tool its written bytes run
        self.lock = threading.Lock()
        self._loader = loader  # (current path, version or None for the head) -> content
        self.version = version  # the version read, fixed at open: reads are a consistent snapshot
        self._staging_dir = staging_dir
        self._source: BinaryIO | None = None
        self._source_fd: int | None = None
        self._source_bytes: bytes | None = None
        self.base_size = attr.st_size  # committed content when opened (appends go after it)
        self._fd: int | None = None  # the staging file
        self.modified = time.time()

    # --- reading --------------------------------------------------------------------------------

    def load(self, path: str) -> None:
        """Open the content read so far lazily (a warm ``cat`` never needs it: the kernel's page
        cache answers). ``path`` is the file's current name, which libfuse passes to each call."""
        if self._source is not None or self._source_bytes is not None:
            return
        if self.created:
            self._source_bytes = b""
            return
        source = self._loader(path, self.version)
        try:
            self._source_fd = source.fileno()
            self._source = source
        except (OSError, io.UnsupportedOperation):  # virtual content (search results) is in memory
            self._source_bytes = source.read()
            source.close()

    @property
    def loaded(self) -> bool:
        """Whether this handle served reads from the store (a warm ``cat`` is served by the page
        cache and never does)."""
        return self._source is not None or self._source_bytes is not None

    def _read_source(self, path: str, size: int, offset: int) -> bytes:
        self.load(path)
        if self._source_fd is not None:
            return os.pread(self._source_fd, size, offset)
        return (self._source_bytes or b"")[offset:offset + size]

    def read(self, path: str, size: int, offset: int) -> bytes:
        if self._fd is None:
            return self._read_source(path, size, offset)
        if not self.append:
            return os.pread(self._fd, size, offset)
        head = self._read_source(path, min(size, self.base_size - offset), offset) if offset < self.base_size else b""
        if len(head) == size:
            return head
        start = max(0, offset - self.base_size)
        return head + os.pread(self._fd, size - len(head), start)

    # --- writing --------------------------------------------------------------------------------

    def _stage(self, path: str, *, copy: bool) -> int:
        if self._fd is None:
            fd = anonymous_file(self._staging_dir)
            if copy and not self.append and not self.created:
                self._copy_source_into(path, fd)
            self._fd = fd
        return self._fd

    def _copy_source_into(self, path: str, fd: int) -> None:
        self.load(path)
        if self._source_fd is None:
            os.write(fd, self._source_bytes or b"")
            return
        offset = 0
        while True:
            try:
                copied = os.copy_file_range(self._source_fd, fd, _COPY_CHUNK, offset, offset)
            except OSError:
                copied = -1
            if copied < 0:  # no copy_file_range here: plain reads and writes
                chunk = os.pread(self._source_fd, _COPY_CHUNK, offset)
                copied = len(chunk)
                if copied:
                    os.pwrite(fd, chunk, offset)
            if copied == 0:
                return
            offset += copied

    def truncate_on_open(self) -> None:
        """``O_TRUNC``: start from empty content (a change only if there was content)."""
        if self.append:
            self._become_whole(self.path)
        self._stage(self.path, copy=False)
        os.ftruncate(self._fd, 0)  # type: ignore[arg-type]
        self.dirty = self.dirty or self.base_size > 0
        self.modified = time.time()

    def write(self, path: str, data: bytes, offset: int) -> int:
        fd = self._stage(path, copy=True)
        if self.append:
            # O_APPEND writes go to the end, whatever offset the kernel computed from its cache.
            os.pwrite(fd, data, os.fstat(fd).st_size)
        else:
            os.pwrite(fd, data, offset)
        self.dirty = self.written = True
        self.modified = time.time()
        return len(data)

    def truncate(self, path: str, length: int) -> None:
        if self.append:
            self._become_whole(path)
        os.ftruncate(self._stage(path, copy=True), length)
        self.dirty = self.written = True
        self.modified = time.time()

    def _become_whole(self, path: str) -> None:
        """Turn an append handle into one that stages the whole content (before a truncate)."""
        appended = b""
        if self._fd is not None:
            size = os.fstat(self._fd).st_size
            appended = os.pread(self._fd, size, 0)
            os.close(self._fd)
            self._fd = None
        self.append = False
        fd = self._stage(path, copy=True)
        os.pwrite(fd, appended, self.base_size)

    def size(self) -> int:
        if self._fd is None:
            return self.base_size
        staged = os.fstat(self._fd).st_size
        return self.base_size + staged if self.append else staged

    def current_attr(self) -> Attr:
        """Attributes while open: the staged size once anything was staged."""
        if self._fd is None and not self.created:
            return self.attr
        return self.attr.resized(self.size(), self.modified)

    # --- committing -----------------------------------------------------------------------------

    def staged_path(self, path: str) -> Path:
        """The staging file by name, for the commit to read (valid while this handle is open)."""
        return Path(f"/proc/self/fd/{self._stage(path, copy=True)}")

    def appended(self) -> bytes:
        """The bytes an append handle added since its last commit."""
        if self._fd is None:
            return b""
        return os.pread(self._fd, os.fstat(self._fd).st_size, 0)

    def committed(self, attr: Attr) -> None:
        """The staged content is now the head version, described by ``attr``."""
        if self.append and self._fd is not None:
            self.base_size += os.fstat(self._fd).st_size
            os.ftruncate(self._fd, 0)
            self._drop_source()  # the object it read is no longer the head
        self.version = None  # from now on this handle's base is the head
        self.attr = attr
        self.created = False
        self.dirty = self.written = False

    def staged_bytes(self) -> bytes:
        """What this handle staged (a ``call`` handle's arguments so far)."""
        return b"" if self._fd is None else os.pread(self._fd, os.fstat(self._fd).st_size, 0)

    def take_staged(self) -> bytes:
        """A ``call`` handle's written arguments, emptied for the next call on the same handle."""
        data = self.staged_bytes()
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
        self.dirty = self.written = False
        return data

    def _drop_source(self) -> None:
        if self._source is not None:
            self._source.close()
        self._source = None
        self._source_fd = None
        self._source_bytes = None

    def close(self) -> None:
        self.closed = True
        self._drop_source()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
