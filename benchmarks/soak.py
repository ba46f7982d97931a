"""Soak: several principals read and write one store at once through the API, the mount and the CLI.

    python benchmarks/soak.py                 # 60 s: API (threads + a second process), mount, CLI
    python benchmarks/soak.py --seconds 600   # full length
    python benchmarks/soak.py --smoke --json  # 3 s, one JSON object
    python benchmarks/soak.py --no-mount      # where FUSE is not available

Each API worker opens its own handle as its principal; the mount worker acts through ``agentfs
mount`` (open/write/close, read, listdir) as its own principal; the CLI worker runs ``agentfs write``
and ``agentfs cat`` processes. All mix reads (70%), writes (25%, to their own files and to one
shared file) and listings (5%). Every write that returned is acknowledged (a version number from
the API and the CLI; for the mount, the content's SHA-256 once ``close`` returned); at the end the
store is reopened, every acknowledged version is read back and compared by SHA-256
(``lost_updates`` must be 0), ``verify()`` must be ok, and every worker must have finished in time
(``deadlocks`` must be 0). The baseline is the same mix by one API principal alone for the same time;
the ratio is concurrent ops/s over it. Latency percentiles are reported per front-end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import agentfs  # noqa: E402
from agentfs.errors import AgentFSError  # noqa: E402

ADMIN = "user:admin"
SHARED = "/memory/semantic/shared.md"


class _Refused(Exception):
    """A front-end said no (a read of a file not written yet): counted, not timed."""


def _mix(principal: str, seconds: float, seed: int, files: int, *, write: Callable[[str, str], int | None],
         read: Callable[[str], Any], ls: Callable[[str], Any], refused: tuple[type[BaseException], ...],
         write_first: bool = False) -> dict[str, Any]:
    """Run the mix (25% writes, 70% reads, 5% listings) through one front-end until the time is up;
    return latencies per op and the acknowledged writes as (path, version or None, sha256)."""
    rng = random.Random(seed)
    own = [f"/memory/semantic/{principal.split(':')[1]}-{i}.md" for i in range(files)]
    lat: dict[str, list[float]] = {"read": [], "write": [], "ls": []}
    acks: list[tuple[str, int | None, str]] = []
    errors = 0
    end = time.perf_counter() + seconds
    step = 0
    while time.perf_counter() < end:
        step += 1
        roll = rng.random()
        start = time.perf_counter()
        try:
            if roll < 0.25 or (write_first and step == 1):
                path = SHARED if rng.random() < 0.2 else rng.choice(own)
                body = f"---\ntags: [soak]\n---\n{principal} step {step} {'z' * rng.randrange(1500)}\n"
                acks.append((path, write(path, body), hashlib.sha256(body.encode()).hexdigest()))
                op = "write"
            elif roll < 0.95:
                read(rng.choice([*own, SHARED]))
                op = "read"
            else:
                ls("/memory/semantic")
                op = "ls"
        except refused:
            errors += 1
            continue
        lat[op].append(time.perf_counter() - start)
    return {"lat": lat, "acks": acks, "errors": errors}


def worker(root: str, principal: str, seconds: float, seed: int) -> dict[str, Any]:
    """The mix through the Python API, one handle per principal."""
    fs = agentfs.open(root, principal=principal)
    try:
        return _mix(principal, seconds, seed, 8, write=lambda path, body: fs.write(path, body).version,
                    read=fs.read, ls=fs.ls, refused=(AgentFSError,))
    finally:
        fs.close()


def mount_worker(mountpoint: str, principal: str, seconds: float, seed: int) -> dict[str, Any]:
    """The same mix through a mount: open/write/close, read, listdir (acks carry no version)."""

    def write(path: str, body: str) -> None:
        with open(mountpoint + path, "wb") as handle:
            handle.write(body.encode())

    def read(path: str) -> None:
        with open(mountpoint + path, "rb") as handle:
            handle.read()

    return _mix(principal, seconds, seed, 8, write=write, read=read, ls=lambda path: os.listdir(mountpoint + path),
                refused=(OSError,))


CLI = [sys.executable, "-c", "from agentfs.cli.app import main; main()"]


def cli_worker(root: str, principal: str, seconds: float, seed: int) -> dict[str, Any]:
    """The same mix as ``agentfs`` commands, one process each (their start-up is part of the latency).
    A write comes first: a process per op makes few ops in a short run."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def agentfs_cli(*argv: str, body: str | None = None) -> str:
        done = subprocess.run([*CLI, *argv, "--as", principal], input=body, capture_output=True, text=True,
                              env=env, timeout=120)
        if done.returncode != 0:
            raise _Refused(done.stderr)
        return done.stdout

    return _mix(principal, seconds, seed, 4, write_first=True, refused=(_Refused,),
                write=lambda path, body: int(json.loads(agentfs_cli("write", root, path, "--json", body=body))["version"]),
                read=lambda path: agentfs_cli("cat", root, path), ls=lambda path: agentfs_cli("ls", root, path))


def _process_entry(args: tuple[str, str, float, int]) -> dict[str, Any]:
    return worker(*args)


def run(root: str, principals: list[str], seconds: float, with_process: bool, *, mountpoint: str | None = None,
        mount_principal: str | None = None, cli_principal: str | None = None) -> dict[str, Any]:
    """Threads for all principals but the last, which runs in a second process when asked; plus a
    mount worker and a CLI worker when given their principals. Results are kept per front-end."""
    results: list[tuple[str, dict[str, Any]]] = []
    in_threads = principals[:-1] if with_process else principals
    jobs: list[tuple[str, Any]] = [("api", lambda p=p, i=i: worker(root, p, seconds, i))
                                   for i, p in enumerate(in_threads)]
    if mountpoint is not None and mount_principal is not None:
        jobs.append(("mount", lambda: mount_worker(mountpoint, mount_principal, seconds, 77)))
    if cli_principal is not None:
        jobs.append(("cli", lambda: cli_worker(root, cli_principal, seconds, 88)))
    threads = [threading.Thread(target=lambda k=k, j=j: results.append((k, j())), daemon=True) for k, j in jobs]
    start = time.perf_counter()
    pool = None
    pending = None
    if with_process:
        pool = multiprocessing.get_context("spawn").Pool(1)
        pending = pool.apply_async(_process_entry, ((root, principals[-1], seconds, 99),))
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds + 120  # a worker still busy by then is stuck: a deadlock
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    deadlocks = sum(t.is_alive() for t in threads)
    if pool is not None and pending is not None:
        try:
            results.append(("api", pending.get(timeout=max(1.0, deadline - time.monotonic()))))
        except multiprocessing.TimeoutError:
            deadlocks += 1
        pool.terminate()
        pool.join()
    elapsed = time.perf_counter() - start
    out: dict[str, Any] = {"acks": [], "errors": 0, "seconds": elapsed, "deadlocks": deadlocks, "by": {}}
    for kind, r in results:
        lat = out["by"].setdefault(kind, {"read": [], "write": [], "ls": []})
        for op, values in r["lat"].items():
            lat[op].extend(values)
        out["acks"].extend(r["acks"])
        out["errors"] += r["errors"]
    out["lat"] = {op: [v for lat in out["by"].values() for v in lat[op]] for op in ("read", "write", "ls")}
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def lost_updates(root: str, acks: list[tuple[str, int | None, str]]) -> int:
    """Acknowledged versions that are missing or hold other bytes (must be 0). A mount's ack has no
    version number: some version of its path must hold exactly those bytes."""
    fs = agentfs.open(root, principal=ADMIN)
    lost = 0
    hashes: dict[str, set[str | None]] = {}  # a path's version hashes, listed once (a log is long)
    try:
        for path, version, digest in acks:
            try:
                if version is None:
                    if path not in hashes:
                        hashes[path] = {v.hash for v in fs.log(path)}
                    if digest not in hashes[path]:
                        lost += 1
                elif hashlib.sha256(fs.read(path, version=version)).hexdigest() != digest:
                    lost += 1
            except AgentFSError:
                lost += 1
        ok = fs.verify()["ok"]
    finally:
        fs.close()
    return lost if ok else lost + 1_000_000  # a failed verify shows as an impossible count


def summary(result: dict[str, Any]) -> dict[str, Any]:
    every = [v for values in result["lat"].values() for v in values]
    out = {"ops": len(every), "ops_per_s": round(len(every) / result["seconds"], 1),
           "p50_ms": round(pct(every, 0.50), 2), "p95_ms": round(pct(every, 0.95), 2),
           "p99_ms": round(pct(every, 0.99), 2), "writes": len(result["acks"])}
    for op in ("read", "write"):
        out[f"{op}_p95_ms"] = round(pct(result["lat"][op], 0.95), 2)
    out["by_front_end"] = {}
    for kind, lat in sorted(result.get("by", {}).items()):
        values = [v for vs in lat.values() for v in vs]
        out["by_front_end"][kind] = {"ops": len(values), "p50_ms": round(pct(values, 0.50), 2),
                                     "p95_ms": round(pct(values, 0.95), 2), "write_p95_ms": round(
                                         pct(lat["write"], 0.95), 2)}
    return out


def fuse_available() -> bool:
    if not os.path.exists("/dev/fuse") or not (shutil.which("fusermount") or shutil.which("fusermount3")):
        return False
    try:
        import fuse  # noqa: F401
    except ImportError:
        return False
    return True


def mount(root: str, mountpoint: str, principal: str, env: dict[str, str]) -> None:
    os.makedirs(mountpoint, exist_ok=True)
    done = subprocess.run([*CLI, "mount", root, mountpoint, "--as", principal, "--json"], capture_output=True,
                          text=True, env=env, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"soak: cannot mount ({done.stderr.strip()}); run with --no-mount")


def unmount(mountpoint: str, env: dict[str, str]) -> None:
    done = subprocess.run([*CLI, "unmount", mountpoint], capture_output=True, text=True, env=env, timeout=120)
    if done.returncode != 0 and os.path.ismount(mountpoint):
        subprocess.run([shutil.which("fusermount3") or "fusermount", "-uz", mountpoint], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--principals", type=int, default=5,
                        help="API workers; the last runs in a second process")
    parser.add_argument("--no-mount", action="store_true", help="leave the mount out (no FUSE here)")
    parser.add_argument("--no-cli", action="store_true", help="leave the CLI worker out")
    parser.add_argument("--smoke", action="store_true", help="3 s runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    seconds = 3.0 if args.smoke else args.seconds
    principals = [f"agent:soak{i}" for i in range(max(2, args.principals))]
    use_mount = not args.no_mount and fuse_available()
    mount_principal = "agent:soakmount" if use_mount else None
    cli_principal = None if args.no_cli else "agent:soakcli"
    with tempfile.TemporaryDirectory(prefix="agentfs-soak-") as tmp:
        root = str(Path(tmp) / "ctx")
        mountpoint = str(Path(tmp) / "mnt")
        env = {**os.environ, "AGENTFS_RUNTIME_DIR": str(Path(tmp) / "run"), "PYTHONPATH": str(REPO)}
        fs = agentfs.init(root, admin=ADMIN)
        for p in [*principals, mount_principal, cli_principal]:
            if p is not None:
                fs.grant(p, "read,write,list", "/memory/semantic")
        fs.write(SHARED, "shared\n")
        fs.close()
        base = run(root, principals[:1], seconds, with_process=False)
        if use_mount:
            mount(root, mountpoint, mount_principal, env)  # type: ignore[arg-type]
        try:
            soak = run(root, principals, seconds, with_process=True, mountpoint=mountpoint if use_mount else None,
                       mount_principal=mount_principal, cli_principal=cli_principal)
        finally:
            if use_mount:
                unmount(mountpoint, env)
        lost = lost_updates(root, base["acks"] + soak["acks"])
    front_ends = [f"api: {len(principals) - 1} threads + 1 process"]
    front_ends += ["mount: 1"] if use_mount else []
    front_ends += ["cli: 1"] if cli_principal else []
    report = {"seconds": seconds, "principals": len(principals) + bool(use_mount) + bool(cli_principal),
              "front_ends": front_ends, "baseline": summary(base), "soak": summary(soak), "lost_updates": lost,
              "deadlocks": base["deadlocks"] + soak["deadlocks"], "read_errors": base["errors"] + soak["errors"],
              "acknowledged_writes": len(base["acks"]) + len(soak["acks"])}
    report["ratio_ops_per_s"] = round(report["soak"]["ops_per_s"] / max(report["baseline"]["ops_per_s"], 1e-9), 2)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"soak: {report['principals']} principals ({', '.join(front_ends)}), {seconds:g} s each run")
        print(f"{'run':<10}{'ops':>8}{'ops/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'writes':>8}")
        for name in ("baseline", "soak"):
            s = report[name]
            print(f"{name:<10}{s['ops']:>8}{s['ops_per_s']:>10}{s['p50_ms']:>9}{s['p95_ms']:>9}{s['p99_ms']:>9}"
                  f"{s['writes']:>8}")
        for kind, s in report["soak"]["by_front_end"].items():
            print(f"  {kind:<8}{s['ops']:>8}{'':>10}{s['p50_ms']:>9}{s['p95_ms']:>9}{'':>9}"
                  f"   write p95 {s['write_p95_ms']} ms")
        print(f"ratio (soak/baseline ops/s): {report['ratio_ops_per_s']}x   lost updates: {lost}   "
              f"deadlocks: {report['deadlocks']}   acknowledged writes checked: {report['acknowledged_writes']}")
    sys.exit(1 if lost or report["deadlocks"] else 0)


if __name__ == "__main__":
    main()
