"""MCP servers as tool sources: a real server in a subprocess, over stdio and streamable HTTP."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agentfs.errors import ValidationError
from agentfs.fs import ContextFS
from agentfs.runtime import toolsets
from agentfs.runtime.history import HistoryLog
from agentfs.runtime.sources import ToolError
from tests.helpers import as_agent
from tests.runtime.conftest import server_command

GITHUB_TOOLS = ["add_issue_comment", "get_issue", "get_issue_comments", "list_issues", "search_issues"]


def _tools(fs: ContextFS, toolset: str) -> list[str]:
    return sorted(info.name for info in fs.ls(f"/tools/{toolset}") if info.kind == "dir")


def test_stdio_server_tools_are_listed_live_and_run(store: ContextFS) -> None:
    report = toolsets.add_mcp(store, "github", command=server_command())
    assert sorted(report.added) == [f"/tools/github/{t}" for t in GITHUB_TOOLS]
    assert _tools(store, "github") == GITHUB_TOOLS
    config = json.loads(store.read_text("/tools/github/toolset.json"))
    assert config["transport"] == "stdio" and config["command"] == server_command()
    schema = json.loads(store.read_text("/tools/github/search_issues/schema.json"))
    assert schema["required"] == ["query"] and "perPage" in schema["properties"]
    entry = json.loads(store.read_text("/tools/github/get_issue/entry.json"))
    assert entry["kind"] == "mcp" and entry["annotations"]["readOnlyHint"] is True

    agent = as_agent(store, "agent:helper", "exec", "/tools/github")
    found = agent.exec("/tools/github/search_issues", {"query": "fuse is:open"}, session="mcp")
    assert [item["number"] for item in found["items"]] == [1, 3, 6, 9]
    issue = agent.exec("/tools/github/get_issue", {"owner": "octo-org", "repo": "agentfs", "issue_number": 4})
    assert issue["title"].startswith("Memory write-back")
    [entry] = HistoryLog(store, "mcp").entries()
    assert entry["tool"] == "/tools/github/search_issues" and entry["result"]["total_count"] == 4


def test_server_errors_and_bad_arguments(store: ContextFS) -> None:
    toolsets.add_mcp(store, "github", command=server_command())
    with pytest.raises(ToolError, match="issue #99 not found in octo-org/agentfs"):
        store.exec("/tools/github/get_issue", {"owner": "octo-org", "repo": "agentfs", "issue_number": 99})
    with pytest.raises(ValidationError, match="argument issue_number: 'x' is not of type 'integer'"):
        store.exec("/tools/github/get_issue", {"owner": "octo-org", "repo": "agentfs", "issue_number": "x"})
    # the session survived the error: the next call works
    assert store.exec("/tools/github/list_issues", {"owner": "octo-org", "repo": "agentfs", "state": "closed"})


def test_http_server(store: ContextFS, http_server: str) -> None:
    report = toolsets.add_mcp(store, "gh", url=http_server)
    assert sorted(report.added) == [f"/tools/gh/{t}" for t in GITHUB_TOOLS]
    config = json.loads(store.read_text("/tools/gh/toolset.json"))
    assert config == {"kind": "mcp", "name": "gh", "transport": "http", "url": http_server, "headers": {}}
    result = store.exec("/tools/gh/search_issues", {"query": "history is:closed"})
    assert [item["number"] for item in result["items"]] == [12]


DYNAMIC_SERVER = '''
from mcp.server.mcpserver import MCPServer

app = MCPServer("dynamic")

def extra(x: int) -> int:
    """An extra tool, there only after grow()."""
    return x * 2

@app.tool()
def grow() -> str:
    """Add the tool 'extra' and remove 'shrink'."""
    app.add_tool(extra)
    app.remove_tool("shrink")
    return "grown"

@app.tool()
def shrink() -> str:
    """Removed by grow()."""
    return "still here"

app.run()
'''


def test_refresh_follows_what_the_server_offers_now(store: ContextFS, tmp_path: Path) -> None:
    script = tmp_path / "dynamic_server.py"
    script.write_text(textwrap.dedent(DYNAMIC_SERVER))
    toolsets.add_mcp(store, "dyn", command=[sys.executable, str(script)])
    assert _tools(store, "dyn") == ["grow", "shrink"]
    version = store.stat("/tools/dyn/grow/schema.json").version
    assert store.exec("/tools/dyn/grow", {}) == "grown"
    # a tool the server dropped since the last listing: the error says to list again
    with pytest.raises(ToolError, match=r"the server no longer offers shrink: .*agentfs tools refresh STORE /tools/dyn"):
        store.exec("/tools/dyn/shrink", {})
    report = toolsets.refresh(store, "dyn")
    assert report.added == ["/tools/dyn/extra"] and report.removed == ["/tools/dyn/shrink"]
    assert _tools(store, "dyn") == ["extra", "grow"]
    assert store.stat("/tools/dyn/grow/schema.json").version == version  # unchanged tools keep their version
    assert store.exec("/tools/dyn/extra", {"x": 21}) == 42


def test_a_server_that_fails_to_start_is_explained(store: ContextFS) -> None:
    command = [sys.executable, "-c", "import sys; sys.stderr.write('cannot open the fixture'); sys.exit(3)"]
    with pytest.raises(ToolError) as caught:
        toolsets.add_mcp(store, "broken", command=command)
    assert "MCP server broken" in caught.value.message and "cannot open the fixture" in caught.value.message
    assert not store.exists("/tools/broken")


def test_secrets_come_from_the_environment(store: ContextFS, http_server: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTFS_TEST_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="needs the environment variable AGENTFS_TEST_TOKEN"):
        toolsets.add_mcp(store, "gh", url=http_server, headers={"Authorization": "Bearer ${AGENTFS_TEST_TOKEN}"})
    monkeypatch.setenv("AGENTFS_TEST_TOKEN", "s3cret")
    toolsets.add_mcp(store, "gh", url=http_server, headers={"Authorization": "Bearer ${AGENTFS_TEST_TOKEN}"})
    stored = store.read_text("/tools/gh/toolset.json")
    assert "${AGENTFS_TEST_TOKEN}" in stored and "s3cret" not in stored


GROWING_SERVER = Path(__file__).with_name("growing_mcp_server.py")


def _wait_for(predicate: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_toolset_follows_its_servers_tool_list(store: ContextFS) -> None:
    """A server that adds or removes tools and says so (subscriptions/listen) has its toolset
    refreshed while the store is open."""
    toolsets.add_mcp(store, "growing", command=[sys.executable, str(GROWING_SERVER)])
    assert _tools(store, "growing") == ["grow", "shrink"]
    agent = as_agent(store, "agent:helper", "exec", "/tools/growing")
    assert agent.exec("/tools/growing/grow", {"name": "echo_me"}) == "added echo_me"
    assert _wait_for(lambda: "echo_me" in _tools(store, "growing")), store.service("tools").refreshed
    entry = json.loads(store.read_text("/tools/growing/echo_me/entry.json"))
    assert entry["kind"] == "mcp" and entry["tool"] == "echo_me"
    assert "echo_me" in store.read_text("/tools/growing/echo_me/README.md")
    assert store.stat("/tools/growing/echo_me/entry.json").author == "system"
    assert agent.exec("/tools/growing/echo_me", {}) == "echo_me"  # the new tool runs
    assert agent.exec("/tools/growing/shrink", {"name": "echo_me"}) == "removed echo_me"
    assert _wait_for(lambda: "echo_me" not in _tools(store, "growing")), store.service("tools").refreshed
    assert _tools(store, "growing") == ["grow", "shrink"]
    assert all(error is None for _, error in store.service("tools").refreshed)
