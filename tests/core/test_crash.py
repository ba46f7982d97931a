"""Kill writers mid-commit, many times; run writers side by side. Nothing acknowledged is lost.

The writer (tests/core/crash_writer.py) prints ``ack <path> <version> <sha256> <op>`` after each
call returned. The parent SIGKILLs it at random moments (``AGENTFS_CRASH_RUNS`` times, 30 by
default), then opens the store and checks every acknowledged version is there with its audit
row, that ``verify()`` passes (commits left pending are repaired at open), and that the plain tree
holds no temp files or half-applied changes (``status()`` is empty).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import agentfs
from agentfs.fs import ContextFS
from tests.helpers import ADMIN, plain_tree

WRITER = Path(__file__).with_name("crash_writer.py")
REPO = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("AGENTFS_CRASH_RUNS", "30"))


def _spawn(args: list[str], ready: str | None, stdin: int | None = None) -> subprocess.Popen[str]:
    """Start a writer and wait for its ``ready`` line (``None``: any ``ready TAG PID`` line)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(WRITER), *args], stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if (line != f"{ready}\n") if ready else not line.startswith("ready "):
        proc.kill()
        raise AssertionError(f"writer did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc


def _start(root: Path, tag: str, mode: str, count: int | None = None) -> subprocess.Popen[str]:
    return _spawn([str(root), tag, mode] + ([str(count)] if count else []), None, stdin=subprocess.PIPE)


def _go(*procs: subprocess.Popen[str]) -> None:
    """Release writers waiting at their start line (all at once, so they overlap)."""
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()


def _acks(output: str) -> list[tuple[str, int, str, str]]:
    out = []
    for line in output.splitlines(keepends=True):
        if line.startswith("ack ") and line.endswith("\n"):  # a line cut by the kill is not an ack
            _, path, version, digest, op = line.split()
            out.append((path, int(version), digest, op))
    return out


def _check_acked(root: Path, acks: list[tuple[str, int, str, str]]) -> None:
    """Every acknowledged version has its version row (same content) and its audit row."""
    conn = sqlite3.connect(root / ".agentfs" / "catalog.sqlite")
    try:
        for path, version, digest, op in acks:
            rows = conn.execute(
                "SELECT v.node_id, v.hash, n.version FROM versions v JOIN nodes n ON n.id = v.node_id "
                "WHERE v.path = ? AND v.version = ?", (path, version)).fetchall()
            expected_hash = None if digest == "-" else digest
            matching = [r for r in rows if r[1] == expected_hash]
            assert matching, f"acknowledged {op} of {path} version {version} is missing"
            assert matching[0][2] >= version
            audited = conn.execute(
                "SELECT count(*) FROM audit WHERE path = ? AND version = ? AND decision = 'allow'",
                (path, version)).fetchone()[0]
            assert audited, f"acknowledged {op} of {path} version {version} has no audit row"
    finally:
        conn.close()


def _check_store(root: Path) -> ContextFS:
    fs = agentfs.open(root, principal=ADMIN)  # opening repairs what a killed writer left pending
    report = fs.verify()
    assert report["ok"], report["problems"]
    assert report["pending"] == 0
    assert fs.status() == []
    catalog = {e.path for e in fs.walk("/") if not e.virtual}
    assert set(plain_tree(root)) == catalog  # no temp file, nothing half-applied
    return fs


def _state(pid: int) -> str:
    """What the kernel says of a process that will not die (for the failure message)."""
    parts = []
    for name in ("status", "wchan", "stack"):
        try:
            text = Path(f"/proc/{pid}/{name}").read_text(errors="replace")
        except OSError as exc:
            text = f"({exc.strerror})"
        if name == "status":
            text = " ".join(line for line in text.splitlines() if line.startswith(("State", "Threads")))
        parts.append(f"{name}: {text.strip()}")
    return "; ".join(parts)


def test_killing_a_writer_mid_commit_loses_nothing_acknowledged(store_root: Path) -> None:
    agentfs.init(store_root, admin=ADMIN).close()
    seed = int(os.environ.get("AGENTFS_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    acks: list[tuple[str, int, str, str]] = []
    for run in range(RUNS):
        writer = _start(store_root, f"run{run}", "mixed")  # opened the store, waits for "go"
        _go(writer)
        time.sleep(rng.uniform(0.0, 0.2))
        writer.kill()
        try:
            output, errors = writer.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"writer run{run} still alive 60 s after SIGKILL (seed {seed}): {_state(writer.pid)}")
        assert writer.returncode == -signal.SIGKILL, \
            f"writer run{run} died on its own (seed {seed}): {errors[-3000:]}"
        acks += _acks(output)
    assert len(acks) > RUNS, f"the writers barely wrote (seed {seed})"
    _check_acked(store_root, acks)
    fs = _check_store(store_root)
    try:
        # the content of the latest acknowledged version of each live file is what is on disk
        latest: dict[str, tuple[int, str]] = {}
        for path, version, digest, _ in acks:
            if version >= latest.get(path, (0, ""))[0]:
                latest[path] = (version, digest)
        for path, (version, _) in latest.items():
            if fs.exists(path) and fs.stat(path).version == version:
                assert fs.read(path) == (store_root / path.lstrip("/")).read_bytes()
    finally:
        fs.close()


def _run_side_by_side(root: Path, mode: str, count: int) -> list[str]:
    procs = [_start(root, tag, mode, count) for tag in ("A", "B")]
    _go(*procs)
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        outputs.append(out)
    return outputs


def test_two_writers_never_lose_an_update(store_root: Path) -> None:
    """Last writer wins, and every version either writer committed is kept in the log."""
    agentfs.init(store_root, admin=ADMIN).close()
    outputs = _run_side_by_side(store_root, "race", 60)
    acks = [a for out in outputs for a in _acks(out)]
    assert len(acks) == 120
    versions = Counter((path, version) for path, version, _, _ in acks)
    assert max(versions.values()) == 1, "two commits got the same version of one file"
    _check_acked(store_root, acks)
    fs = _check_store(store_root)
    try:
        for i in range(3):
            path = f"/knowledge/race/shared-{i}.txt"
            log = fs.log(path)
            assert [v.version for v in log] == list(range(1, 41))
            assert sorted(ver for p, ver, _, _ in acks if p == path) == list(range(1, 41))
    finally:
        fs.close()


def test_if_version_conflicts_raise_and_never_overwrite(store_root: Path) -> None:
    """Two read-modify-write loops on one counter: every increment lands exactly once."""
    agentfs.init(store_root, admin=ADMIN).close()
    outputs = _run_side_by_side(store_root, "cas", 40)
    fs = _check_store(store_root)
    try:
        assert fs.read("/knowledge/counter.txt") == b"80\n"
        log = fs.log("/knowledge/counter.txt")
        assert len(log) == 80
        values = [int(fs.read("/knowledge/counter.txt", version=v.version)) for v in log]
        assert values == list(range(1, 81))
    finally:
        fs.close()
    acks = [a for out in outputs for a in _acks(out)]
    assert sorted(v for _, v, _, _ in acks) == list(range(1, 81))


def test_two_appenders_keep_every_line(store_root: Path) -> None:
    agentfs.init(store_root, admin=ADMIN).close()
    _run_side_by_side(store_root, "append", 50)
    fs = _check_store(store_root)
    try:
        lines = fs.read("/history/shared/turns.md").decode().splitlines()
        assert sorted(lines) == sorted(f"writer {t} line {i}" for t in "AB" for i in range(50))
        for tag in "AB":  # each writer's lines stay in its own order
            own = [line for line in lines if line.startswith(f"writer {tag} ")]
            assert own == [f"writer {tag} line {i}" for i in range(50)]
        assert len(fs.log("/history/shared/turns.md")) == 100
    finally:
        fs.close()


@pytest.mark.parametrize("mode", ["race"])
def test_a_writer_killed_while_another_runs(store_root: Path, mode: str) -> None:
    """A survivor keeps committing while its neighbour dies mid-commit; both sets of acks hold."""
    agentfs.init(store_root, admin=ADMIN).close()
    survivor = _start(store_root, "S", mode, 150)
    victim = _start(store_root, "V", mode)
    _go(survivor, victim)
    time.sleep(0.3)
    victim.send_signal(signal.SIGKILL)
    victim_out, _ = victim.communicate(timeout=30)
    survivor_out, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, err[-3000:]
    acks = _acks(victim_out) + _acks(survivor_out)
    assert Counter((p, v) for p, v, _, _ in acks).most_common(1)[0][1] == 1
    _check_acked(store_root, acks)
    _check_store(store_root).close()


def test_sync_full_holds_from_init_and_after_reopening(store_root: Path) -> None:
    """``init --sync full`` fsyncs every commit, in the handle init returns and after reopening."""
    for fs in (agentfs.init(store_root, admin=ADMIN, sync="full"), None):
        fs = fs or agentfs.open(store_root, principal=ADMIN)
        try:
            store = fs._core.store
            assert store.sync == "full" and store.objects.fsync
            assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        finally:
            fs.close()


def test_opening_removes_old_temp_files_of_killed_writers(store_root: Path) -> None:
    """A writer killed while filling an object's temp file leaves it behind; the next open
    removes it once it is old enough that no live writer can still be filling it."""
    agentfs.init(store_root, admin=ADMIN).close()
    tmp = store_root / ".agentfs" / "objects" / "tmp"
    old, young = tmp / "old-leftover", tmp / "young-in-flight"
    old.write_bytes(b"half an object")
    young.write_bytes(b"a live writer's")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    fs = agentfs.open(store_root, principal=ADMIN)
    try:
        assert not old.exists() and young.exists()
        assert fs.verify()["ok"]
    finally:
        fs.close()
