"""Keeps what the index holds in RAM within the budget the user set, and counts pages read.

Two kinds of memory count against the budget:

- *fixed*: arrays the index copies into RAM (centroids, the scan codes when they are cached, the
  tombstone mask, the delta buffer, cached filter masks, scratch buffers). Their size is known.
- *mapped*: pages of the index file the process has touched through ``mmap``. They stay resident
  in the process until unmapped, and the kernel maps more than was read: up to 16 neighbouring
  pages per fault ("fault-around"), or a whole large folio (up to 2 MiB) for pages cached by a
  large write or by readahead (which is why files are evicted from the page cache after writing
  and mapped with ``MADV_RANDOM``: see :func:`~agentfs.index.ann.fileformat.drop_cached_pages`).

After every query the governor reads the process's resident file pages (``/proc/self/statm``,
~2 us) and, when fixed + mapped exceeds the budget, unmaps the full vectors (read at random, least
likely to be reused) and, if that is not enough, the whole file (``MADV_DONTNEED``). Unmapped pages
leave the process but stay in the kernel's page cache, so the next touch is a minor fault (~1 us),
not a disk read, while the machine has memory to spare; under pressure the kernel reclaims them
like any cache. Where ``/proc`` is missing, mapped bytes are estimated from the pages read.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from agentfs.index.ann.fileformat import PAGE

# Pages the kernel may map per page read where it cannot be measured (fault-around is 64 KiB).
_FAULT_AROUND_PAGES = 16
_STATM = "/proc/self/statm"


class _Statm:
    """Reads this process's resident file pages from ``/proc/self/statm`` (kept open)."""

    def __init__(self) -> None:
        self._fd: int | None = None
        try:
            self._fd = os.open(_STATM, os.O_RDONLY)
            self._page = os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            self.close()

    def resident_file_bytes(self) -> int | None:
        """Resident file-backed (and shared) bytes of this process, or None where unknown."""
        if self._fd is None:
            return None
        try:
            return int(os.pread(self._fd, 256, 0).split()[2]) * self._page
        except (OSError, ValueError, IndexError):
            return None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class MemoryGovernor:
    """Bounds fixed + mapped bytes by ``budget_bytes`` by unmapping file pages when needed.

    Args:
        budget_bytes: The user's budget.
        fixed_bytes: Returns the bytes of the in-RAM arrays right now.
        release: Unmaps index pages; called with ``everything=False`` first (only the randomly
            read full vectors), and again with ``everything=True`` if that did not free enough.
    """

    def __init__(self, budget_bytes: int, fixed_bytes: Callable[[], int], release: Callable[[bool], None]) -> None:
        self.budget_bytes = int(budget_bytes)
        self._fixed_bytes = fixed_bytes
        self._release = release
        self._statm = _Statm()
        self._baseline = self._statm.resident_file_bytes()
        self._estimate = 0
        self._fixed = 0
        self.mapped_bytes = 0
        self.releases = 0
        self.queries = 0
        self.pages_read = 0

    def rebase(self) -> None:
        """Unmap everything and take the current resident set as the zero of "mapped"."""
        self._release(True)
        self._baseline = self._statm.resident_file_bytes()
        self._estimate = self.mapped_bytes = 0
        self._fixed = self._fixed_bytes()

    def refresh_fixed(self) -> None:
        """Re-read the fixed bytes (after a write changed the delta buffer or the masks)."""
        self._fixed = self._fixed_bytes()

    def record_query(self, pages: int) -> None:
        """Account one query that read ``pages`` distinct pages; unmap if over budget."""
        self.queries += 1
        self.pages_read += pages
        self._estimate += pages * _FAULT_AROUND_PAGES * PAGE
        room = self.budget_bytes - self._fixed
        if self.measure() <= room:
            return
        self._release(False)
        self.releases += 1
        self._estimate = 0
        if self.measure() > room:
            self._release(True)
            self.measure()

    def measure(self) -> int:
        """Bytes of index file pages mapped into the process."""
        now = self._statm.resident_file_bytes()
        if now is None or self._baseline is None:
            self.mapped_bytes = self._estimate
        else:
            self.mapped_bytes = max(0, now - self._baseline)
        return self.mapped_bytes

    def report(self) -> dict[str, int | float]:
        fixed = self._fixed_bytes()
        mapped = self.measure()
        return {
            "budget_bytes": self.budget_bytes,
            "fixed_bytes": fixed,
            "mapped_bytes": mapped,
            "held_bytes": fixed + mapped,
            "releases": self.releases,
            "queries": self.queries,
            "pages_per_query": self.pages_read / self.queries if self.queries else 0.0,
        }

    def close(self) -> None:
        self._statm.close()
