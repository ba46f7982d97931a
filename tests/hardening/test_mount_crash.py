"""Kill the mount daemon, its background indexer and API writers with SIGKILL during a write storm.

Each run mounts the store as ``agent:m``; a process writes through the mount (a version is
acknowledged when ``close`` returned) while another writes through the API as three principals
(acknowledged when the call returned). At a random moment one victim is SIGKILLed: the mount daemon,
the indexer it started, the API writer, or the daemon and the API writer together. Then:

- a dead mount is cleared by ``agentfs unmount`` (``fusermount -uz`` underneath) and the same
  mount point mounts again in the next run;
- every acknowledged write is in the store with its content, its author and an ``allow`` audit row,
  through either front-end; ``verify()`` is clean; nothing half-applied is in the plain tree;
- after the last run a fresh mount's background indexer catches up by itself (lag 0 within a
  deadline) and ``agentfs index verify`` exits 0.

``AGENTFS_MOUNT_STORM_RUNS`` sets the number of runs (4 by default, ~30 s).
"""

from __future__ import annotations

import hashlib
import json
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
from tests.fuse.conftest import agentfs_cli
from tests.hardening.conftest import HardMount, lazy_unmount
from tests.hardening.test_crash_storm import REPO, WRITER, check_acked
from tests.helpers import ADMIN, as_agent

pytestmark = [pytest.mark.fuse, pytest.mark.slow]

MOUNT_WRITER = Path(__file__).with_name("mount_writer.py")
RUNS = int(os.environ.get("AGENTFS_MOUNT_STORM_RUNS", "4"))
MOUNTED_AS = "agent:m"
VICTIMS = ("daemon", "indexer", "api", "daemon+api")
CATCH_UP_S = float(os.environ.get("AGENTFS_INDEX_CATCH_UP_S", "180"))


def start(command: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first == "ready\n", f"{command[1]} did not start: {first!r} {proc.stderr.read() if proc.stderr else ''}"
    return proc


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def acks_of(proc: subprocess.Popen[str]) -> list[list[str]]:
    """SIGKILL a writer (if still running) and return its complete ``ack`` lines, split."""
    kill(proc.pid)
    out, _ = proc.communicate(timeout=30)
    return [line.split()[1:] for line in out.splitlines(keepends=True)
            if line.startswith("ack ") and line.endswith("\n")]


def check_mount_acks(fs: ContextFS, acks: list[list[str]]) -> None:
    """Each acknowledged mount write is a version of its path with that content, by the mount's
    principal, with its audit row (the mount does not report version numbers: find it by hash)."""
    allowed = {(r.path, r.version) for r in fs.audit(principal=MOUNTED_AS, decision="allow", limit=1_000_000)}
    for path, digest in acks:
        versions = [v for v in fs.log(path) if v.hash == digest and v.author == MOUNTED_AS]
        assert versions, f"{path}: the acknowledged content {digest[:12]} is not among its versions"
        assert any((path, v.version) in allowed for v in versions), f"{path}: no audit row"
        assert hashlib.sha256(fs.read(path, version=versions[-1].version)).hexdigest() == digest


def index_lag(root: Path) -> int:
    status = agentfs_cli("index", "status", str(root), "--as", ADMIN, "--json")
    return int(json.loads(status.stdout)["lag"])


def test_killing_the_daemon_the_indexer_and_writers_loses_nothing_acknowledged(tmp_path: Path) -> None:
    root, mnt = tmp_path / "ctx", tmp_path / "mnt"
    fs = agentfs.init(root, admin=ADMIN)
    for who in (MOUNTED_AS, "agent:a", "agent:b", "agent:c"):
        as_agent(fs, who, "read,write,list", "/memory")
    fs.close()
    rng = random.Random(int(os.environ.get("AGENTFS_STORM_SEED", "9")))
    figures = {"runs": 0, "mount_acks": 0, "api_acks": 0, "kills": {v: 0 for v in VICTIMS}}
    for run in range(RUNS):
        mount = HardMount(root, mnt, MOUNTED_AS).start()
        api_writer = mount_writer = None
        victim = ""
        try:
            api_writer = start([sys.executable, str(WRITER), str(root), str(1000 + run)])
            mount_writer = start([sys.executable, str(MOUNT_WRITER), str(mnt), f"r{run}", str(run)])
            victim = VICTIMS[run % len(VICTIMS)] if run < len(VICTIMS) else rng.choice(VICTIMS)
            time.sleep(rng.uniform(0.3, 1.2))
            if victim == "indexer":
                deadline = time.monotonic() + 20  # it starts once the mount is ready and warmed up
                while not mount.indexer_pids() and time.monotonic() < deadline:
                    time.sleep(0.05)
                pids = mount.indexer_pids()
                assert pids, "the mount started no background indexer"
                for pid in pids:
                    kill(pid)
            if "daemon" in victim:
                kill(mount.pid)  # type: ignore[arg-type]
            if "api" in victim:
                kill(api_writer.pid)
            time.sleep(0.2)  # the survivors keep writing (through a dead mount: errors, no acks)
            mount_acks, api_acks = acks_of(mount_writer), acks_of(api_writer)
            figures["kills"][victim] += 1
        finally:
            for proc in (api_writer, mount_writer):
                if proc is not None and proc.poll() is None:
                    kill(proc.pid)
                    proc.wait(timeout=30)
            if "daemon" in victim:
                unmount = agentfs_cli("unmount", str(mnt), check=False)
                assert unmount.returncode == 0, f"a dead mount was not cleared: {unmount.stderr}"
                assert not os.path.ismount(mnt)
            mount.stop()
            lazy_unmount(mnt)
        fs = agentfs.open(root, principal=ADMIN)
        try:
            check_mount_acks(fs, mount_acks)
            check_acked(fs, [(p, path, int(v), d) for p, path, v, d in api_acks])
            report = fs.verify()
            assert report["ok"], f"run {run} ({victim}): {report['problems']}"
            assert fs.status() == [], f"run {run} ({victim}): half-applied changes in the plain tree"
        finally:
            fs.close()
        figures["runs"] += 1
        figures["mount_acks"] += len(mount_acks)
        figures["api_acks"] += len(api_acks)
        assert mount_acks, f"run {run}: nothing was written through the mount"

    # a fresh mount's indexer catches up by itself, and the index then matches the catalog
    started = time.perf_counter()
    mount = HardMount(root, mnt, MOUNTED_AS).start()
    try:
        deadline = time.monotonic() + CATCH_UP_S
        while (lag := index_lag(root)) > 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert lag == 0, f"the mount's indexer still lags {lag} changes after {CATCH_UP_S:g} s"
    finally:
        mount.stop()
    verify = agentfs_cli("index", "verify", str(root), "--as", ADMIN, check=False, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    figures["catch_up_s"] = round(time.perf_counter() - started, 1)
    print(f"mount storm: {json.dumps(figures)}")  # figures for docs/hardening.md
