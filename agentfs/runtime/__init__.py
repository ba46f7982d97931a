"""The agent runtime: tools and skills as files, agent definitions, models and the agent loop.

    >>> from agentfs.runtime import Agent, load_agent          # doctest: +SKIP
    >>> agent = Agent(fs, load_agent("agents/memory-agent.yaml"), session="monday")  # doctest: +SKIP
    >>> agent.ask("Hi, I'm Ana. I drink oat-milk flat whites.").text              # doctest: +SKIP

Names are imported on first use, so the tools service (``agentfs.runtime.tools``) loads without
the model and context machinery.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Agent": "agentfs.runtime.loop",
    "Reply": "agentfs.runtime.loop",
    "AgentSpec": "agentfs.runtime.agents",
    "load_agent": "agentfs.runtime.agents",
    "resolve_model": "agentfs.runtime.models",
    "ModelUnavailableError": "agentfs.runtime.models",
    "ScriptedChatModel": "agentfs.runtime.scripted",
    "ToolContext": "agentfs.runtime.sources",
    "ToolError": "agentfs.runtime.sources",
    "ToolSpec": "agentfs.runtime.tooldefs",
    "find_tools": "agentfs.runtime.tooldefs",
    "langchain_tools": "agentfs.runtime.as_langchain",
    "add_mcp": "agentfs.runtime.toolsets",
    "add_python": "agentfs.runtime.toolsets",
    "add_command": "agentfs.runtime.toolsets",
    "refresh": "agentfs.runtime.toolsets",
    "add_skill": "agentfs.runtime.skills",
    "list_skills": "agentfs.runtime.skills",
    "load_skill": "agentfs.runtime.skills",
    "HistoryLog": "agentfs.runtime.history",
    "trace": "agentfs.runtime.history",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentfs.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
