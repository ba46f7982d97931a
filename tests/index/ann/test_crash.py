"""A killed build, compaction or append leaves the previous index usable, with all it had."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from agentfs.index.ann import AnnIndex
from tests.index.ann.conftest import SMALL_LISTS, dataset

ROOT = Path(__file__).resolve().parents[3]


def _start(folder: Path, action: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "tests.index.ann.crash_worker", str(folder), action, *extra],
                               stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert process.stdout is not None and process.stdout.readline().strip() == "started"
    return process


def _snapshot(folder: Path, queries: np.ndarray) -> tuple[int, list[list[str]]]:
    index = AnnIndex.open(folder)
    try:
        return index.count(), [[h.id for h in row] for row in index.search(queries, 5, nprobe=1000)]
    finally:
        index.close()


@pytest.fixture
def previous(tmp_path: Path) -> tuple[Path, np.ndarray, tuple[int, list[list[str]]]]:
    ids, vectors, metas = dataset(1500)
    index = AnnIndex.build(tmp_path, ids[:1400], vectors[:1400], metas[:1400], params=SMALL_LISTS)
    index.upsert(ids[1400:], vectors[1400:], metas[1400:])
    index.delete(ids[:5])
    index.close()
    queries = vectors[::150]
    return tmp_path, queries, _snapshot(tmp_path, queries)


@pytest.mark.parametrize("wait_for", ["training", "writing"])
def test_killed_build_leaves_the_previous_index(previous, wait_for: str) -> None:
    folder, queries, before = previous
    process = _start(folder, "build")
    deadline = time.monotonic() + 120
    if wait_for == "writing":
        while not list(folder.glob("main.ann.tmp-*")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
    else:
        time.sleep(0.3)
    assert process.poll() is None, "the build finished before it could be killed; make it larger"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _snapshot(folder, queries) == before
    # The next writer cleans up what the killed one left.
    ids, vectors, metas = dataset(300, seed=4)
    AnnIndex.build(folder, ids, vectors, metas).close()
    assert not list(folder.glob("*.tmp-*"))
    assert AnnIndex.open(folder).count() == 300


def test_killed_compaction_leaves_the_previous_index(previous) -> None:
    folder, queries, before = previous
    for _attempt in range(6):
        process = _start(folder, "compact")
        time.sleep(0.15 * _attempt)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert _snapshot(folder, queries) == before


@pytest.mark.parametrize("action", ["build", "compact"])
def test_killed_between_main_file_and_log_swap(previous, action: str) -> None:
    """The one moment two files disagree: the new main file is in, the old log still there."""
    folder, queries, before = previous
    process = _start(folder, action, "after-main")
    process.wait(timeout=300)
    assert process.returncode == -signal.SIGKILL
    if action == "compact":
        assert _snapshot(folder, queries) == before  # same content, now in the new main file
    reopened = AnnIndex.open(folder)
    try:
        if action == "compact":
            assert reopened.info()["delta_rows"] == 0 and reopened.info()["tombstones"] == 0
        else:
            assert reopened.count() == 30000  # the build replaced everything; the old log adds nothing
            assert reopened.dim == 64
    finally:
        reopened.close()


def test_killed_append_keeps_every_acknowledged_batch(previous) -> None:
    folder, _, (count_before, _) = previous
    process = _start(folder, "append")
    acknowledged = 0
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("ack"):
            acknowledged = int(line.split()[1])
            if acknowledged >= 100:
                process.send_signal(signal.SIGKILL)
                break
    process.wait()
    index = AnnIndex.open(folder)
    try:
        assert index.count() >= count_before + acknowledged
    finally:
        index.close()


def test_torn_log_tail_is_ignored_then_overwritten(previous) -> None:
    folder, _queries, (count_before, _) = previous
    index = AnnIndex.open(folder)
    ids, vectors, metas = dataset(20, seed=12)
    index.upsert(ids[:10], vectors[:10], metas[:10])
    index.upsert(ids[10:], vectors[10:], metas[10:])
    index.close()
    log = folder / "delta.log"
    log.write_bytes(log.read_bytes()[:-7])  # the second batch is torn
    index = AnnIndex.open(folder)
    try:
        assert index.count() == count_before + 10
        index.upsert(ids[10:], vectors[10:], metas[10:])
        assert index.count() == count_before + 20
    finally:
        index.close()
    assert AnnIndex.open(folder).count() == count_before + 20
