"""Crash-resume of the indexer: SIGKILL a sync mid-way, sync again, and the index equals the catalog.

The indexer runs in a child process with a slow embedder, so the kill lands inside a round (between
the backend write and the state commit, or mid-embedding). After every kill a fresh sync must
leave no missing, stale or extra file and no orphan vector (``index verify`` clean), including
when the crashed round had written *more* chunks than the version that follows.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import agentfs
from agentfs.fs import ContextFS
from tests.helpers import ADMIN

REPO = Path(__file__).resolve().parents[2]
SYNC = "import agentfs, sys\nfs = agentfs.open(sys.argv[1], principal='user:admin')\nfs.service('search').sync(fs)\n"
# The narrowest window: the backend holds a round's vectors, state.sqlite does not know yet.
SYNC_DYING_BEFORE_RECORD = (
    "import os, signal, sys\n"
    "from agentfs.index.state import IndexState\n"
    "original = IndexState.record\n"
    "calls = []\n"
    "def record(self, **kwargs):\n"
    "    calls.append(1)\n"
    "    if len(calls) == int(sys.argv[2]):\n"
    "        os.kill(os.getpid(), signal.SIGKILL)\n"
    "    return original(self, **kwargs)\n"
    "IndexState.record = record\n"
) + SYNC


def _rounds(root: Path) -> int:
    """The index generation: it goes up by one with every round the indexer commits."""
    path = root / ".agentfs" / "index" / "state.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
            return int(row[0]) if row else 0
    except sqlite3.Error:
        return 0


def _kill_mid_sync(root: Path, *, after_rounds: int, delay: float | None) -> None:
    """Run a sync in a child and SIGKILL it: ``delay`` seconds after ``after_rounds`` more rounds
    committed, or (``delay=None``) by itself right before it records round ``after_rounds``."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = SYNC_DYING_BEFORE_RECORD if delay is None else SYNC
    args = [str(after_rounds)] if delay is None else []
    after_rounds += _rounds(root)
    child = subprocess.Popen([sys.executable, "-c", script, str(root), *args], cwd=REPO, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if delay is None:
        child.wait(timeout=300)
        child.stderr.close()
        assert child.returncode == -signal.SIGKILL, "the child finished its sync instead of dying"
        return
    try:
        deadline = time.monotonic() + 120
        while _rounds(root) < after_rounds and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        if child.poll() is not None:
            pytest.fail(f"the sync finished before it could be killed: {child.stderr.read()[-500:]!r}")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL


def _check_clean(fs: ContextFS) -> None:
    service = fs.service("search")
    report = service.sync(fs)
    assert report.lag == 0
    verify = service.verify(fs)
    assert verify.ok, verify.problems
    live = [n for n in fs._core.store.live_files() if n.kind == "file"]
    assert verify.documents == len(live)
    assert service.status(fs)["backend_info"]["vectors"] == verify.chunks


def _long(i: int, paragraphs: int) -> str:
    return f"# File {i}\n\n" + "\n\n".join(
        f"Paragraph {p} of file {i}: " + " ".join(f"word{i}x{p}x{w}" for w in range(120)) for p in range(paragraphs)
    ) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("delay", [None, 0.1], ids=["before-record", "mid-round"])
def test_sigkill_during_bootstrap_and_during_event_sync(tmp_path: Path, delay: float | None) -> None:
    root = tmp_path / "ctx"
    fs = agentfs.init(root, admin=ADMIN)
    try:
        fs.service("search").configure(fs, embedder="tests.index.embedders:SlowHash")
        fs.write_many([(f"/knowledge/f{i}.md", _long(i, 1)) for i in range(150)])
        fs.close()
        _kill_mid_sync(root, after_rounds=2, delay=delay)
        fs = agentfs.open(root, principal=ADMIN)
        _check_clean(fs)

        # Now the outbox path: rewrites with more chunks, deletes, renames, a restore.
        fs.write_many([(f"/knowledge/f{i}.md", _long(i, 4)) for i in range(0, 100)])
        for i in range(100, 120):
            fs.rm(f"/knowledge/f{i}.md")
        for i in range(120, 140):
            fs.mv(f"/knowledge/f{i}.md", f"/memory/semantic/moved{i}.md")
        fs.restore("/knowledge/f110.md", 1)
        fs.close()
        _kill_mid_sync(root, after_rounds=1, delay=delay)
        fs = agentfs.open(root, principal=ADMIN)
        # Versions with fewer chunks than the crashed round wrote: stale chunk ids must go.
        fs.write_many([(f"/knowledge/f{i}.md", _long(i, 1)) for i in range(0, 100)])
        _check_clean(fs)
        hits = fs.search("word7x0x3", k=1)
        assert [(h.path, h.lexical_rank) for h in hits] == [("/knowledge/f7.md", 1)]
        assert hits[0].dense_rank is not None
    finally:
        fs.close()
