"""Exemplar 2: a GitHub assistant over MCP, offline. Its tools come live from the example MCP
server (examples/github_mcp_server.py, issues from examples/data/github_issues.json), mounted at
/tools/github; every call goes through ContextFS.exec as agent:github-assistant.

    python examples/github_assistant.py [STORE_DIR]

Against GitHub itself: add the toolset from GitHub's MCP server first (docs/tools-and-agents.md);
the agent definition stays the same.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import agentfs
from agentfs.runtime import Agent, load_agent

AGENT = Path(__file__).resolve().parents[1] / "agents" / "github-assistant.yaml"


def main(root: Path) -> None:
    fs = agentfs.init(root)
    agent = Agent(fs, load_agent(AGENT), session="triage-monday")
    for note in agent.notes:
        print(f"setup: {note}")
    print("tools:", ", ".join(t.path for t in agent.tools))

    for question in ("which open issues mention FUSE?", "triage issue #3"):
        reply = agent.ask(question)
        print(f"\n> {question}\n{reply.text}")
        for use in reply.tools:
            print(f"  called {use.path} {json.dumps(use.args)} -> recorded in {use.ref.path if use.ref else '-'}")
        print(f"  grounded: {reply.grounding['supported']} claim(s) supported, "
              f"confidence {reply.grounding['confidence']:.2f}")
    assert "#9 Permission denied" in agent.history.entries(types=("assistant",))[0]["text"]

    # Governance: the agent may not comment on issues; its definition does not allow that tool, and
    # without an exec grant on it the store refuses it too (EACCES, audited).
    try:
        agent.fs.exec("/tools/github/add_issue_comment", {"owner": "octo-org", "repo": "agentfs",
                                                          "issue_number": 3, "body": "+1"})
    except agentfs.PermissionDeniedError as exc:
        print(f"\nrefused: {exc.message}")
    fs.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "ctx")
