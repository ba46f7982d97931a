"""Store throughput: commits and reads through ContextFS against plain files, in the same run.

Writes ``--n`` small memory files (YAML front matter + one line) through the API and, as the
baseline, the same bytes as plain files with ``fsync``; then reads them back through the API (as
the administrator and as an agent whose access comes from a grant) and as plain files.

    python benchmarks/store.py              # table
    python benchmarks/store.py --json       # one JSON object
    python benchmarks/store.py --smoke      # a tiny, fast run
    python benchmarks/store.py --n 5000

Targets (issue 2): at least 1,000 commits/s, reads within 3x of plain files.

A commit in the default ``sync=normal`` mode is one SQLite WAL transaction without ``fsync``: it
survives the writer being killed, not a power cut. ``sync=full`` (``agentfs init --sync full``)
fsyncs every commit, like the plain baseline; both are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import agentfs
from agentfs.tokenizer import count_tokens

ADMIN = "user:bench"
AGENT = "agent:reader"


def memory_file(i: int) -> bytes:
    return (f"---\ntype: semantic\ntags: [prefs, coffee]\nimportance: 0.5\n---\n"
            f"Ana drinks oat-milk flat whites, fact number {i}.\n").encode()


CPU_US: dict[str, float] = {}  # label -> CPU microseconds per operation, of the last timed run


def rate(n: int, fn: Callable[[], None], label: str = "") -> float:
    """Operations per wall-clock second; also records CPU time per operation under ``label``.

    CPU time says what the code costs when it has a core to itself: on a machine shared with
    other busy processes the wall-clock figures drop while the CPU figures hold.
    """
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    wall = time.perf_counter() - start
    if label:
        CPU_US[label] = (time.process_time() - cpu) / n * 1e6
    return n / wall


def plain_writes(folder: Path, datas: list[bytes], fsync: bool) -> float:
    folder.mkdir(parents=True, exist_ok=True)

    def go() -> None:
        for i, data in enumerate(datas):
            with open(folder / f"m{i}.md", "wb") as handle:
                handle.write(data)
                if fsync:
                    handle.flush()
                    os.fsync(handle.fileno())

    return rate(len(datas), go, "plain_write")


def plain_reads(folder: Path, n: int) -> float:
    names = [folder / f"m{i}.md" for i in range(n)]

    def go() -> None:
        for name in names:
            with open(name, "rb") as handle:
                handle.read()

    return rate(n, go, "plain_read")


def api_writes(fs: agentfs.ContextFS, datas: list[bytes], prefix: str) -> float:
    def go() -> None:
        for i, data in enumerate(datas):
            fs.write(f"{prefix}/m{i}.md", data)

    return rate(len(datas), go, "commit")


def api_write_many(fs: agentfs.ContextFS, datas: list[bytes], prefix: str, batch: int) -> float:
    items = [(f"{prefix}/m{i}.md", data) for i, data in enumerate(datas)]

    def go() -> None:
        for start in range(0, len(items), batch):
            fs.write_many(items[start:start + batch])

    return rate(len(items), go, "write_many_file")


def api_reads(fs: agentfs.ContextFS, prefix: str, n: int) -> float:
    names = [f"{prefix}/m{i}.md" for i in range(n)]

    def go() -> None:
        for name in names:
            fs.read(name)

    return rate(n, go, "admin_read" if fs.is_admin else "agent_read")


def best(repeats: int, fn: Callable[[], float]) -> float:
    """The best of ``repeats`` runs: the least disturbed by other processes on the machine."""
    return max(fn() for _ in range(repeats))


def run(n: int, batch: int, repeats: int, n_full: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="agentfs-bench-"))
    try:
        datas = [memory_file(i) for i in range(n)]
        count_tokens("warm up")  # load the encoding outside the timings
        plain = tmp / "plain"
        plain_fsync = best(repeats, lambda: plain_writes(plain / "fsync", datas, fsync=True))
        cpu_plain_write = CPU_US["plain_write"]
        plain_nofsync = best(repeats, lambda: plain_writes(plain / "nofsync", datas, fsync=False))

        fs = agentfs.init(tmp / "ctx", admin=ADMIN)
        creates = api_writes(fs, datas, "/memory/semantic/create")
        cpu_create = CPU_US["commit"]
        updates = best(repeats, lambda: api_writes(fs, datas[::-1], "/memory/semantic/create"))
        cpu_commit = (cpu_create + CPU_US["commit"]) / 2
        batched = api_write_many(fs, datas, "/memory/semantic/batch", batch)
        fs.grant(AGENT, "read,list", "/memory/semantic")
        agent = fs.as_principal(AGENT)
        read_plain = best(repeats, lambda: plain_reads(plain / "fsync", n))
        read_admin = best(repeats, lambda: api_reads(fs, "/memory/semantic/create", n))
        read_agent = best(repeats, lambda: api_reads(agent, "/memory/semantic/create", n))
        ok = fs.verify()["ok"] and fs.status() == []
        fs.close()

        full = agentfs.init(tmp / "ctx-full", admin=ADMIN, sync="full")
        full_commits = api_writes(full, datas[:n_full], "/memory/semantic/full")
        full.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    commits = (creates + updates) / 2
    return {
        "n": n,
        "batch": batch,
        "commits_per_s": round(commits),
        "creates_per_s": round(creates),
        "updates_per_s": round(updates),
        "write_many_files_per_s": round(batched),
        "plain_fsync_writes_per_s": round(plain_fsync),
        "plain_writes_per_s": round(plain_nofsync),
        "commits_vs_plain_fsync": round(commits / plain_fsync, 2),
        "sync_full_commits_per_s": round(full_commits),
        "sync_full_vs_plain_fsync": round(full_commits / plain_fsync, 2),
        "plain_reads_per_s": round(read_plain),
        "admin_reads_per_s": round(read_admin),
        "agent_reads_per_s": round(read_agent),
        "admin_read_slowdown": round(read_plain / read_admin, 2),
        "agent_read_slowdown": round(read_plain / read_agent, 2),
        "target_commits_met": commits >= 1000,
        "target_reads_met": read_plain / max(read_admin, 1e-9) <= 3 and read_plain / max(read_agent, 1e-9) <= 3,
        "store_consistent": ok,
        "cpu_us_per_commit": round(cpu_commit, 1),
        "cpu_us_per_write_many_file": round(CPU_US["write_many_file"], 1),
        "cpu_us_per_plain_fsync_write": round(cpu_plain_write, 1),
        "cpu_us_per_admin_read": round(CPU_US["admin_read"], 2),
        "cpu_us_per_agent_read": round(CPU_US["agent_read"], 2),
        "cpu_us_per_plain_read": round(CPU_US["plain_read"], 2),
        "commits_per_cpu_s": round(1e6 / cpu_commit),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def table(r: dict) -> str:
    rows = [
        ("commits, API (sync=normal)", r["commits_per_s"],
         f"{r['commits_vs_plain_fsync']}x plain+fsync; {r['cpu_us_per_commit']} us CPU each"),
        ("  new files", r["creates_per_s"], ""),
        ("  overwrites", r["updates_per_s"], ""),
        (f"write_many, batches of {r['batch']}", r["write_many_files_per_s"], "files/s"),
        ("commits, API (sync=full)", r["sync_full_commits_per_s"], f"{r['sync_full_vs_plain_fsync']}x plain+fsync"),
        ("plain writes + fsync", r["plain_fsync_writes_per_s"], "baseline"),
        ("plain writes, no fsync", r["plain_writes_per_s"], ""),
        ("reads, API as admin", r["admin_reads_per_s"],
         f"{r['admin_read_slowdown']}x slower than plain; {r['cpu_us_per_admin_read']} us CPU each"),
        ("reads, API as agent (grant)", r["agent_reads_per_s"],
         f"{r['agent_read_slowdown']}x slower than plain; {r['cpu_us_per_agent_read']} us CPU each"),
        ("plain reads", r["plain_reads_per_s"], f"baseline; {r['cpu_us_per_plain_read']} us CPU each"),
    ]
    lines = [f"{'operation':<34} {'per second':>12}  note", "-" * 80]
    lines += [f"{name:<34} {value:>12,}  {note}" for name, value, note in rows]
    lines.append("-" * 80)
    lines.append(f"targets: >= 1,000 commits/s: {'met' if r['target_commits_met'] else 'MISSED'}; "
                 f"reads within 3x of plain: {'met' if r['target_reads_met'] else 'MISSED'}; "
                 f"store consistent after the run: {r['store_consistent']}; "
                 f"n={r['n']}, load average {r['load_average_1m']} "
                 f"(CPU alone allows {r['commits_per_cpu_s']:,} commits/s)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="files per measurement (default 2000)")
    parser.add_argument("--batch", type=int, default=100, help="files per write_many call")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each repeatable measurement; best wins")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--smoke", action="store_true", help="a tiny, fast run (n=100)")
    args = parser.parse_args()
    n = 100 if args.smoke else args.n
    repeats = 1 if args.smoke else args.repeats
    result = run(n, min(args.batch, n), repeats, n_full=min(n, 300))
    print(json.dumps(result) if args.json else table(result))


if __name__ == "__main__":
    main()
