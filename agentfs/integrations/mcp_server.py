"""An MCP server over an agentfs store: ``agentfs mcp ./ctx --as agent:x [--http PORT]``.

One server acts as one principal: every tool call and resource read goes through
:class:`agentfs.ContextFS` as that principal, so the store's rules decide what a connected
assistant can see and change, and the audit log records it. Tools carry MCP annotations
(``readOnlyHint``, ``destructiveHint``, ...) so a client can ask before a change.

Tools: ``list``, ``read``, ``stat``, ``search``, ``grep`` (read-only), ``write`` (a new version;
the old one stays restorable, so not destructive), ``build_context`` (writes the assembled context
under ``/context``) and ``exec`` (runs a tool from ``/tools``: anything may happen, so destructive
and open-world). Resources: every readable file as ``agentfs:///<path>``, plus the template
``agentfs:///{+path}`` to read any path.
"""

from __future__ import annotations

import dataclasses
import mimetypes
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

try:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
    from mcp.types import Resource as MCPResource
    from mcp.types import ToolAnnotations
except ImportError as _exc:
    from agentfs.integrations._requires import missing

    raise missing(_exc, "mcp", what="the agentfs MCP server") from _exc

import agentfs
from agentfs.errors import AgentFSError, NotFoundError, PermissionDeniedError
from agentfs.fs import ContextFS
from agentfs.integrations import _ops

URI_PREFIX = "agentfs://"
MAX_LISTED_RESOURCES = 500  # resources/list is a catalogue for people, not a dump of a big store

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)
ADDITIVE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                           open_world_hint=False)
RUNS_CODE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False,
                            open_world_hint=True)

INSTRUCTIONS = """\
agentfs is the agent's memory as a file system. Paths are absolute: /memory/{episodic,semantic,\
procedural,profile}, /history, /scratchpad, /tools, /skills, /human, /knowledge, /context.
Start with `list` on /, `search` by meaning, then `read` a path. `write` makes a new version (older \
ones stay restorable). Access is governed: a refusal names the rule; do not retry it.\
"""


def uri_of(path: str) -> str:
    """``/memory/a.md`` -> ``agentfs:///memory/a.md``."""
    return URI_PREFIX + path


class AgentFSMCPServer(MCPServer):
    """The MCP server for one store and one principal (see the module docstring).

    Args:
        fs: the store, as the principal every request acts as.
        name: the server name clients show.
    """

    def __init__(self, fs: ContextFS, *, name: str = "agentfs", **settings: Any) -> None:
        super().__init__(name=name, instructions=INSTRUCTIONS, version=agentfs.__version__,
                         log_level=settings.pop("log_level", "WARNING"), **settings)
        self.fs = fs
        self._register_tools()
        self.resource(f"{URI_PREFIX}/{{+path}}", name="file", description="A file of the store, by path.")(
            self._read_resource_path)

    # --- resources ------------------------------------------------------------------------------

    async def list_resources(self) -> list[MCPResource]:
        """The files this principal may see (the first few hundred, by path)."""
        import anyio.to_thread

        infos = await anyio.to_thread.run_sync(self._listable_files)
        return [
            MCPResource(uri=uri_of(info.path), name=info.path, title=info.name,
                        description=str(info.meta.get("description")) if info.meta.get("description") else None,
                        mime_type=_mime(info.path), size=info.size)
            for info in infos
        ]

    async def read_resource(self, uri: Any, context: Any = None) -> Any:
        """A file's contents, typed by its name as ``resources/list`` types it (the template cannot)."""
        result = await super().read_resource(uri, context)
        text = str(uri)
        if isinstance(result, list | tuple) and text.startswith(URI_PREFIX + "/"):
            path = text[len(URI_PREFIX):]
            return [dataclasses.replace(part, mime_type=_mime(path) if isinstance(part.content, str)
                                        else "application/octet-stream") for part in result]
        return result

    def _listable_files(self) -> list[Any]:
        out = []
        try:
            entries = self.fs.ls("/", recursive=True)
        except PermissionDeniedError:  # a principal that may see nothing gets an empty catalogue
            return []
        for info in entries:
            if info.kind == "file" and not info.virtual and "read" in self.fs.permissions(info.path):
                out.append(info)
                if len(out) >= MAX_LISTED_RESOURCES:
                    break
        return out

    def _read_resource_path(self, path: str) -> str | bytes:
        full = "/" + path
        try:
            data = self.fs.read(full)
        except NotFoundError as exc:
            raise ResourceNotFoundError(exc.message) from None
        except AgentFSError as exc:
            raise ResourceError(f"{exc.code}: {exc.message}") from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data

    # --- tools ----------------------------------------------------------------------------------

    def _register_tools(self) -> None:
        fs = self.fs

        def list_(path: str = "/", recursive: bool = False) -> dict[str, Any]:
            """List the files and folders below a folder (path, kind, size, version, tokens, metadata)."""
            with _tool_errors():
                return _ops.list_entries(fs, path, recursive=recursive)

        def read(path: str, version: int | None = None) -> str:
            """Read a text file (its current version, or an older `version`)."""
            with _tool_errors():
                return fs.read_text(path, version=version)

        def stat(path: str) -> dict[str, Any]:
            """A file's metadata: size, tokens, version, author, front matter, provenance, your permissions."""
            with _tool_errors():
                return fs.stat(path).to_dict()

        def search(query: str, k: int = 5, path: str | None = None, mode: str = "hybrid") -> dict[str, Any]:
            """Search by meaning and keywords among the files you may read; best first."""
            with _tool_errors():
                return {"hits": _ops.search(fs, query, k=k, path=path, mode=mode)}

        def grep(pattern: str, path: str = "/", ignore_case: bool = False, max_matches: int = 100) -> dict[str, Any]:
            """Lines matching a regular expression in the text files below `path` (like grep -rn)."""
            with _tool_errors():
                return _ops.grep(fs, pattern, path=path, ignore_case=ignore_case, max_matches=max_matches)

        def write(path: str, content: str, metadata: dict[str, Any] | None = None,
                  if_version: int | None = None) -> dict[str, Any]:
            """Create or overwrite a file: a new version (older ones stay restorable).

            `metadata` sets front-matter fields; `if_version` writes only if the file is still at that
            version (0: only if it does not exist).
            """
            with _tool_errors():
                return fs.write(path, content, meta=metadata, if_version=if_version).to_dict()

        def build_context(task: str, budget: int = 4000, model: str | None = None) -> dict[str, Any]:
            """Assemble the context for a task under a token budget, with why each item was chosen."""
            with _tool_errors():
                return _build_context(fs, task, budget=budget, model=model)

        def exec_(path: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
            """Run a tool from /tools (e.g. /tools/github/search_issues) with JSON arguments."""
            with _tool_errors():
                return {"result": _jsonable(fs.exec(path, args or {}))}

        for function, hints in (
            (list_, READ_ONLY), (read, READ_ONLY), (stat, READ_ONLY), (search, READ_ONLY), (grep, READ_ONLY),
            (write, ADDITIVE), (build_context, ADDITIVE), (exec_, RUNS_CODE),
        ):
            self.add_tool(function, name=function.__name__.rstrip("_"), annotations=hints)


@contextmanager
def _tool_errors() -> Iterator[None]:
    """Turn an agentfs error into a tool error the model reads (``code: message``)."""
    try:
        yield
    except AgentFSError as exc:
        raise ToolError(f"{exc.code}: {exc.message}") from None


def _build_context(fs: ContextFS, task: str, *, budget: int, model: str | None) -> dict[str, Any]:
    from agentfs.integrations import _context

    return _context.summary(_context.build(fs, task, budget=budget, model=model))


def _jsonable(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def _mime(path: str) -> str:
    if path.endswith(".md"):
        return "text/markdown"
    return mimetypes.guess_type(path)[0] or "text/plain"


def serve(fs: ContextFS, *, http_port: int | None = None, host: str = "127.0.0.1") -> None:
    """Serve ``fs`` over stdio (default) or streamable HTTP on ``host:http_port`` at ``/mcp``."""
    server = AgentFSMCPServer(fs)
    if http_port is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=http_port)


__all__ = ["AgentFSMCPServer", "serve", "uri_of"]
