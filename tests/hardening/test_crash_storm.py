"""A write storm by three principals in one API process, SIGKILLed at random points, many times.

After every kill the store is opened again (which repairs pending commits) and checked through the
API: each acknowledged write is there with its content, its author and an ``allow`` audit row, and
``verify()`` is clean. After the last run the semantic index catches up: ``agentfs index sync`` then
``agentfs index verify`` exits 0. ``AGENTFS_STORM_RUNS`` sets the number of runs (20 by default).
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import agentfs
from agentfs.fs import ContextFS
from tests.helpers import ADMIN, as_agent

WRITER = Path(__file__).with_name("storm_writer.py")
REPO = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("AGENTFS_STORM_RUNS", "20"))
CLI = [sys.executable, "-c", "from agentfs.cli.app import main; main()"]


def storm(root: Path, seed: int, kill_after: float) -> list[tuple[str, str, int, str]]:
    """Run the writer, SIGKILL it ``kill_after`` seconds after it is ready; return its acks."""
    proc = subprocess.Popen([sys.executable, str(WRITER), str(root), str(seed)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first == "ready\n", f"writer did not start: {first!r} {proc.stderr.read() if proc.stderr else ''}"
    time.sleep(kill_after)
    os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"the writer stopped on its own: {err[-2000:]}"
    acks = []
    for line in out.splitlines(keepends=True):
        if line.startswith("ack ") and line.endswith("\n"):  # a line cut by the kill is not an ack
            _, principal, path, version, digest = line.split()
            acks.append((principal, path, int(version), digest))
    return acks


def check_acked(fs: ContextFS, acks: list[tuple[str, str, int, str]]) -> None:
    allowed = {(r.principal, r.path, r.version) for r in fs.audit(decision="allow", limit=1_000_000)}
    for principal, path, version, digest in acks:
        data = fs.read(path, version=version)
        assert hashlib.sha256(data).hexdigest() == digest, f"{path} v{version}: content differs from the ack"
        [row] = [v for v in fs.log(path) if v.version == version]
        assert row.author == principal
        assert (principal, path, version) in allowed, f"{path} v{version} by {principal} has no audit row"


@pytest.mark.slow
def test_sigkilled_write_storms_lose_nothing_acknowledged(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    fs = agentfs.init(root, admin=ADMIN)
    for who in ("agent:a", "agent:b", "agent:c"):
        as_agent(fs, who, "read,write,list", "/memory")
    fs.close()
    rng = random.Random(int(os.environ.get("AGENTFS_STORM_SEED", "9")))
    total = 0
    for run in range(RUNS):
        acks = storm(root, seed=run, kill_after=rng.uniform(0.02, 0.3))
        total += len(acks)
        fs = agentfs.open(root, principal=ADMIN)
        try:
            check_acked(fs, acks)
            report = fs.verify()
            assert report["ok"] and not report["problems"], f"run {run}: {report}"
            assert fs.status() == [], f"run {run}: half-applied changes in the plain tree"
        finally:
            fs.close()
    print(f"storm: {RUNS} runs survived, {total} acknowledged writes checked")  # figures for docs/hardening.md
    assert total > 5 * RUNS  # the storms did write (a run killed before its first ack is still fine)

    started = time.perf_counter()
    sync = subprocess.run([*CLI, "index", "sync", str(root), "--as", ADMIN], capture_output=True, text=True,
                          timeout=300)
    assert sync.returncode == 0, sync.stderr
    verify = subprocess.run([*CLI, "index", "verify", str(root), "--as", ADMIN], capture_output=True, text=True,
                            timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "ok:" in verify.stdout
    print(f"index sync + verify: {time.perf_counter() - started:.1f} s")
