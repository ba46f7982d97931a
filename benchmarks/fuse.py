"""The FUSE mount against a native directory: the same shell workloads, in the same run.

Each workload runs on an agentfs mount and on a plain directory on the same disk holding the same
files; the ratio (mount / native time, or throughput for the big read) is printed next to its
target from the issue. Every workload runs once untimed first (warm caches on both sides, as a
user who works in a mount sees them), then ``--repeat`` times; the median counts.

Two more sides, the *floors*, run the same commands on passthrough file systems with no logic:
``passthrough`` (benchmarks/passthrough_fs.py: fuse-python, one system call per request, no
catalog, versions, ACL or commit, mounted with agentfs' binding and kernel options) and, when
Debian's ``bindfs`` is installed, ``bindfs`` (a C passthrough on libfuse 2.9 with the same cache
timeouts and ``kernel_cache``). Their ratios are what any fuse-python file system, and any
libfuse 2 file system, costs on this machine; the gap to the mount is what agentfs itself spends.

    python benchmarks/fuse.py            # 10,000 files, a 512 MiB file, 1,000 creates (~2 min)
    python benchmarks/fuse.py --json     # one JSON object
    python benchmarks/fuse.py --smoke    # tiny sizes, a few seconds
    python benchmarks/fuse.py --floors=  # without the passthrough sides

Needs /dev/fuse and fuse-python (``pip install 'agentfs[fuse]'``) and bash, coreutils, grep, dd.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import agentfs
from agentfs.fuse import daemon, lifecycle, registry

TARGETS = {  # workload -> (comparison, bound): time ratios are upper bounds, throughput ratios lower
    "cat_small_files_warm": ("<=", 2.0),
    # `ls -l` also asks for two extended attributes per entry (SELinux label, POSIX ACL), which
    # the kernel never caches: two requests per entry reach the daemon. `find -printf '%s'`
    # stats only: served from the kernel's attribute cache.
    "ls_l_stat_entries": ("<=", 3.0),
    "stat_entries_find": ("<=", 3.0),
    "grep_r": ("<=", 2.0),
    # Cold: the file's pages are dropped first (both sides, and the mount's backing object), so
    # the bytes come from the disk and, on the mount, through the daemon. Warm: both from the
    # kernel's page cache, where FUSE keeps 4 KiB pages and a native file system large folios.
    "sequential_read_big_file_cold": (">=", 0.7),
    "sequential_read_big_file_warm": (">=", 0.7),
    "create_small_files_commit_each": ("<=", 5.0),
}
# Drop a file's pages from the page cache (written back first: dirty pages are never dropped).
EVICT = [sys.executable, "-c", "import os, sys\nfor p in sys.argv[1:]:\n    fd = os.open(p, os.O_RDONLY)\n"
         "    os.fsync(fd)\n    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)\n    os.close(fd)"]


def body(i: int) -> str:
    return (f"---\ndescription: benchmark memory {i}\ntags: [bench]\n---\n"
            f"Memory number {i}: the user prefers short answers and oat-milk flat whites. "
            f"{'lorem ipsum ' * 15}\n")


def populate(fs: agentfs.ContextFS, native: Path, files: int, big_bytes: int) -> None:
    """The same small Markdown files in the store (/memory/semantic/bench) and in ``native``."""
    (native / "bench").mkdir(parents=True)
    batch = []
    for i in range(files):
        name = f"f{i:05d}.md"
        (native / "bench" / name).write_text(body(i))
        batch.append((f"/memory/semantic/bench/{name}", body(i)))
        if len(batch) == 1000:
            fs.write_many(batch)
            batch = []
    if batch:
        fs.write_many(batch)
    big = native / "big.bin"
    with open(big, "wb") as handle:
        chunk = os.urandom(1 << 20)
        for _ in range(big_bytes >> 20):
            handle.write(chunk)
    fs.write("/knowledge/big.bin", big)  # streamed into the object store, never loaded whole
    search = fs.service("search")
    if search is not None:  # index now, so the mount's background indexer idles as in steady state
        search.sync(fs)


def backing_files(fs: agentfs.ContextFS, path: str) -> list[Path]:
    """Where the store keeps a file's bytes (its object; the plain copy): evicted for cold reads."""
    info = fs.stat(path)
    return [fs._core.store.objects.path_of(info.hash or ""), fs.root / path.lstrip("/")]


def timed(commands: dict[str, str], repeat: int, before: dict[str, list[str]] | None = None) -> dict[str, float]:
    """Median wall time of each side's bash command after one untimed run per side.

    The sides take turns (native, mount, native, ...) so a burst of load on this shared machine
    falls on both. ``{run}`` in a command is replaced by the run's number (a fresh folder per run:
    cleaning up the last run's files must not be timed); ``before`` runs before each timed run.
    """
    def once(side: str, run: int) -> float:
        if before and side in before:
            subprocess.run(before[side], check=True)
        start = time.perf_counter()
        subprocess.run(["bash", "-c", commands[side].replace("{run}", str(run))], check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - start

    for side in commands:
        once(side, 0)
    times: dict[str, list[float]] = {side: [] for side in commands}
    for run in range(1, repeat + 1):
        for side in commands:
            times[side].append(once(side, run))
    return {side: statistics.median(values) for side, values in times.items()}


def settle(daemon_pid: int, timeout: float = 120.0) -> float:
    """Wait until the mount's background processes (the index's sync loads its model at start)
    stop using CPU, so they do not compete with the first workloads. Returns seconds waited."""
    start = time.monotonic()

    def cpu_ticks() -> int:
        total = 0
        pids = [daemon_pid]
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{daemon_pid}/task"):
                with contextlib.suppress(OSError):
                    pids += [int(p) for p in Path(f"/proc/{daemon_pid}/task/{task}/children").read_text().split()]
        for pid in pids:
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime + stime
        return total

    last = cpu_ticks()
    while time.monotonic() - start + 1.0 <= timeout:
        time.sleep(1.0)
        now = cpu_ticks()
        if now - last <= 5:  # under 5% of one CPU over the last second
            break
        last = now
    return time.monotonic() - start


def workloads(small: Path, big: Path, scratch: Path, creates: int, listing: Path) -> dict[str, str]:
    """Shell commands for one side (native or mount), by workload name."""
    listing.write_text("\0".join(str(p) for p in sorted(small.iterdir())) + "\0")
    return {
        "cat_small_files_warm": f"xargs -0 -a {listing} cat > /dev/null",
        "ls_l_stat_entries": f"ls -l {small} > /dev/null",
        "stat_entries_find": f"find {small} -printf '%s %T@\\n' > /dev/null",
        "grep_r": f"grep -r -c 'flat whites' {small} > /dev/null",
        "sequential_read_big_file_cold": f"dd if={big} of=/dev/null bs=1M status=none",
        "sequential_read_big_file_warm": f"dd if={big} of=/dev/null bs=1M status=none",
        # One bash process; each `echo >` is open/write/close, so on the mount one commit each.
        # A fresh folder per run ({run}): the files of earlier runs are removed after timing.
        "create_small_files_commit_each": (
            f"mkdir -p {scratch}/r{{run}} && "
            f"for i in $(seq 1 {creates}); do echo \"note $i: remember this\" > {scratch}/r{{run}}/n$i.md; done"
        ),
    }


def outside_edit_latency(store: Path, mountpoint: Path, *, repeat: int) -> dict:
    """Seconds from an edit of a plain file in the store to the mount showing it (live sync)."""
    plain, seen = store / "knowledge/live.txt", mountpoint / "knowledge/live.txt"
    plain.write_text("edit 0000\n")
    deadline = time.monotonic() + 10
    while not seen.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    latencies = []
    for i in range(1, repeat + 1):
        text = f"edit {i:04d}\n"  # same size each time: only an invalidation can show it
        seen.read_text()  # the old content is in the kernel's cache
        start = time.perf_counter()
        plain.write_text(text)
        while seen.read_text() != text:
            if time.perf_counter() - start > 10:
                break
            time.sleep(0.005)
        latencies.append(time.perf_counter() - start)
    latency = statistics.median(latencies)
    return {"workload": "outside_edit_visible", "native_s": 0.0, "mount_s": round(latency, 4),
            "ratio": round(latency, 3), "target": "<= 1.0 s", "met": latency <= 1.0}


FLOORS = ("passthrough", "bindfs")  # floor sides: fuse-python with no logic; a C libfuse 2 passthrough


@contextlib.contextmanager
def floor_mount(kind: str, source: Path, mountpoint: Path):
    """A passthrough file system over ``source`` until exit: ``passthrough`` is
    benchmarks/passthrough_fs.py (fuse-python, agentfs' binding and kernel options); ``bindfs``
    is Debian's bindfs (C, libfuse 2.9, the same cache timeouts and ``kernel_cache``)."""
    mountpoint.mkdir()
    if kind == "passthrough":
        command = [sys.executable, str(Path(__file__).with_name("passthrough_fs.py")), str(source), str(mountpoint)]
    else:
        timeouts = ",".join(o for o in daemon.mount_options(source, read_only=False, allow_other=False,
                                                            timeout=daemon.cache_timeout()) if "_timeout=" in o)
        command = ["bindfs", "-f", "-o", f"kernel_cache,{timeouts}", str(source), str(mountpoint)]
    log = mountpoint.with_name(f"{kind}.log")  # a file, not a pipe: a pipe nobody reads can fill up
    with open(log, "wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 30
        while not os.path.ismount(mountpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not mount: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.02)
        yield mountpoint
    finally:
        fusermount = shutil.which("fusermount3") or "fusermount"
        for flags in ("-u", "-uz"):  # the lazy unmount if something still holds the mount
            if subprocess.run([fusermount, flags, str(mountpoint)], check=False,
                              stderr=subprocess.DEVNULL).returncode == 0:
                break
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(files: int, big_mib: int, creates: int, repeat: int, only: set[str] | None = None, *,
        settle_timeout: float = 120.0, floors: tuple[str, ...] = ()) -> dict:
    root = Path(tempfile.mkdtemp(prefix="agentfs-bench-fuse-"))
    try:
        with contextlib.ExitStack() as stack:
            return _run_in(root, files, big_mib, creates, repeat, only, settle_timeout, floors, stack)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run_in(root: Path, files: int, big_mib: int, creates: int, repeat: int, only: set[str] | None,
            settle_timeout: float, floors: tuple[str, ...], stack: contextlib.ExitStack) -> dict:
    os.environ["AGENTFS_RUNTIME_DIR"] = str(root / "run")
    store, native, mountpoint = root / "ctx", root / "native", root / "mnt"
    mountpoint.mkdir()
    fs = agentfs.init(store)
    try:
        populate(fs, native, files, big_mib << 20)
        evict = {"native": [*EVICT, str(native / "big.bin")],
                 "mount": [*EVICT, str(mountpoint / "knowledge/big.bin"),
                           *map(str, backing_files(fs, "/knowledge/big.bin"))]}
    finally:
        fs.close()
    floor_mounts = {}
    for kind in floors:  # the same files again, for each passthrough to serve
        shutil.copytree(native, root / kind)
        floor_mounts[kind] = stack.enter_context(floor_mount(kind, root / kind, root / f"{kind}-mnt"))
        evict[kind] = [*EVICT, str(floor_mounts[kind] / "big.bin"), str(root / kind / "big.bin")]
    os.sync()  # the copies' writeback must not fall on the timed part
    record = lifecycle.mount(store, mountpoint, principal=agentfs.fs.default_admin())
    results = []
    try:
        settled = settle(record["pid"], settle_timeout)
        load_before = os.getloadavg()[0]
        sides = {
            "native": workloads(native / "bench", native / "big.bin", native / "new", creates,
                                root / "native.list"),
            "mount": workloads(mountpoint / "memory/semantic/bench", mountpoint / "knowledge/big.bin",
                               mountpoint / "memory/episodic/new", creates, root / "mount.list"),
        }
        for kind, floor_mnt in floor_mounts.items():
            sides[kind] = workloads(floor_mnt / "bench", floor_mnt / "big.bin", floor_mnt / "new", creates,
                                    root / f"{kind}.list")
        for name, (comparison, bound) in TARGETS.items():
            if only and name not in only:
                continue
            seconds = timed({side: commands[name] for side, commands in sides.items()}, repeat,
                            evict if name.endswith("_cold") else None)
            if name.startswith("sequential_read"):
                mb_s = {side: (big_mib * 1.048576) / s for side, s in seconds.items()}
                ratios = {side: mb_s[side] / mb_s["native"] for side in seconds}
                extra = {f"{side}_mb_s": round(value, 1) for side, value in mb_s.items()}
            else:
                ratios = {side: seconds[side] / seconds["native"] for side in seconds}
                extra = {}
            ratio = ratios["mount"]
            met = ratio <= bound if comparison == "<=" else ratio >= bound
            for kind in floor_mounts:  # what a file system with no logic costs here
                floor_ratio = ratios[kind]
                extra |= {f"{kind}_s": round(seconds[kind], 4), f"{kind}_ratio": round(floor_ratio, 2),
                          f"{kind}_met": floor_ratio <= bound if comparison == "<=" else floor_ratio >= bound}
            results.append({"workload": name, "native_s": round(seconds["native"], 4),
                            "mount_s": round(seconds["mount"], 4), "ratio": round(ratio, 2),
                            "target": f"{comparison} {bound}", "met": met, **extra})
        if not only or "outside_edit_visible" in only:
            results.append(outside_edit_latency(store, mountpoint, repeat=max(5, repeat)))
    finally:
        lifecycle.unmount(mountpoint)
        # unmount returns once the mount is gone; the daemon then closes the store and its log
        # for a moment more. Removing the folder under it would leave parts behind.
        deadline = time.monotonic() + 30
        while registry.pid_alive(record["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
    return {
        "files": files, "big_file_mib": big_mib, "creates": creates, "repeat": repeat, "floors": list(floors),
        "daemon_pid": record["pid"], "settle_s": round(settled, 1), "cpus": os.cpu_count(),
        "load_average_before": round(load_before, 2), "load_average": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "results": results,
    }


def _shown(row: dict, side: str) -> str:
    """One side's figure in a result row: throughput for the big reads, time for the rest."""
    if "native_mb_s" in row:
        return f"{row[f'{side}_mb_s']:.0f} MB/s"
    return f"{row[f'{side}_s'] * 1000:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: a few seconds")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--big-mib", type=int, default=512)
    parser.add_argument("--creates", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated workloads to run (default: all)")
    parser.add_argument("--floors", default=None,
                        help="comma-separated passthrough sides to run too: passthrough (fuse-python, no "
                             "logic), bindfs (C libfuse 2; Debian's bindfs). Default: both when available; "
                             "'' for none")
    args = parser.parse_args(argv)
    if args.smoke:
        args.files, args.big_mib, args.creates, args.repeat = 200, 8, 50, 1
    only = {name for name in args.only.split(",") if name}
    if args.floors is None:
        floors = tuple(kind for kind in FLOORS if kind == "passthrough" or shutil.which(kind))
    else:
        floors = tuple(kind for kind in args.floors.split(",") if kind)
        if set(floors) - set(FLOORS):
            parser.error(f"unknown floors: {', '.join(sorted(set(floors) - set(FLOORS)))}")
    unknown = only - {*TARGETS, "outside_edit_visible"}
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    report = run(args.files, args.big_mib, args.creates, args.repeat, only or None,
                 settle_timeout=0.0 if args.smoke else 120.0, floors=floors)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.files} files, {args.big_mib} MiB file, {args.creates} creates; median of {args.repeat} "
          f"warm runs; {report['cpus']} CPUs, load {report['load_average_before']} -> {report['load_average']}, "
          f"{report['date']}")
    print(f"{'workload':34} {'native':>10} {'mount':>10} {'ratio':>7}  {'target':8}"
          + "".join(f"   {kind:>11} {'ratio':>5}" for kind in floors))
    for row in report["results"]:
        if row["workload"] == "outside_edit_visible":
            print(f"{row['workload']:34} {'-':>10} {row['mount_s'] * 1000:>7.0f} ms {'':>7}  {row['target']}"
                  f"{'' if row['met'] else '  (missed)'}")
            continue
        line = (f"{row['workload']:34} {_shown(row, 'native'):>10} {_shown(row, 'mount'):>10} "
                f"{row['ratio']:>7.2f}  {row['target']:8}")
        for kind in floors:
            line += f"   {_shown(row, kind):>11} {row[f'{kind}_ratio']:>5.2f}"
        print(line + ("" if row["met"] else "  (missed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
