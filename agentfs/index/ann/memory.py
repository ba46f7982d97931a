"""Keeps what the index holds in RAM within the budget the user set, and counts pages read.

Two kinds of memory count against the budget:

- *fixed*: arrays the index copies into RAM (centroids, the tombstone mask, the delta buffer,
  cached filter masks). Their size is known exactly.
- *mapped*: pages of the index files the process has touched through ``mmap``. Linux maps up to
  16 neighbouring pages per fault ("fault-around"), so a query that reads 200 scattered pages can
  map 3 MiB. Those pages stay resident in the process until unmapped.

When fixed + mapped exceeds the budget, the governor unmaps the files (``MADV_DONTNEED``): the
pages leave the process but stay in the kernel's page cache, so the next touch is a minor fault
(~0.5 us), not a disk read, as long as the machine has memory to spare; under pressure the kernel
reclaims them like any cache. Mapped bytes are read from ``/proc/self/statm`` (resident file
pages) rather than estimated, and only when an upper-bound estimate says the budget may be near,
so a query normally pays no system call for this.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from agentfs.index.ann.fileformat import PAGE

# Upper bound of pages the kernel maps per fault (its default fault-around window is 64 KiB).
_FAULT_AROUND_PAGES = 16
_STATM = "/proc/self/statm"


def resident_file_bytes() -> int | None:
    """Resident file-backed (and shared) bytes of this process, or None where unknown."""
    try:
        with open(_STATM, "rb") as handle:
            fields = handle.read().split()
        return int(fields[2]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class MemoryGovernor:
    """Bounds fixed + mapped bytes by ``budget_bytes`` by unmapping file pages when needed.

    Args:
        budget_bytes: The user's budget.
        fixed_bytes: Returns the bytes of the in-RAM arrays right now.
        release: Unmaps index pages; called with ``everything=False`` first (only the randomly
            read sections, whose pages are least likely to be reused), and again with
            ``everything=True`` if that did not free enough.
    """

    def __init__(self, budget_bytes: int, fixed_bytes: Callable[[], int], release: Callable[[bool], None]) -> None:
        self.budget_bytes = int(budget_bytes)
        self._fixed_bytes = fixed_bytes
        self._release = release
        self._baseline = resident_file_bytes()
        self._estimate = 0
        # Room left for mapped pages; refreshed only when the estimate reaches it.
        self._room = 0
        self.mapped_bytes = 0
        self.releases = 0
        self.queries = 0
        self.pages_read = 0

    def rebase(self) -> None:
        """Forget mapped pages (after files were closed and reopened)."""
        self._release(True)
        self._baseline = resident_file_bytes()
        self._estimate = self.mapped_bytes = 0

    def record_query(self, pages: int) -> None:
        """Account one query that touched ``pages`` distinct pages; unmap if over budget."""
        self.queries += 1
        self.pages_read += pages
        self._estimate += pages * _FAULT_AROUND_PAGES * PAGE
        if self._estimate <= self._room:
            return
        self._room = self.budget_bytes - self._fixed_bytes()
        if self._estimate <= self._room:
            return
        room = self._room
        mapped = self.measure()
        if mapped > room:
            self._release(False)
            self.releases += 1
            mapped = self.measure()
            if mapped > room:
                self._release(True)
                mapped = self.measure()
        self._estimate = mapped

    def measure(self) -> int:
        """Bytes of index file pages mapped into the process (estimated where /proc is missing)."""
        now = resident_file_bytes()
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
