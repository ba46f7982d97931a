"""Exemplar 2, end to end and offline: a GitHub assistant over MCP, its tools served by the example
server from a JSON fixture; the same definition runs against another server the user points it at."""

from __future__ import annotations

import json
import sys

import pytest

from agentfs.fs import ContextFS
from agentfs.runtime import toolsets
from agentfs.runtime.agents import load_agent
from agentfs.runtime.history import HistoryLog
from agentfs.runtime.loop import Agent
from agentfs.runtime.tooldefs import find_tools
from tests.runtime.conftest import AGENTS

FUSE_OPEN = [1, 3, 6, 9]


@pytest.fixture(scope="module")
def spec():  # type: ignore[no-untyped-def]
    return load_agent(AGENTS / "github-assistant.yaml")


def _numbers(text: str) -> list[int]:
    return [int(line.split("#", 1)[1].split()[0]) for line in text.splitlines() if line.startswith("- #")]


def test_answers_from_the_mcp_server_installed_on_first_run(store: ContextFS, spec) -> None:  # type: ignore[no-untyped-def]
    agent = Agent(store, spec, session="gh")
    assert any("installed toolset /tools/github" in n for n in agent.notes)
    assert [t.path for t in agent.tools] == ["/tools/github/get_issue", "/tools/github/get_issue_comments",
                                            "/tools/github/list_issues", "/tools/github/search_issues",
                                            "/tools/skills/read_skill"]  # add_issue_comment is not allowed
    reply = agent.ask("which open issues mention FUSE?")
    assert _numbers(reply.text) == FUSE_OPEN
    [use] = reply.tools
    assert use.path == "/tools/github/search_issues"
    assert use.args == {"query": "FUSE is:issue is:open repo:octo-org/agentfs"}
    # every listed issue is grounded in the recorded tool result
    tool_entry = use.ref.path
    for line in reply.text.splitlines()[1:]:
        [claim] = [u for u in reply.used if u["claim"] == line]
        assert tool_entry in [s["path"] for s in claim["sources"]]
    entries = HistoryLog(store, "gh").entries()
    assert [e["type"] for e in entries] == ["user", "tool", "assistant"]
    assert entries[1]["principal"] == spec.principal and entries[2]["tools"] == [tool_entry]


def test_a_skill_is_paged_in_only_when_used(store: ContextFS, spec) -> None:  # type: ignore[no-untyped-def]
    agent = Agent(store, spec, session="triage")
    plain = agent.ask("which closed issues mention history?")
    assert _numbers(plain.text) == [12]
    skill_text = store.front_matter("/skills/issue-triage/SKILL.md")[1]
    assert "Classify it" not in store.read_text(f"/context/{plain.context}/context.txt")  # offered, not loaded
    assert "/skills/issue-triage" in store.read_text(f"/context/{plain.context}/context.txt")
    # it is offered only the tools it may run: it can list the toolset, not read add_issue_comment
    offered = store.read_text(f"/context/{plain.context}/context.txt")
    assert "/tools/github/search_issues" in offered and "add_issue_comment" not in offered
    assert "add_issue_comment" not in [t.name for t in find_tools(agent.fs)]
    reply = agent.ask("triage issue #9")
    assert [u.name for u in reply.tools] == ["skills__read_skill", "github__get_issue"]
    assert reply.tools[0].result["instructions"] == skill_text.strip()
    assert "Permission denied writing through the mount" in reply.text


def test_errors_from_the_server_reach_the_answer(store: ContextFS, spec) -> None:  # type: ignore[no-untyped-def]
    reply = Agent(store, spec, session="err").ask("show issue 99")
    assert not reply.tools[0].ok
    assert "issue #99 not found in octo-org/agentfs" in reply.text
    [entry] = HistoryLog(store, "err").entries(types=("tool",))
    assert entry["ok"] is False and reply.tools[0].ref.path == entry["path"]


def test_the_same_definition_against_a_server_the_user_points_at(store: ContextFS, spec,  # type: ignore[no-untyped-def]
                                                                  http_server: str) -> None:
    # The user mounts another server first (here: over HTTP); the agent leaves it alone and uses it.
    toolsets.add_mcp(store, "github", url=http_server)
    store.rm("/tools/github/list_issues", recursive=True)  # a listing gone stale
    agent = Agent(store, spec, session="remote")
    assert not any("/tools/github" in n and "installed" in n for n in agent.notes)
    # its tools are listed again from that server, live, when the agent starts
    assert "refreshed toolset /tools/github from its server: 1 added, 0 updated, 0 removed" in agent.notes
    assert store.exists("/tools/github/list_issues/entry.json")
    assert json.loads(store.read_text("/tools/github/toolset.json"))["url"] == http_server
    reply = agent.ask("which open issues mention FUSE?")
    assert _numbers(reply.text) == FUSE_OPEN


def test_a_server_that_cannot_be_reached_does_not_stop_the_agent(store: ContextFS, spec) -> None:  # type: ignore[no-untyped-def]
    broken = {"kind": "mcp", "name": "github", "transport": "stdio", "cwd": None, "env": [],
              "command": [sys.executable, "-c", "import sys; sys.stderr.write('no network'); sys.exit(3)"]}
    store.write("/tools/github/toolset.json", json.dumps(broken))
    agent = Agent(store, spec, session="offline")
    [note] = [n for n in agent.notes if n.startswith("kept /tools/github as it was")]
    assert "listing its server failed" in note and "no network" in note
    assert "mention" in agent.ask("hello").text  # it still answers (the script's default reply)
