"""Where tools come from and how they run: Python callables, LangChain tools, commands.

MCP servers are the fourth source (see :mod:`agentfs.runtime.mcp_client`). Every source yields a
JSON Schema for the arguments and runs with a dict of arguments that already passed that schema.

A Python tool may ask for the call's :class:`ToolContext` (the caller's ContextFS handle, the
session, the agent run) by declaring a parameter ``tool_context`` annotated with LangChain's
``InjectedToolArg``; it is then left out of the schema and filled in by agentfs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentfs.errors import AgentFSError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from agentfs.fs import ContextFS

CONTEXT_PARAM = "tool_context"
MAX_OUTPUT_BYTES = 4 * 1024 * 1024  # a command tool's stdout beyond this is refused


class ToolError(AgentFSError):
    """A tool ran and failed (raised, exited non-zero, timed out, or its server is unreachable)."""

    code = "tool_error"


class ToolContext:
    """What a Python tool may learn about the call it serves (injected as ``tool_context``).

    A plain class, not a dataclass or pydantic model, so LangChain treats it as an opaque
    injected value rather than trying to build a schema for it.

    Attributes:
        fs: the caller's handle: reads and writes are checked as the caller.
        tool: the tool's path.
        session: the history session of the call.
        run: the agent run when an agent called the tool, else None.
    """

    __slots__ = ("fs", "run", "session", "tool")

    def __init__(self, fs: ContextFS, tool: str, session: str, run: Any = None) -> None:
        self.fs = fs
        self.tool = tool
        self.session = session
        self.run = run


def import_ref(ref: str, search: Sequence[str] = ()) -> Any:
    """Import ``package.module:attribute`` (the attribute may be dotted).

    Args:
        search: folders to look in when the top-level package is not importable otherwise (a
            project folder the tool was added from, as ``python -m`` would look in the current
            directory); they are appended to ``sys.path``, so installed packages still win.

    Raises:
        ValidationError: the reference is malformed.
        NotFoundError: the module or attribute does not exist.
    """
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValidationError(f"{ref!r} is not a Python reference; use package.module:name", rule="python_ref")
    try:
        obj: Any = _import_module(module_name, search)
    except ImportError as exc:
        where = f" (looked in {', '.join(search)} too)" if search else ""
        raise NotFoundError(f"cannot import {module_name!r} for tool {ref}: {exc}{where}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise NotFoundError(f"{module_name} has no attribute {attr!r} (tool {ref})") from None
    return obj


def _import_module(name: str, search: Sequence[str]) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # Only a missing top-level package is a question of where to look; a missing dependency
        # inside the tool's own module is the tool's error and is reported as it is.
        top = name.split(".")[0]
        missing = [folder for folder in search if folder not in sys.path]
        if exc.name != top or not missing:
            raise
    sys.path.extend(missing)
    importlib.invalidate_caches()
    return importlib.import_module(name)


def locate_ref(ref: str, folder: str) -> tuple[Any, str | None]:
    """Import ``ref`` as it is, else from ``folder``.

    Returns the object, and ``folder`` when the reference's top-level package lives right in it (a
    project folder rather than an installed package): the folder to record, so that another
    process, started elsewhere, finds the module too.
    """
    try:
        obj = import_ref(ref)
    except NotFoundError:
        if folder in sys.path:
            raise
        obj = import_ref(ref, [folder])
    root = _import_root(ref.partition(":")[0].split(".")[0])
    return obj, folder if root is not None and os.path.realpath(root) == os.path.realpath(folder) else None


def _import_root(top: str) -> str | None:
    """The ``sys.path`` folder an imported top-level module or package was found in."""
    module = sys.modules.get(top)
    location = getattr(module, "__file__", None)
    if location:
        parent = os.path.dirname(location)
        return os.path.dirname(parent) if os.path.basename(location) == "__init__.py" else parent
    for folder in getattr(module, "__path__", None) or []:  # a namespace package
        return os.path.dirname(folder)
    return None


def as_langchain_tool(obj: Any, ref: str) -> BaseTool:
    """A LangChain ``BaseTool`` for a tool object or a plain callable (schema from its signature)."""
    from langchain_core.tools import BaseTool, StructuredTool

    if isinstance(obj, BaseTool):
        return obj
    if not callable(obj):
        raise ValidationError(f"{ref} is neither a callable nor a LangChain tool", rule="python_ref")
    try:
        return StructuredTool.from_function(obj, parse_docstring=True)
    except ValueError:  # the docstring is not Google style: fall back to the signature alone
        return StructuredTool.from_function(obj)


def tool_schema(tool: BaseTool) -> dict[str, Any]:
    """The JSON Schema of a LangChain tool's model-facing arguments (injected ones left out)."""
    schema: Any = tool.tool_call_schema
    data = schema if isinstance(schema, dict) else schema.model_json_schema()
    data = {k: v for k, v in data.items() if k not in ("title", "description")}
    data.setdefault("type", "object")
    data.setdefault("properties", {})
    return data


def wants_context(tool: BaseTool) -> bool:
    schema = tool.args_schema
    fields = getattr(schema, "model_fields", None) or {}
    return CONTEXT_PARAM in fields


def invoke_langchain(tool: BaseTool, args: dict[str, Any], context: ToolContext) -> Any:
    """Run a LangChain tool with validated arguments; returns its raw result."""
    call = dict(args)
    if wants_context(tool):
        call[CONTEXT_PARAM] = context
    try:
        return tool.invoke(call)
    except NotImplementedError:  # an async-only tool
        return asyncio.run(tool.ainvoke(call))


def invoke_command(entry: dict[str, Any], args: dict[str, Any], context: ToolContext, timeout: float) -> Any:
    """Run a command tool: JSON arguments on stdin, its stdout back (parsed when it is JSON)."""
    argv = entry.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ValidationError(f"{context.tool}/entry.json: 'argv' must be a non-empty list of strings",
                              path=context.tool, rule="tool_entry")
    env = {**os.environ, "AGENTFS_TOOL": context.tool, "AGENTFS_SESSION": context.session,
           "AGENTFS_PRINCIPAL": context.fs.principal}
    try:
        done = subprocess.run(argv, input=json.dumps(args).encode(), capture_output=True, timeout=timeout,
                              cwd=entry.get("cwd") or None, env=env, check=False)
    except FileNotFoundError:
        raise ToolError(f"{context.tool}: command not found: {argv[0]}", path=context.tool) from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"{context.tool}: timed out after {timeout:g} s", path=context.tool) from None
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise ToolError(f"{context.tool}: exited with status {done.returncode}: {tail}", path=context.tool)
    if len(done.stdout) > MAX_OUTPUT_BYTES:
        raise ToolError(f"{context.tool}: output larger than {MAX_OUTPUT_BYTES} bytes", path=context.tool)
    text = done.stdout.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.rstrip("\n")


def jsonable(value: Any) -> Any:
    """A JSON-able form of a tool result (pydantic models, dataclasses, messages become dicts)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
