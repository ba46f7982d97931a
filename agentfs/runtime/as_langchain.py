"""The tools under ``/tools`` as LangChain tools, for an agent built with LangChain or LangGraph.

    from agentfs.runtime import langchain_tools
    tools = langchain_tools(fs.as_principal("agent:helper"), ["/tools/github/*"], session="s1")
    model.bind_tools(tools)        # or create_react_agent(model, tools), ToolNode(tools), ...

Each tool keeps the folder's description and ``schema.json``, and runs through ``ContextFS.exec``
as the handle's principal: the exec permission, the argument check, the audit row and the history
entry are the same as for ``agentfs exec`` or the agentfs runtime. A refused or failed call comes
back to the model as one line (a ``ToolException`` the tool handles), so the model can correct it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentfs.errors import AgentFSError
from agentfs.runtime.tooldefs import ToolSpec, find_tools

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from agentfs.fs import ContextFS


def langchain_tools(
    fs: ContextFS,
    patterns: Sequence[str] = ("/tools/*",),
    *,
    session: str | None = None,
    under: str = "/tools",
) -> list[BaseTool]:
    """LangChain tools for the tools ``fs``'s principal may read whose paths match ``patterns``.

    Args:
        fs: the handle the tools run as.
        patterns: glob patterns over tool paths (``/tools/github/*``; ``*`` crosses ``/``).
        session: the history session calls are recorded in (default ``default``).
        under: where to look for tools.

    Returns:
        One ``StructuredTool`` per tool, named ``<toolset>__<tool>`` (a name chat APIs accept).
        Tools the principal may read but not run are included: a call is then refused (and audited)
        like any other, which the model sees as the tool's answer.
    """
    return [_as_tool(fs, spec, session) for spec in find_tools(fs, under)
            if any(fnmatch.fnmatchcase(spec.path, pattern) for pattern in patterns)]


def _as_tool(fs: ContextFS, spec: ToolSpec, session: str | None) -> BaseTool:
    from langchain_core.tools import StructuredTool, ToolException

    def run(**args: Any) -> Any:
        try:
            return fs.exec(spec.path, args, session=session)
        except AgentFSError as exc:
            raise ToolException(f"agentfs: {exc.message}") from exc

    return StructuredTool(name=spec.llm_name, description=spec.description or spec.name,
                          args_schema=spec.schema, func=run, handle_tool_error=True,
                          metadata={"agentfs_path": spec.path, "agentfs_version": spec.version})
