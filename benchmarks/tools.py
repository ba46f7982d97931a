"""Tool calls through ContextFS.exec: an MCP server kept live per store versus one session per call.

Both sides call ``search_issues`` on the example MCP server (examples/github_mcp_server.py, stdio)
the same number of times, in the same run:

- ``baseline``: what a naive adapter does: start the server, open a session, call, close, for every
  call (the ``mcp`` client alone, no governance);
- ``live``: the ``mcp`` client alone over one session kept open (no governance): the floor, so
  ``ours`` minus ``live`` is what governance costs per MCP call;
- ``ours``: ``ContextFS.exec`` as an agent: exec permission, argument schema check, the call over
  the store's live session, a history entry and an audit row per call;
- ``python``: ``ContextFS.exec`` of an in-process Python tool that echoes its input: the cost of the
  governance alone (permission, schema, history entry, audit row).

The store is reopened before measuring, so ``ours``' first call includes starting the server.

    python benchmarks/tools.py            # the table
    python benchmarks/tools.py --json     # one JSON object
    python benchmarks/tools.py --smoke    # a few calls
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import agentfs
from agentfs.runtime import toolsets

SERVER = [sys.executable, str(Path(__file__).resolve().parents[1] / "examples" / "github_mcp_server.py")]
ARGS = {"query": "fuse is:open"}


def baseline(calls: int) -> list[float]:
    from mcp import Client, StdioServerParameters

    async def one() -> None:
        async with Client(StdioServerParameters(command=SERVER[0], args=SERVER[1:])) as client:
            await client.call_tool("search_issues", ARGS)

    times = []
    for _ in range(calls):
        start = time.perf_counter()
        asyncio.run(one())
        times.append(time.perf_counter() - start)
    return times


def live(calls: int) -> list[float]:
    from mcp import Client, StdioServerParameters

    times: list[float] = []

    async def run() -> None:
        async with Client(StdioServerParameters(command=SERVER[0], args=SERVER[1:])) as client:
            await client.call_tool("search_issues", ARGS)  # warm: the first call is not measured
            for _ in range(calls):
                start = time.perf_counter()
                await client.call_tool("search_issues", ARGS)
                times.append(time.perf_counter() - start)

    asyncio.run(run())
    return times


def ours(fs: agentfs.ContextFS, path: str, args: dict, calls: int) -> tuple[float, list[float]]:
    start = time.perf_counter()
    fs.exec(path, args, session="bench")  # the first call also starts the server
    first = time.perf_counter() - start
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fs.exec(path, args, session="bench")
        times.append(time.perf_counter() - start)
    return first, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50, help="calls per side (baseline: at most 10)")
    parser.add_argument("--smoke", action="store_true", help="a few calls")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    calls = 3 if args.smoke else args.calls
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bench_echo.py").write_text('def echo(text: str) -> str:\n    """Echo."""\n    return text\n')
        sys.path.insert(0, tmp)
        root = Path(tmp) / "ctx"
        admin = agentfs.init(root)
        toolsets.add_mcp(admin, "github", command=SERVER)
        toolsets.add_python(admin, ["bench_echo:echo"], toolset="local")
        admin.grant("agent:bench", "exec", "/tools")
        admin.close()
        agent = agentfs.open(root, principal="agent:bench")  # no live session yet
        first, mcp_times = ours(agent, "/tools/github/search_issues", ARGS, calls)
        _, python_times = ours(agent, "/tools/local/echo", {"text": "hello"}, calls)
        agent.close()
    base_times = baseline(min(calls, 10))
    live_times = live(calls)
    base, mine, py, floor = (statistics.median(t) * 1000 for t in (base_times, mcp_times, python_times, live_times))
    result = {
        "calls": calls, "baseline_calls": len(base_times),
        "baseline_ms_p50": round(base, 2), "ours_mcp_ms_p50": round(mine, 2),
        "ours_mcp_first_call_ms": round(first * 1000, 1), "ours_python_ms_p50": round(py, 2),
        "live_mcp_ms_p50": round(floor, 2), "speedup_p50": round(base / mine, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'':28}{'p50 ms':>10}")
    print(f"{'baseline (session per call)':28}{base:>10.2f}")
    print(f"{'ours: exec over MCP':28}{mine:>10.2f}   (first call, starting the server: {first * 1000:.0f} ms)")
    print(f"{'ours: exec of Python tool':28}{py:>10.2f}")
    print(f"{'mcp client, live session':28}{floor:>10.2f}   (no governance: the floor)")
    print(f"speed-up of exec over MCP against the baseline: {base / mine:.1f}x "
          f"(load average {result['load_avg_1m']})")


if __name__ == "__main__":
    main()
