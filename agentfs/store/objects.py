"""Content-addressed object store: every version's bytes, named by their sha256.

Objects are immutable. A new object is written to ``objects/tmp/`` and renamed into place, so a
reader never sees half an object, and writing the same content twice is a no-op. Objects are kept
uncompressed: the mount reads the current version straight from its object with ``pread``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from agentfs.errors import NoSpaceError, StoreError

_CHUNK = 1024 * 1024
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def no_space(exc: BaseException, where: str | Path) -> NoSpaceError | None:
    """The :class:`NoSpaceError` for ``exc`` when it says the disk is full (OSError or SQLite)."""
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        cause = os.strerror(exc.errno)
    elif isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        cause = "SQLite: database or disk is full"
    else:
        return None
    return NoSpaceError(f"no space left on the file system holding {where} ({cause}): the change was not "
                        "applied; free some space and retry")


@contextlib.contextmanager
def _staged(tmp: str | Path, where: str | Path) -> Iterator[None]:
    """Remove a half-written temp file when writing it fails (on a full disk it holds the space
    that is missing), and name a full disk as such."""
    try:
        yield
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        full = no_space(exc, where)
        if full is not None:
            raise full from exc
        raise


def hash_file(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a file's content, read in chunks (an object's name)."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


class ObjectStore:
    """Immutable blobs under ``root/ab/cdef...``."""

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.fsync = fsync
        self._root_str = str(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(exist_ok=True)

    def path_of(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def _name_of(self, digest: str) -> str:
        # A plain string: pathlib's joins cost as much as the open itself on the read path.
        return f"{self._root_str}/{digest[:2]}/{digest[2:]}"

    def exists(self, digest: str) -> bool:
        return self.path_of(digest).exists()

    def temp_path(self) -> Path:
        return self.tmp / uuid.uuid4().hex

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; returns its sha256 hex digest."""
        digest = hashlib.sha256(data).hexdigest()
        target = self._name_of(digest)
        if os.path.exists(target):
            return digest
        tmp = f"{self._root_str}/tmp/{uuid.uuid4().hex}"
        with _staged(tmp, self.root.parent.parent):
            with open(tmp, "wb") as handle:
                handle.write(data)
                if self.fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            self._install(tmp, target)
        return digest

    def put_file(self, source: Path, *, move: bool = False) -> tuple[str, int]:
        """Store a file's content, streaming (never loads it whole). Returns (digest, size).

        Args:
            source: a file on the same file system (for ``move``) or anywhere (copied).
            move: rename ``source`` into the store instead of copying (staged files of the mount).
        """
        hasher = hashlib.sha256()
        size = 0
        with open(source, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
                size += len(chunk)
        digest = hasher.hexdigest()
        target = self.path_of(digest)
        if target.exists():
            if move:
                os.unlink(source)
            return digest, size
        if move:
            if self.fsync:
                fd = os.open(source, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self._install(Path(source), target)
        else:
            tmp = self.temp_path()
            with _staged(tmp, self.root.parent.parent):
                shutil.copyfile(source, tmp)
                self._install(tmp, target)
        return digest, size

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Store what a binary stream yields, without holding it in memory."""
        tmp = self.temp_path()
        hasher = hashlib.sha256()
        size = 0
        with _staged(tmp, self.root.parent.parent):
            with open(tmp, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    hasher.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                if self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
            digest = hasher.hexdigest()
            target = self.path_of(digest)
            if target.exists():
                os.unlink(tmp)
            else:
                self._install(tmp, target)
        return digest, size

    def _install(self, tmp: str | Path, target: str | Path) -> None:
        os.chmod(tmp, 0o444)  # objects are immutable; a stray `echo >>` on one fails loudly
        try:
            os.replace(tmp, target)
        except FileNotFoundError:  # first object of its fan-out folder (a mkdir per commit costs more)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(tmp, target)

    def read(self, digest: str) -> bytes:
        try:
            with open(self._name_of(digest), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise StoreError(f"object {digest[:12]} is missing from the store (run `agentfs verify`)") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self._name_of(digest), "rb")
        except FileNotFoundError:
            raise StoreError(f"object {digest[:12]} is missing from the store (run `agentfs verify`)") from None

    def verify(self, digest: str) -> bool:
        """True when the object exists and its content still hashes to its name."""
        path = self.path_of(digest)
        return path.exists() and hash_file(path) == digest

    def clean_tmp(self, older_than_s: float = 600.0) -> int:
        """Remove temp files left by crashed writers; returns how many.

        Only files older than ``older_than_s`` go: a live writer in another process may be
        filling a younger one right now.
        """
        import time

        removed = 0
        cutoff = time.time() - older_than_s
        for entry in self.tmp.iterdir():
            try:
                if entry.stat().st_mtime > cutoff:
                    continue
                entry.unlink()
                removed += 1
            except OSError:
                pass
        return removed
