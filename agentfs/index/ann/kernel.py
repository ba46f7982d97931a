"""The optional compiled scan kernel: built on first use with the system C compiler, else numpy.

In numpy a scan of int8 codes costs two passes over memory (convert a block to float32, then a
BLAS product) plus a gather of the entries, ~30 ns per 128-byte entry on an idle core of this
machine kind; the C loop (:mod:`agentfs.index.ann.kernel_source`) reads each entry once, in place,
at a few ns. Both paths compute the same integer sums, so they return identical scores.

The library is compiled with the system ``cc`` (``$CC``, then ``cc``, then ``gcc``) and plain
``-O3`` (per-CPU code paths are chosen inside it at load time, never ``-march=native``) into
``$AGENTFS_CACHE_DIR`` or ``$XDG_CACHE_HOME/agentfs`` (default ``~/.cache/agentfs``) as
``ann-kernel-<hash>.so``, where the hash covers the source, the flags and the architecture. It
is written to a temporary name and renamed, so concurrent builders never load a partial file.
When there is no compiler, the build fails or the library does not load, the index uses numpy
and logs why once.

``AGENTFS_ANN_KERNEL`` chooses: ``c`` (the compiled kernel, numpy with a warning if it cannot be
built), ``numpy`` (never compile), unset or ``auto`` (``c`` when it can be built).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from agentfs.index.ann.kernel_source import C_SOURCE

log = logging.getLogger(__name__)

ENV_CHOICE = "AGENTFS_ANN_KERNEL"
ENV_CACHE = "AGENTFS_CACHE_DIR"
FLAGS = ("-O3", "-shared", "-fPIC", "-std=c99", "-fno-strict-aliasing")
ABI_VERSION = 2
_BUILD_TIMEOUT_S = 120

_i64 = ctypes.c_int64
_ptr = ctypes.c_void_p


class Kernel:
    """The loaded library, with numpy-friendly wrappers."""

    def __init__(self, library: ctypes.CDLL, path: Path) -> None:
        self.path = path
        self._scan = library.agentfs_ann_scan_lists
        self._scan.restype = _i64
        self._scan.argtypes = [_ptr, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _i64, _ptr, _ptr, _ptr]
        self._rows = library.agentfs_ann_score_rows
        self._rows.restype = None
        self._rows.argtypes = [_ptr, _i64, _i64, _ptr, _i64, _ptr, _ptr]
        self._read = library.agentfs_ann_read_rows
        self._read.restype = _i64
        self._read.argtypes = [ctypes.c_int, _i64, _i64, _i64, _i64, _ptr, _i64, _ptr]

    def scan_lists(self, codes: np.ndarray, rows: np.ndarray, offsets: np.ndarray, sizes: np.ndarray,
                   lists: np.ndarray, query: np.ndarray, scores: np.ndarray, out_rows: np.ndarray) -> int:
        """Score every entry of ``lists`` into ``scores`` (and its row into ``out_rows``).

        Args:
            codes: ``(entries, stride)`` int8, C-contiguous (the mapping or a copy).
            rows: ``(entries,)`` int32, the row of each entry.
            offsets: int64, first entry of each list; ``sizes``: int64, entries of each list.
            lists: int64, the lists to scan, in order.
            query: int16 of length ``n <= stride``: the first ``n`` bytes of an entry are scored.
            scores: float32 output, at least as long as the lists' entries; ``out_rows``: int32.

        Returns:
            Entries written.
        """
        _check(codes, np.int8, 2)
        _check(rows, np.int32, 1)
        _check(offsets, np.int64, 1)
        _check(sizes, np.int64, 1)
        _check(lists, np.int64, 1)
        _check(query, np.int16, 1)
        _check(scores, np.float32, 1, writeable=True)
        _check(out_rows, np.int32, 1, writeable=True)
        if len(query) > codes.shape[1] or len(rows) != len(codes):
            raise ValueError("scan_lists: query longer than an entry, or rows do not match codes")
        total = int(sizes[lists].sum()) if len(lists) else 0
        if len(scores) < total or len(out_rows) < total:
            raise ValueError("scan_lists: output buffers too short")
        if len(lists) and (lists.min() < 0 or lists.max() >= len(sizes) or len(offsets) < len(sizes)
                           or np.any(offsets[lists] + sizes[lists] > len(codes)) or np.any(offsets[lists] < 0)):
            raise ValueError("scan_lists: a list lies outside the codes")
        return int(self._scan(codes.ctypes.data, codes.shape[1], len(query), rows.ctypes.data, offsets.ctypes.data,
                              sizes.ctypes.data, lists.ctypes.data, len(lists), query.ctypes.data,
                              scores.ctypes.data, out_rows.ctypes.data))

    def score_rows(self, codes: np.ndarray, picked: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Scores of rows ``picked`` (int32) of ``codes`` (``(rows, stride)`` int8) for ``query`` (int16)."""
        _check(codes, np.int8, 2)
        _check(picked, np.int32, 1)
        _check(query, np.int16, 1)
        if len(query) > codes.shape[1]:
            raise ValueError("score_rows: query longer than a row")
        if len(picked) and (picked.min() < 0 or picked.max() >= len(codes)):
            raise ValueError("score_rows: a row lies outside the codes")
        scores = np.empty(len(picked), dtype=np.float32)
        self._rows(codes.ctypes.data, codes.shape[1], len(query), picked.ctypes.data, len(picked),
                   query.ctypes.data, scores.ctypes.data)
        return scores


    def read_rows(self, fd: int, base: int, page: int, per_page: int, rows: np.ndarray, out: np.ndarray) -> None:
        """Read rows ``rows`` (int64) of a paged section of file ``fd`` into ``out`` (one row each).

        The section starts at byte ``base`` and holds ``per_page`` whole rows per ``page`` bytes;
        a row is one row of ``out`` (C-contiguous, any dtype).

        Raises:
            OSError: a row could not be read in full (a truncated file).
        """
        _check(rows, np.int64, 1)
        if out.ndim != 2 or not out.flags.c_contiguous or not out.flags.writeable or len(out) < len(rows):
            raise TypeError("read_rows: out must be a writeable C-contiguous matrix with a row per row read")
        row_bytes = out.shape[1] * out.itemsize
        if per_page <= 0 or row_bytes * per_page > page or (len(rows) and rows.min() < 0):
            raise ValueError("read_rows: rows do not fit the page layout")
        failed = int(self._read(fd, base, page, per_page, row_bytes, rows.ctypes.data, len(rows), out.ctypes.data))
        if failed:
            error = ctypes.get_errno()
            raise OSError(error or 5, f"short read of row {int(rows[-1 - failed])}")


def _check(array: np.ndarray, dtype: type, ndim: int, writeable: bool = False) -> None:
    # The C side trusts pointers and strides: anything else would read the wrong bytes.
    if array.dtype != dtype or array.ndim != ndim or not array.flags.c_contiguous \
            or (writeable and not array.flags.writeable):
        raise TypeError(f"kernel: expected a C-contiguous {np.dtype(dtype).name} array of {ndim} dimensions, "
                        f"got {array.dtype} {array.shape}")


def cache_dir() -> Path:
    """Where compiled kernels are kept (per user)."""
    explicit = os.environ.get(ENV_CACHE)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "agentfs"


def source_hash() -> str:
    """What keys the cached library: the source, the flags, the ABI and the architecture."""
    key = "\0".join([C_SOURCE, " ".join(FLAGS), str(ABI_VERSION), platform.machine(), platform.system()])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def library_path(directory: Path | None = None) -> Path:
    return (directory or cache_dir()) / f"ann-kernel-{source_hash()}.so"


def find_compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name:
            found = shutil.which(name)
            if found:
                return found
    return None


def build(directory: Path | None = None, compiler: str | None = None) -> Path:
    """Compile the kernel into the cache (unless it is there) and return the library's path.

    Raises:
        RuntimeError: no compiler, or the compiler failed.
    """
    target = library_path(directory)
    if target.is_file():
        return target
    compiler = compiler or find_compiler()
    if compiler is None:
        raise RuntimeError("no C compiler found ($CC, cc, gcc)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ann-kernel-", dir=target.parent) as work:
        source = Path(work) / "kernel.c"
        source.write_text(C_SOURCE, encoding="utf-8")
        built = Path(work) / "kernel.so"
        try:
            completed = subprocess.run([compiler, *FLAGS, "-o", str(built), str(source)], capture_output=True,
                                       text=True, timeout=_BUILD_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"{compiler} failed: {exc}") from None
        if completed.returncode != 0 or not built.is_file():
            raise RuntimeError(f"{compiler} failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
        # Atomic: a concurrent loader sees no file or the whole file, never a partial one.
        os.replace(built, target)
    return target


def load(path: Path) -> Kernel:
    """Load a compiled kernel.

    Raises:
        OSError: not loadable; RuntimeError: built from another ABI.
    """
    library = ctypes.CDLL(str(path), use_errno=True)
    abi = library.agentfs_ann_abi
    abi.restype = ctypes.c_int
    if abi() != ABI_VERSION:
        raise RuntimeError(f"{path}: kernel ABI {abi()}, expected {ABI_VERSION}")
    return Kernel(library, path)


_lock = threading.Lock()
_loaded: dict[tuple[str, str], Kernel | None] = {}
_reported: set[str] = set()


def choice() -> str:
    """The kernel asked for: ``c``, ``numpy`` or ``auto`` (from ``AGENTFS_ANN_KERNEL``)."""
    value = os.environ.get(ENV_CHOICE, "auto").strip().lower() or "auto"
    if value not in ("c", "numpy", "auto"):
        _report_once(f"choice:{value}", f"{ENV_CHOICE}={value!r} is not c, numpy or auto; using auto")
        return "auto"
    return value


def get() -> Kernel | None:
    """The compiled kernel to use, or None for numpy (decided once per cache directory and choice)."""
    wanted = choice()
    if wanted == "numpy":
        return None
    key = (str(cache_dir()), wanted)
    with _lock:
        if key not in _loaded:
            kernel = None
            try:
                kernel = load(build())
            except (OSError, RuntimeError, AttributeError) as exc:
                _report_once(f"build:{key}", f"ANN scan kernel unavailable, using numpy: {exc}")
            _loaded[key] = kernel
        return _loaded[key]


def name() -> str:
    """``c`` or ``numpy``: what searches use now."""
    return "numpy" if get() is None else "c"


def reset() -> None:
    """Forget loaded kernels (the choice is made again on next use)."""
    with _lock:
        _loaded.clear()
        _reported.clear()


def _report_once(key: str, message: str, level: int = logging.WARNING) -> None:
    if key not in _reported:
        _reported.add(key)
        log.log(level, message)
