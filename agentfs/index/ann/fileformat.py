"""The page-aligned, checksummed container every ANN index file uses.

Layout (all integers little-endian)::

    page 0        header: magic, format version, file size, where the table of contents is, CRCs
    page 1 ...    sections, each starting on a 4 KiB page boundary, zero-padded to the next one
    last pages    table of contents (JSON): name, offset, length, dtype, shape and CRC-32 of each
                  section, plus free-form ``meta`` (build parameters)

Every byte of the file is covered by a checksum: the header by its own CRC (computed with the CRC
field zeroed), each section *including its padding* by the CRC in the table of contents, and the
table of contents by a CRC in the header. So flipping any byte, truncating or extending the file
is detected when the file is opened with ``verify=True``.

Files are written to a temporary name in the same directory, fsynced and renamed over the old one,
so a reader (or a crash) sees either the whole old file or the whole new one, never a mixture.
Sections are served straight from a read-only ``mmap`` as numpy arrays: opening costs no copy.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import secrets
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from agentfs.index.ann.errors import AnnFormatError

PAGE = 4096
MAGIC = b"AGFS-ANN"
FORMAT_VERSION = 1
# magic, version, flags, file size, toc offset, toc length, toc crc, header crc
_HEADER = struct.Struct("<8sHHQQQII")
# Only plain little-endian numeric types, so a file written here reads the same on any host.
_DTYPES = frozenset({"<f4", "<i2", "<i4", "<i8", "<u8", "|u1", "|i1", "|b1"})
# Verification reads the file with pread in chunks of this size instead of through the mapping,
# so checking a large file does not map (and count as resident) every one of its pages.
_VERIFY_CHUNK = 4 << 20
_TEMP_MARK = ".tmp-"


def padded(length: int) -> int:
    """``length`` rounded up to a whole number of pages."""
    return -(-length // PAGE) * PAGE


def temporary_name(final: Path) -> Path:
    """A unique temporary sibling of ``final`` (same directory, so the rename is atomic)."""
    return final.with_name(f"{final.name}{_TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


def remove_stale_temporaries(final: Path) -> None:
    """Delete temporaries a killed writer left next to ``final``; the real file is never touched."""
    for leftover in final.parent.glob(f"{final.name}{_TEMP_MARK}*"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def fsync_directory(path: Path) -> None:
    """Make a rename in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def drop_cached_pages(fd: int) -> None:
    """Evict a file's clean pages from the page cache (a no-op where unsupported).

    Pages cached by a large write or by readahead sit in large folios (up to 2 MiB here), and a
    page fault maps a whole folio: one 4 KiB read through the mapping would then add up to 2 MiB
    to the process's resident set. Pages faulted in afresh under ``MADV_RANDOM`` come back one by
    one, so the resident set grows by what queries actually read.
    """
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def publish_file(temporary: Path, final: Path) -> None:
    """Atomically move a finished temporary file over ``final`` and make the rename durable."""
    os.replace(temporary, final)
    fsync_directory(final.parent)


class SectionWriter:
    """Streams sections into a temporary file and renames it into place on :meth:`commit`.

    Use as a context manager: leaving the block without ``commit()`` (an exception) removes the
    temporary file, and the previous file, if any, stays untouched.

    Args:
        path: The final file name.
        meta: JSON-able build parameters stored in the table of contents.
    """

    def __init__(self, path: Path, meta: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.meta = dict(meta or {})
        self._temporary = temporary_name(self.path)
        self._file = open(self._temporary, "wb")  # noqa: SIM115 - closed in commit/abort
        self._file.write(b"\0" * PAGE)  # the header, written last
        self._offset = PAGE
        self._sections: list[dict[str, Any]] = []
        self._names: set[str] = set()

    def __enter__(self) -> SectionWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._file is not None:
            self.abort()

    def add(self, name: str, array: np.ndarray) -> None:
        """Write one whole array as a section."""
        array = np.ascontiguousarray(array)
        self.add_chunks(name, array.dtype, array.shape, [array])

    def add_chunks(self, name: str, dtype: Any, shape: tuple[int, ...], chunks: Iterable[np.ndarray]) -> None:
        """Write a section from consecutive chunks (rows of a large array computed piecewise).

        Raises:
            ValueError: a duplicate name, an unsupported dtype, or chunks that do not add up to
                ``shape``.
        """
        dtype = np.dtype(dtype)
        if name in self._names:
            raise ValueError(f"duplicate section {name!r}")
        if dtype.str not in _DTYPES:
            raise ValueError(f"section {name!r}: unsupported dtype {dtype.str}")
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        crc = 0
        written = 0
        for chunk in chunks:
            flat = np.ascontiguousarray(chunk, dtype=dtype).reshape(-1)
            if not flat.size:
                continue
            data = flat.data.cast("B")
            self._file.write(data)
            crc = zlib.crc32(data, crc)
            written += len(data)
        if written != expected:
            raise ValueError(f"section {name!r}: wrote {written} bytes, shape needs {expected}")
        padding = padded(written) - written
        if padding:
            zeros = b"\0" * padding
            self._file.write(zeros)
            crc = zlib.crc32(zeros, crc)
        self._sections.append({
            "name": name, "offset": self._offset, "length": written, "dtype": dtype.str,
            "shape": [int(s) for s in shape], "crc32": crc,
        })
        self._names.add(name)
        self._offset += written + padding

    def commit(self, publish: bool = True) -> Path:
        """Finish the file, flush it to disk and atomically replace ``path`` with it.

        Args:
            publish: Rename over ``path`` now. With False the finished file stays under its
                temporary name (returned) until :func:`publish` is called, so a caller can swap
                it in at a moment of its choosing.

        Returns:
            Where the finished file is.
        """
        toc = json.dumps({"meta": self.meta, "sections": self._sections}, sort_keys=True).encode()
        toc_offset = self._offset
        toc_padded = toc + b"\0" * (padded(len(toc)) - len(toc))
        self._file.write(toc_padded)
        file_size = toc_offset + len(toc_padded)
        header = bytearray(PAGE)
        _HEADER.pack_into(header, 0, MAGIC, FORMAT_VERSION, 0, file_size, toc_offset, len(toc),
                          zlib.crc32(toc_padded), 0)
        struct.pack_into("<I", header, _HEADER.size - 4, zlib.crc32(header))
        self._file.seek(0)
        self._file.write(header)
        self._file.flush()
        os.fsync(self._file.fileno())
        drop_cached_pages(self._file.fileno())
        self._file.close()
        self._file = None  # type: ignore[assignment]
        if not publish:
            return self._temporary
        publish_file(self._temporary, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; ``path`` is left as it was."""
        with contextlib.suppress(OSError):
            self._file.close()
        self._file = None  # type: ignore[assignment]
        with contextlib.suppress(OSError):
            self._temporary.unlink()


class SectionFile:
    """A read-only, memory-mapped view of a file written by :class:`SectionWriter`.

    Args:
        path: The file.
        verify: Check the CRC of every section (reads the whole file once, through ``pread`` so
            the pages are not mapped). The header and table of contents are always checked.

    Raises:
        AnnFormatError: not an index file, another format version, truncated, or a checksum or
            structure mismatch.
        FileNotFoundError: no file at ``path``.
    """

    def __init__(self, path: Path, verify: bool = True) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDONLY)
        try:
            self.size = os.fstat(self._fd).st_size
            header = os.pread(self._fd, PAGE, 0)
            toc = self._read_toc(header)
            self.meta: dict[str, Any] = toc["meta"]
            self._sections = self._check_sections(toc["sections"])
            if verify:
                self._verify_sections()
            drop_cached_pages(self._fd)
            self._map = mmap.mmap(self._fd, self.size, access=mmap.ACCESS_READ)
            if hasattr(mmap, "MADV_RANDOM"):
                # No readahead: it would bring neighbouring pages, in large folios, into RAM.
                self._map.madvise(mmap.MADV_RANDOM)
        except Exception:
            os.close(self._fd)
            raise
        self._arrays: dict[str, np.ndarray] = {}

    def _error(self, what: str) -> AnnFormatError:
        return AnnFormatError(f"{self.path}: {what}", path=str(self.path))

    def _read_toc(self, header: bytes) -> dict[str, Any]:
        if len(header) < _HEADER.size or header[:8] != MAGIC:
            raise self._error("not an agentfs ANN index (bad magic)")
        _magic, version, _flags, file_size, toc_offset, toc_length, toc_crc, header_crc = _HEADER.unpack_from(header)
        if version != FORMAT_VERSION:
            raise self._error(f"format version {version}; this agentfs reads version {FORMAT_VERSION}")
        if len(header) < PAGE:
            raise self._error("truncated header")
        zeroed = bytearray(header)
        struct.pack_into("<I", zeroed, _HEADER.size - 4, 0)
        if zlib.crc32(zeroed) != header_crc:
            raise self._error("header checksum mismatch")
        if file_size != self.size:
            raise self._error(f"file is {self.size} bytes, header says {file_size} (truncated or extended)")
        if toc_offset % PAGE or toc_offset < PAGE or toc_offset + padded(toc_length) != file_size:
            raise self._error("table of contents out of place")
        raw = os.pread(self._fd, padded(toc_length), toc_offset)
        if zlib.crc32(raw) != toc_crc:
            raise self._error("table of contents checksum mismatch")
        try:
            toc = json.loads(raw[:toc_length])
        except (UnicodeDecodeError, ValueError):
            raise self._error("table of contents is not JSON") from None
        if not isinstance(toc, dict) or not isinstance(toc.get("sections"), list) \
                or not isinstance(toc.get("meta"), dict):
            raise self._error("table of contents has the wrong shape")
        self._toc_offset = toc_offset
        return toc

    def _check_sections(self, entries: list[Any]) -> dict[str, dict[str, Any]]:
        sections: dict[str, dict[str, Any]] = {}
        expected_offset = PAGE
        for entry in entries:
            try:
                name, offset, length = str(entry["name"]), int(entry["offset"]), int(entry["length"])
                dtype, shape, crc = str(entry["dtype"]), [int(s) for s in entry["shape"]], int(entry["crc32"])
            except (KeyError, TypeError, ValueError):
                raise self._error("malformed section entry") from None
            if dtype not in _DTYPES or any(s < 0 for s in shape) or name in sections:
                raise self._error(f"section {name!r}: bad dtype, shape or duplicate name")
            if offset != expected_offset or length != int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize:
                raise self._error(f"section {name!r}: offset or length does not match the layout")
            expected_offset = offset + padded(length)
            sections[name] = {"offset": offset, "length": length, "dtype": dtype, "shape": shape, "crc32": crc}
        if expected_offset != self._toc_offset:
            raise self._error("sections do not fill the file")
        return sections

    def _verify_sections(self) -> None:
        # One reused buffer: a fresh multi-megabyte bytes object per chunk would leave the
        # allocator holding megabytes after the open (measured: +4.8 MiB resident for good).
        buffer = bytearray(_VERIFY_CHUNK)
        view = memoryview(buffer)
        for name, section in self._sections.items():
            crc, position, end = 0, section["offset"], section["offset"] + padded(section["length"])
            while position < end:
                got = os.preadv(self._fd, [view[: min(_VERIFY_CHUNK, end - position)]], position)
                if not got:
                    raise self._error(f"section {name!r} is truncated")
                crc = zlib.crc32(view[:got], crc)
                position += got
            if crc != section["crc32"]:
                raise self._error(f"section {name!r} checksum mismatch")

    def names(self) -> list[str]:
        """Section names in file order."""
        return list(self._sections)

    def has(self, name: str) -> bool:
        return name in self._sections

    def array(self, name: str) -> np.ndarray:
        """A read-only numpy view of section ``name`` (backed by the mapping, no copy).

        Raises:
            AnnFormatError: the file has no such section.
        """
        cached = self._arrays.get(name)
        if cached is not None:
            return cached
        section = self._sections.get(name)
        if section is None:
            raise self._error(f"missing section {name!r}")
        count = section["length"] // np.dtype(section["dtype"]).itemsize
        view = np.frombuffer(self._map, dtype=section["dtype"], count=count, offset=section["offset"])
        view = view.reshape(section["shape"])
        self._arrays[name] = view
        return view

    def span(self, name: str) -> tuple[int, int]:
        """``(offset, length)`` of a section in the file (for page accounting)."""
        section = self._sections[name]
        return section["offset"], section["length"]

    def fileno(self) -> int:
        """The open file descriptor (for readers that ``pread`` it directly); -1 once closed."""
        return self._fd

    def read_pages(self, name: str, pages: np.ndarray, out: np.ndarray) -> None:
        """Copy pages ``pages`` (sorted, distinct, counted from the start of section ``name``) into
        ``out`` (a uint8 buffer of at least ``len(pages) * PAGE`` bytes) with ``pread``.

        Unlike reading through the mapping, this leaves nothing mapped in the process: the pages
        stay in the kernel's page cache only, so they never count against the resident set.
        Consecutive pages are read with one call.
        """
        count = len(pages)
        if not count:
            return
        offset, length = self.span(name)
        if int(pages[-1]) * PAGE >= padded(length):
            raise IndexError(f"page {int(pages[-1])} is outside section {name!r}")
        # Runs of consecutive pages: where the page number jumps, a new read starts.
        breaks = np.flatnonzero(np.diff(pages) != 1) + 1
        starts = np.concatenate(([0], breaks)).tolist()
        ends = np.concatenate((breaks, [count])).tolist()
        first_pages = pages[starts].tolist()
        buffer = memoryview(out)  # type: ignore[arg-type]  # an ndarray is a buffer
        for start, end, page in zip(starts, ends, first_pages, strict=True):
            want = (end - start) * PAGE
            got = os.preadv(self._fd, [buffer[start * PAGE : end * PAGE]], offset + page * PAGE)
            if got != want:
                raise self._error(f"section {name!r} is truncated")

    def release_pages(self, name: str | None = None) -> None:
        """Unmap the resident pages of one section (or of the whole file) from this process.

        The pages stay in the kernel's page cache; the next access faults them back in from there
        (or from disk). This is how the memory budget bounds the resident set: file pages mapped
        into the process count as resident, pages only in the page cache do not.
        """
        if self._map is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        if name is None:
            self._map.madvise(mmap.MADV_DONTNEED)
            return
        offset, length = self.span(name)
        if length:
            self._map.madvise(mmap.MADV_DONTNEED, offset, padded(length))

    def close(self) -> None:
        """Unmap and close. Arrays handed out earlier must not be used afterwards."""
        self._arrays.clear()
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                # Someone still holds a view: the mapping is freed with the last view instead.
                pass
            self._map = None  # type: ignore[assignment]
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> SectionFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
