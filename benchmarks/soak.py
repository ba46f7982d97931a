"""Soak: several principals read and write one store at once through the API, for N seconds.

    python benchmarks/soak.py                 # 60 s: 4 principals in threads + 1 in a second process
    python benchmarks/soak.py --seconds 600   # full length
    python benchmarks/soak.py --smoke --json  # 3 s, one JSON object

Each worker opens its own handle as its principal and mixes reads (70%), writes (25%, to its own
files and to one shared file) and listings (5%). Every write that returned is an acknowledged
version; at the end the store is reopened and every acknowledged version is read back and compared
by SHA-256 (``lost_updates`` must be 0) and ``verify()`` must be ok. The baseline is the same mix by
one principal alone for the same time; the ratio is concurrent ops/s over it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import agentfs  # noqa: E402
from agentfs.errors import AgentFSError  # noqa: E402

ADMIN = "user:admin"
SHARED = "/memory/semantic/shared.md"


def worker(root: str, principal: str, seconds: float, seed: int) -> dict[str, Any]:
    """Run the mix until the time is up; return latencies per op and the acknowledged writes."""
    fs = agentfs.open(root, principal=principal)
    rng = random.Random(seed)
    name = principal.split(":")[1]
    own = [f"/memory/semantic/{name}-{i}.md" for i in range(8)]
    lat: dict[str, list[float]] = {"read": [], "write": [], "ls": []}
    acks: list[tuple[str, int, str]] = []
    errors = 0
    end = time.perf_counter() + seconds
    step = 0
    try:
        while time.perf_counter() < end:
            step += 1
            roll = rng.random()
            start = time.perf_counter()
            try:
                if roll < 0.25:
                    path = SHARED if rng.random() < 0.2 else rng.choice(own)
                    body = f"---\ntags: [soak]\n---\n{principal} step {step} {'z' * rng.randrange(1500)}\n"
                    info = fs.write(path, body)
                    acks.append((info.path, info.version, hashlib.sha256(body.encode()).hexdigest()))
                    op = "write"
                elif roll < 0.95:
                    fs.read(rng.choice([*own, SHARED]))
                    op = "read"
                else:
                    fs.ls("/memory/semantic")
                    op = "ls"
            except AgentFSError:  # a read of a file not written yet: counted, not timed
                errors += 1
                continue
            lat[op].append(time.perf_counter() - start)
    finally:
        fs.close()
    return {"lat": lat, "acks": acks, "errors": errors}


def _process_entry(args: tuple[str, str, float, int]) -> dict[str, Any]:
    return worker(*args)


def run(root: str, principals: list[str], seconds: float, with_process: bool) -> dict[str, Any]:
    """Threads for all principals but the last, which runs in a second process when asked."""
    results: list[dict[str, Any]] = []
    in_threads = principals[:-1] if with_process else principals
    threads = [threading.Thread(target=lambda p=p, i=i: results.append(worker(root, p, seconds, i)))
               for i, p in enumerate(in_threads)]
    start = time.perf_counter()
    pool = None
    pending = None
    if with_process:
        pool = multiprocessing.get_context("spawn").Pool(1)
        pending = pool.apply_async(_process_entry, ((root, principals[-1], seconds, 99),))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if pool is not None and pending is not None:
        results.append(pending.get(timeout=seconds + 120))
        pool.close()
        pool.join()
    elapsed = time.perf_counter() - start
    lat: dict[str, list[float]] = {"read": [], "write": [], "ls": []}
    acks: list[tuple[str, int, str]] = []
    for r in results:
        for op, values in r["lat"].items():
            lat[op].extend(values)
        acks.extend(r["acks"])
    return {"lat": lat, "acks": acks, "errors": sum(r["errors"] for r in results), "seconds": elapsed}


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def lost_updates(root: str, acks: list[tuple[str, int, str]]) -> int:
    """Acknowledged versions that are missing or hold other bytes (must be 0)."""
    fs = agentfs.open(root, principal=ADMIN)
    lost = 0
    try:
        for path, version, digest in acks:
            try:
                if hashlib.sha256(fs.read(path, version=version)).hexdigest() != digest:
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
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--principals", type=int, default=5, help="workers; the last runs in a second process")
    parser.add_argument("--smoke", action="store_true", help="3 s runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    seconds = 3.0 if args.smoke else args.seconds
    principals = [f"agent:soak{i}" for i in range(max(2, args.principals))]
    with tempfile.TemporaryDirectory(prefix="agentfs-soak-") as tmp:
        root = str(Path(tmp) / "ctx")
        fs = agentfs.init(root, admin=ADMIN)
        for p in principals:
            fs.grant(p, "read,write,list", "/memory/semantic")
        fs.write(SHARED, "shared\n")
        fs.close()
        base = run(root, principals[:1], seconds, with_process=False)
        soak = run(root, principals, seconds, with_process=True)
        lost = lost_updates(root, base["acks"] + soak["acks"])
    report = {"seconds": seconds, "principals": len(principals), "baseline": summary(base),
              "soak": summary(soak), "lost_updates": lost, "read_errors": base["errors"] + soak["errors"]}
    report["ratio_ops_per_s"] = round(report["soak"]["ops_per_s"] / max(report["baseline"]["ops_per_s"], 1e-9), 2)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"soak: {len(principals)} principals ({len(principals) - 1} threads + 1 process), {seconds:g} s each run")
        print(f"{'run':<10}{'ops':>8}{'ops/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'writes':>8}")
        for name in ("baseline", "soak"):
            s = report[name]
            print(f"{name:<10}{s['ops']:>8}{s['ops_per_s']:>10}{s['p50_ms']:>9}{s['p95_ms']:>9}{s['p99_ms']:>9}"
                  f"{s['writes']:>8}")
        print(f"ratio (soak/baseline ops/s): {report['ratio_ops_per_s']}x   lost updates: {lost}")
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
