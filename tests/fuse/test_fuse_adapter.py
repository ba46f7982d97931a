"""The adapter's own caches, driven directly (no kernel, no mount): every cached answer is dropped
by the change that makes it wrong."""

from __future__ import annotations

import errno
from pathlib import Path

from agentfs.fuse.operations import Operations
from tests.fuse.conftest import make_store


def test_search_entries_are_never_served_from_a_stale_stat(tmp_path: Path) -> None:
    fs = make_store(tmp_path / "ctx")
    try:
        fs.write("/memory/semantic/a.md", "oat milk coffee\n")
        operations = Operations(fs)
        results = "/.search/oat milk/results.json"
        before = operations.getattr(results).st_size  # type: ignore[union-attr]
        fs.write("/memory/semantic/b.md", "oat milk flat white, more oat milk\n")  # ranks anew
        after = operations.getattr(results).st_size  # type: ignore[union-attr]
        assert after > before
    finally:
        fs.close()


def test_does_not_exist_is_cached_until_a_change_under_any_spelling(tmp_path: Path) -> None:
    fs = make_store(tmp_path / "ctx")
    try:
        operations = Operations(fs)
        nfd = "/knowledge/cafe\u0301.md"
        assert operations.getattr(nfd) == -errno.ENOENT
        assert operations.getattr("/knowledge/plain.md") == -errno.ENOENT
        fs.write("/knowledge/caf\u00e9.md", "written under the NFC name\n")
        fs.write("/knowledge/plain.md", "now it exists\n")
        assert operations.getattr(nfd).st_size == 27  # type: ignore[union-attr]
        assert operations.getattr("/knowledge/plain.md").st_size == 14  # type: ignore[union-attr]
        fs.rm("/knowledge/plain.md")
        assert operations.getattr("/knowledge/plain.md") == -errno.ENOENT
    finally:
        fs.close()
