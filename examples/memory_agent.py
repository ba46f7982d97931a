"""Exemplar 1: an agent with a memory, offline. It learns about Ana on Monday, uses it on Tuesday,
and every fact it uses is traced back to the history entry it came from.

    python examples/memory_agent.py [STORE_DIR]

The agent is agents/memory-agent.yaml with its scripted offline model; pass a real one with
``agentfs run agents/memory-agent.yaml --model openai:gpt-4o`` (see docs/tools-and-agents.md).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import agentfs
from agentfs.runtime import Agent, load_agent, trace

AGENT = Path(__file__).resolve().parents[1] / "agents" / "memory-agent.yaml"


def main(root: Path) -> None:
    fs = agentfs.init(root)  # you are the store's administrator
    spec = load_agent(AGENT)

    monday = Agent(fs, spec, session="monday")  # grants the agent its mounts, installs its tools
    reply = monday.ask("Hi, I'm Ana. I drink oat-milk flat whites every morning. I'm vegetarian.")
    print(f"monday> {reply.text}")
    for memory in reply.memories:
        print(f"  memory {memory['status']:>7}: {memory['path']}  ({memory['text']})")

    # A human reviews what the Evaluator doubted and approves it by moving it into the profile.
    for entry in fs.ls("/human/review"):
        fs.mv(entry.path, "/memory/profile/" + entry.name)
        print(f"  approved by a human: /memory/profile/{entry.name}")

    tuesday = Agent(fs, spec, session="tuesday")
    reply = tuesday.ask("What should I order at the café?")
    print(f"tuesday> {reply.text}")
    assert "oat-milk flat whites" in reply.text, reply.text
    for used in reply.used:
        for source in used["sources"]:
            for origin in trace(fs, source["path"]) if source["path"].startswith("/memory/") else []:
                print(f"  {source['path']} v{source['version']} <- {origin['path']} v{origin['version']}: "
                      f"{origin['entry']['text']!r}")
    fs.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "ctx")
