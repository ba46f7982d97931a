"""A small store an agent may partly read: the fixture data of the integration tests."""

from __future__ import annotations

from agentfs.fs import ContextFS

AGENT = "agent:helper"

# Three memories mention coffee (a query on coffee has three hits an agent may read); the secret
# one mentions it too but lies outside the agent's grant, so it must never show.
MEMORIES = {
    "/memory/semantic/coffee.md": "---\ntags: [prefs, coffee]\n---\nAna drinks oat-milk flat whites.\n",
    "/memory/semantic/coffee-shop.md": "Ana buys her coffee at the kiosk by the station.\n",
    "/memory/episodic/2024-05-02.md": "Ana spilled coffee on the train and laughed.\n",
    "/memory/semantic/trains.md": "Ana commutes by train on Tuesdays.\n",
    "/knowledge/secret/salary.md": "Ana's salary is confidential coffee money.\n",
}


def seed(fs: ContextFS) -> None:
    """Write MEMORIES; AGENT may read /memory and write its scratchpad, nothing else."""
    fs.write_many(list(MEMORIES.items()))
    fs.grant(AGENT, "read,list", "/memory")
    fs.grant(AGENT, "read,list,write,delete", "/scratchpad/helper")
