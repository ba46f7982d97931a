"""The MCP server, driven by the real ``mcp`` client against ``agentfs mcp`` in a subprocess.

Both transports: stdio (how desktop assistants launch it) and streamable HTTP on 127.0.0.1. The
server acts as ``agent:helper``, so the tests also check that the store's rules hold over MCP.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from agentfs.fs import ContextFS
from tests.helpers import ADMIN
from tests.integrations.data import AGENT

pytestmark = pytest.mark.timeout(120)

SERVE = [sys.executable, "-m", "agentfs.cli.app", "mcp"]
EXPECTED_TOOLS = {"list", "read", "stat", "search", "grep", "write", "build_context", "exec"}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFS_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


async def _exercise(client: Client, fs: ContextFS) -> None:
    """What every transport must do: tools with annotations, governed reads and writes, resources."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == EXPECTED_TOOLS
    for name in ("list", "read", "stat", "search", "grep"):
        assert tools[name].annotations.read_only_hint is True, name
    assert tools["write"].annotations.read_only_hint is False
    assert tools["write"].annotations.destructive_hint is False  # a new version; the old one stays
    assert tools["exec"].annotations.destructive_hint is True
    assert tools["exec"].annotations.open_world_hint is True

    read = await client.call_tool("read", {"path": "/memory/semantic/coffee-shop.md"})
    assert not read.is_error
    assert read.content[0].text == "Ana buys her coffee at the kiosk by the station.\n"

    denied = await client.call_tool("read", {"path": "/knowledge/secret/salary.md"})
    assert denied.is_error
    assert "permission_denied" in denied.content[0].text

    hits = await client.call_tool("search", {"query": "coffee", "k": 10})
    paths = [hit["path"] for hit in hits.structured_content["hits"]]
    assert "/memory/semantic/coffee-shop.md" in paths
    assert "/knowledge/secret/salary.md" not in paths  # filtered inside the index, never returned

    grep = await client.call_tool("grep", {"pattern": "salary|kiosk"})
    assert [m["path"] for m in grep.structured_content["matches"]] == ["/memory/semantic/coffee-shop.md"]

    wrote = await client.call_tool("write", {"path": "/scratchpad/helper/note.md", "content": "call Ana\n"})
    assert not wrote.is_error, wrote.content
    assert fs.stat("/scratchpad/helper/note.md").author == AGENT  # written as the served principal
    refused = await client.call_tool("write", {"path": "/memory/semantic/coffee.md", "content": "x"})
    assert refused.is_error and "permission_denied" in refused.content[0].text
    assert fs.read_text("/memory/semantic/coffee.md").endswith("Ana drinks oat-milk flat whites.\n")

    stat = await client.call_tool("stat", {"path": "/memory/semantic/coffee.md"})
    assert stat.structured_content["meta"] == {"tags": ["prefs", "coffee"]}
    assert "write" not in stat.structured_content["permissions"]

    built = await client.call_tool("build_context", {"task": "What coffee does Ana drink?", "budget": 800})
    assert not built.is_error, built.content
    context = built.structured_content
    assert context["tokens"] <= 800 and "/memory/semantic/coffee.md" in {i["path"] for i in context["items"]}
    assert "salary" not in context["text"]
    manifest = json.loads(fs.read_text(context["manifest"]))
    assert manifest["principal"] == AGENT  # built with the served principal's read access

    ran = await client.call_tool("exec", {"path": "/tools/text/count_words", "args": {"text": "two words"}})
    assert not ran.is_error, ran.content
    assert isinstance(ran.structured_content["result"], int)
    refused_exec = await client.call_tool("exec", {"path": "/tools/text/shout", "args": {}})
    assert refused_exec.is_error and "permission_denied" in refused_exec.content[0].text

    resources = {str(r.uri) for r in (await client.list_resources()).resources}
    assert "agentfs:///memory/semantic/coffee.md" in resources
    assert "agentfs:///knowledge/secret/salary.md" not in resources
    content = await client.read_resource("agentfs:///memory/episodic/2024-05-02.md")
    assert content.contents[0].text == "Ana spilled coffee on the train and laughed.\n"
    assert content.contents[0].mime_type == "text/markdown"  # as resources/list types it
    with pytest.raises(MCPError, match="permission_denied"):
        await client.read_resource("agentfs:///knowledge/secret/salary.md")


@pytest.fixture
def served(seeded: ContextFS) -> ContextFS:
    """``seeded`` plus two command tools, of which AGENT may run only ``count_words``."""
    root = str(seeded.root)
    for tool, command in (("count_words", ["wc", "-w"]), ("shout", ["tr", "a-z", "A-Z"])):
        subprocess.run([*SERVE[:-1], "tools", "add", root, "command", "--name", "text", "--tool", tool,
                        "--description", f"{tool} of the JSON arguments.", "--", *command],
                       env={**_env(), "AGENTFS_PRINCIPAL": ADMIN}, check=True, capture_output=True, timeout=60)
    seeded.grant(AGENT, "exec", "/tools/text/count_words")
    return seeded


async def test_stdio(served: ContextFS) -> None:
    params = StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], str(served.root), "--as", AGENT],
                                   env=_env())
    async with Client(params) as client:
        await _exercise(client, served)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def http_server(served: ContextFS, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([*SERVE, str(served.root), "--as", AGENT, "--http", str(port)],
                               env=_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail("agentfs mcp --http exited: " + (tmp_path / "server.log").read_text())
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("agentfs mcp --http did not listen within 30 s")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def test_streamable_http(http_server: str, served: ContextFS) -> None:
    async with Client(http_server) as client:
        await _exercise(client, served)


def test_cli_refuses_a_missing_store(tmp_path: Path) -> None:
    result = subprocess.run([*SERVE, str(tmp_path / "nope"), "--as", AGENT], env=_env(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("agentfs: error:")
    assert result.stdout == ""  # stdout is the protocol channel: nothing else may land there


async def test_the_documented_desktop_configuration_starts_a_server(seeded: ContextFS) -> None:
    """The JSON snippet in docs/howto/mcp.md, with its store path swapped, launches a working server."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "howto" / "mcp.md").read_text(encoding="utf-8")
    [snippet] = re.findall(r"```json\n(.*?)```", page, re.DOTALL)
    entry = json.loads(snippet)["mcpServers"]["agentfs"]
    command = shutil.which(entry["command"], path=os.pathsep.join([str(Path(sys.executable).parent),
                                                                    os.environ.get("PATH", "")]))
    assert command, f"{entry['command']!r} is not installed next to this Python"
    args = [str(seeded.root) if arg == "/home/ana/ctx" else arg for arg in entry["args"]]
    assert str(seeded.root) in args
    seeded.grant("agent:assistant", "read,list", "/memory")
    async with Client(StdioServerParameters(command=command, args=args, env=_env())) as client:
        read = await client.call_tool("read", {"path": "/memory/semantic/trains.md"})
        assert read.content[0].text == "Ana commutes by train on Tuesdays.\n"
