"""Tools agentfs itself provides, installed like any Python tool:

    agentfs tools add ./ctx python agentfs.runtime.builtins:remember agentfs.runtime.builtins:recall --name memory
    agentfs tools add ./ctx python agentfs.runtime.builtins:read_skill --name skills

Each acts through the caller's handle (``tool_context.fs``), so the caller's permissions apply.
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.tools import InjectedToolArg

from agentfs.errors import ValidationError
from agentfs.runtime.sources import ToolContext

MAX_RECALL = 20


def remember(fact: str, tool_context: Annotated[ToolContext, InjectedToolArg] = None) -> dict[str, Any]:  # type: ignore[assignment]
    """Remember a fact about the user or the world for later sessions.

    State one fact per call, in words close to what the user said. The fact is checked against
    the conversation before it is stored; doubtful facts go to a human for review.

    Args:
        fact: the fact, one sentence, e.g. "Ana drinks oat-milk flat whites".
    """
    fact = " ".join(fact.split())
    if not fact:
        raise ValidationError("remember: the fact is empty", rule="memory_fact")
    run = tool_context.run
    if run is not None and hasattr(run, "propose_memory"):
        # In an agent run the Evaluator decides after the answer, against what was delivered.
        return run.propose_memory(fact)
    from agentfs.context import build
    from agentfs.context import remember as write_back

    # Outside a run: check the fact against this session's history, then write it back.
    context = build(tool_context.fs, fact, session=tool_context.session)
    outcome = write_back(tool_context.fs, context, [fact])[0]
    return outcome.to_dict()


def recall(query: str, k: int = 5, tool_context: Annotated[ToolContext, InjectedToolArg] = None) -> list[dict[str, Any]]:  # type: ignore[assignment]
    """Search long-term memory for facts relevant to a question.

    Args:
        query: what to look for, in a few words.
        k: how many memories to return (at most 20).
    """
    fs = tool_context.fs
    out = []
    for hit in fs.search(query, k=max(1, min(k, MAX_RECALL)), path="/memory"):
        _, body = fs.front_matter(hit.path) if hit.path.endswith(".md") else ({}, fs.read_text(hit.path))
        info = fs.stat(hit.path, permissions=False)
        out.append({"path": hit.path, "version": hit.version, "text": body.strip(),
                    "provenance": info.provenance})
    return out


def read_skill(name: str, file: str | None = None,
               tool_context: Annotated[ToolContext, InjectedToolArg] = None) -> dict[str, Any]:  # type: ignore[assignment]
    """Load a skill's instructions (or one of its resource files) before following it.

    Args:
        name: the skill's name, as listed under Skills.
        file: a resource of the skill, relative to its folder; omit it for the instructions.
    """
    from agentfs.runtime.skills import load_skill, read_resource

    run = tool_context.run
    allowed = getattr(run, "allows_skill", None)
    if allowed is not None and not allowed(name):
        raise ValidationError(f"skill {name!r} is not among the skills this agent may use", rule="skill_allowed")
    if file:
        return {"name": name, "file": file, "text": read_resource(tool_context.fs, name, file)}
    return load_skill(tool_context.fs, name)
