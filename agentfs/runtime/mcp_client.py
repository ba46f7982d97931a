"""MCP servers as tool sources, through the real ``mcp`` client (stdio and streamable HTTP).

One :class:`McpHub` per open store keeps one live session per server: starting a stdio server
costs seconds (an interpreter and the SDK), so it is done once and reused for every call. The
sessions live on a background event loop (an anyio blocking portal in a daemon thread); the
synchronous ``ContextFS.exec`` hands each call to that loop and waits for the answer.

Secrets never land in the store: ``toolset.json`` keeps environment variable *names*
(``GITHUB_PERSONAL_ACCESS_TOKEN``) and headers with ``${VAR}`` placeholders, resolved from the
environment of the process that connects.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agentfs.errors import ValidationError
from agentfs.runtime.sources import ToolError, jsonable

CONNECT_TIMEOUT = 60.0
log = logging.getLogger("agentfs.tools")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class ServerConfig:
    """How to reach one MCP server (stored as a toolset's ``toolset.json``)."""

    name: str
    command: tuple[str, ...] = ()
    cwd: str | None = None
    env: tuple[str, ...] = ()  # NAME (copied from the environment) or NAME=VALUE
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if bool(self.command) == bool(self.url):
            raise ValidationError(f"MCP server {self.name!r}: give either a command (stdio) or a URL (HTTP)",
                                  rule="mcp_server")

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"

    def describe(self) -> str:
        return self.url or " ".join(self.command)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": "mcp", "name": self.name, "transport": self.transport}
        if self.url:
            data["url"] = self.url
            data["headers"] = dict(self.headers)
        else:
            data["command"] = list(self.command)
            data["cwd"] = self.cwd
            data["env"] = list(self.env)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerConfig:
        try:
            return cls(name=str(data["name"]), command=tuple(data.get("command") or ()), cwd=data.get("cwd"),
                       env=tuple(data.get("env") or ()), url=data.get("url"),
                       headers=tuple((str(k), str(v)) for k, v in (data.get("headers") or {}).items()))
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"toolset.json: not an MCP server description ({exc})", rule="mcp_server") from None

    def key(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def expand(text: str, *, what: str) -> str:
    """Replace ``${VAR}`` with the environment's value; a missing variable is a clear error."""
    def one(match: re.Match[str]) -> str:
        value = os.environ.get(match.group(1))
        if value is None:
            raise ValidationError(f"{what} needs the environment variable {match.group(1)}, which is not set",
                                  rule="mcp_env")
        return value

    return _VAR.sub(one, text)


def _stdio_env(config: ServerConfig) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in config.env:
        name, sep, value = item.partition("=")
        if sep:
            env[name] = expand(value, what=f"MCP server {config.name}: env {name}")
        elif name in os.environ:
            env[name] = os.environ[name]
        else:
            raise ValidationError(f"MCP server {config.name}: environment variable {name} is not set",
                                  rule="mcp_env")
    return env


def result_value(result: Any) -> Any:
    """The useful value of a ``CallToolResult``: structured content, else JSON text, else text."""
    structured = getattr(result, "structured_content", None)
    texts: list[str] = [t for t in (getattr(block, "text", None) for block in result.content) if t is not None]
    if structured is not None:
        # Servers wrap non-object returns as {"result": value} (the SDK's output-schema convention).
        if isinstance(structured, dict) and list(structured) == ["result"]:
            return jsonable(structured["result"])
        return jsonable(structured)
    if len(texts) == 1:
        try:
            return json.loads(texts[0])
        except json.JSONDecodeError:
            return texts[0]
    if texts:
        return "\n".join(texts)
    return [jsonable(block) for block in result.content]


def explain(config: ServerConfig, exc: BaseException, stderr_tail: str = "") -> str:
    """One line saying which server failed and how, with the end of its stderr when there is one."""
    inner = exc
    while getattr(inner, "exceptions", None):  # anyio task groups wrap errors in exception groups
        inner = inner.exceptions[0]  # type: ignore[attr-defined]
    detail = f"{type(inner).__name__}: {inner}" if str(inner) else type(inner).__name__
    message = f"MCP server {config.name} ({config.describe()}) failed: {detail}"
    return message + (f"; its stderr: {stderr_tail}" if stderr_tail else "")


class _Connection:
    """One live client session, entered on the portal's loop and left there on close.

    ``on_tools_changed`` is called (on the loop: it must not block) when the server says its tool
    list changed: a ``notifications/tools/list_changed`` (protocols before 2026-07-28) or an event
    of the ``subscriptions/listen`` stream opened for it (2026-07-28 and later).
    """

    def __init__(self, portal: Any, config: ServerConfig,
                 on_tools_changed: Callable[[ServerConfig], None] | None = None) -> None:
        from mcp import Client, StdioServerParameters
        from mcp.client.stdio import stdio_client
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        self.config = config
        self.portal = portal
        self.errlog: Any = None
        self.http: Any = None
        if config.url:
            headers = {k: expand(v, what=f"MCP server {config.name}: header {k}") for k, v in config.headers}
            self.http = create_mcp_http_client(headers=headers)
            transport: Any = streamable_http_client(config.url, http_client=self.http)
        else:
            # The server's stderr goes to a file, so it neither floods a terminal nor is lost: its
            # last lines explain a server that failed to start.
            self.errlog = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # noqa: SIM115
            params = StdioServerParameters(command=config.command[0], args=list(config.command[1:]),
                                           env=_stdio_env(config) or None, cwd=config.cwd)
            transport = stdio_client(params, errlog=self.errlog)
        self._on_tools_changed = on_tools_changed
        self._listening: Any = None
        client = Client(transport, read_timeout_seconds=CONNECT_TIMEOUT,
                        message_handler=self._message if on_tools_changed is not None else None)
        self._cm = portal.wrap_async_context_manager(client)
        try:
            self.client = self._cm.__enter__()
        except Exception as exc:
            message = explain(config, exc, self.stderr_tail())
            self._release()
            raise ToolError(message, rule="mcp_connect") from None
        if on_tools_changed is not None:
            self._listening = portal.start_task_soon(self._listen)

    def _tools_changed(self) -> None:
        if self._on_tools_changed is not None:
            try:
                self._on_tools_changed(self.config)
            except Exception:
                log.exception("MCP server %s: handling its tool list change failed", self.config.name)

    async def _message(self, message: Any) -> None:
        from mcp import types

        root = getattr(message, "root", message)
        if isinstance(root, types.ToolListChangedNotification):
            self._tools_changed()

    async def _listen(self) -> None:
        """Follow the server's ``subscriptions/listen`` stream of tool list changes, for as long
        as the session lives. A server or protocol without it ends this quietly (the legacy
        notification still counts); so does a stream the server drops."""
        try:
            async with self.client.listen(tools_list_changed=True) as subscription:
                async for _event in subscription:
                    self._tools_changed()
        except Exception as exc:
            log.debug("MCP server %s: no tools/list_changed subscription: %s", self.config.name, exc)

    def stderr_tail(self) -> str:
        if self.errlog is None:
            return ""
        with contextlib.suppress(Exception):
            self.errlog.seek(0)
            lines = [line.rstrip() for line in self.errlog.read().splitlines() if line.strip()]
            return " | ".join(lines[-5:])[-1500:]
        return ""

    def _release(self) -> None:
        if self.http is not None:  # a client we pass in is ours to close, not the transport's
            with contextlib.suppress(Exception):
                self.portal.call(self.http.aclose)
        if self.errlog is not None:
            with contextlib.suppress(Exception):
                self.errlog.close()

    def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
        with contextlib.suppress(Exception):
            self._cm.__exit__(None, None, None)
        self._release()


class McpHub:
    """Live sessions to MCP servers, shared by every call through one open store.

    Args:
        on_tools_changed: Called with a server's config when it announces a new tool list (on
            the hub's event loop: hand the work to another thread).
    """

    def __init__(self, on_tools_changed: Callable[[ServerConfig], None] | None = None) -> None:
        self._on_tools_changed = on_tools_changed
        self._lock = threading.Lock()
        self._portal: Any = None
        self._thread: threading.Thread | None = None
        self._connections: dict[str, _Connection] = {}

    def _ensure_portal(self) -> Any:
        if self._portal is not None:
            return self._portal
        import anyio
        from anyio.from_thread import BlockingPortal

        ready = threading.Event()
        holder: dict[str, Any] = {}

        async def main() -> None:
            async with BlockingPortal() as portal:
                holder["portal"] = portal
                ready.set()
                await portal.sleep_until_stopped()

        def run() -> None:
            try:
                anyio.run(main)
            except BaseException as exc:  # surfaced to the waiting thread below
                holder["error"] = exc
                ready.set()

        # A daemon thread: a process that forgets close() still exits; stdio servers then see EOF.
        self._thread = threading.Thread(target=run, name="agentfs-mcp", daemon=True)
        self._thread.start()
        ready.wait()
        if "error" in holder:
            raise ToolError(f"cannot start the MCP event loop: {holder['error']}")
        self._portal = holder["portal"]
        return self._portal

    def _connection(self, config: ServerConfig) -> _Connection:
        key = config.key()
        with self._lock:
            conn = self._connections.get(key)
            if conn is None:
                conn = _Connection(self._ensure_portal(), config, self._on_tools_changed)
                self._connections[key] = conn
            return conn

    def _drop(self, config: ServerConfig) -> None:
        with self._lock:
            conn = self._connections.pop(config.key(), None)
        if conn is not None:
            conn.close()

    def _run(self, config: ServerConfig, what: str, request: Callable[[Any], Awaitable[Any]], *,
             timeout: float) -> Any:
        import anyio

        conn = self._connection(config)

        async def bounded() -> Any:
            with anyio.fail_after(timeout):
                return await request(conn.client)

        try:
            return conn.portal.call(bounded)
        except TimeoutError:
            self._drop(config)
            raise ToolError(f"MCP server {config.name}: no answer to {what} within {timeout:g} s",
                            rule="mcp_timeout") from None
        except Exception as exc:
            # The session may be broken (the server exited): drop it so the next call reconnects.
            message = explain(config, exc, conn.stderr_tail())
            self._drop(config)
            raise ToolError(message, rule="mcp_call") from None

    def list_tools(self, config: ServerConfig, *, timeout: float = CONNECT_TIMEOUT) -> list[dict[str, Any]]:
        """Every tool the server offers now: name, description, input and output schema."""
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(100):  # a paginator that never ends cannot hang us
            # cache_mode="refresh": a listing must be live, never the client's cached copy.
            def request(client: Any, cur: str | None = cursor) -> Awaitable[Any]:
                return client.list_tools(cursor=cur, cache_mode="refresh")

            page = self._run(config, "tools/list", request, timeout=timeout)
            for tool in page.tools:
                tools.append({
                    "name": tool.name,
                    "description": tool.description or "",
                    "input_schema": jsonable(tool.input_schema) or {"type": "object", "properties": {}},
                    "output_schema": jsonable(tool.output_schema),
                    # by_alias: annotations keep their wire names (readOnlyHint), as MCP documents them
                    "annotations": tool.annotations.model_dump(mode="json", by_alias=True, exclude_none=True)
                    if tool.annotations is not None else None,
                })
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    def call_tool(self, config: ServerConfig, tool: str, args: dict[str, Any], *, timeout: float) -> Any:
        """Call one tool; the server's error result becomes a :class:`ToolError`."""
        result = self._run(config, f"tools/call {tool}", lambda c: c.call_tool(tool, args), timeout=timeout)
        value = result_value(result)
        if getattr(result, "is_error", False):
            text = value if isinstance(value, str) else json.dumps(value)
            raise ToolError(f"MCP tool {config.name}/{tool} returned an error: {text}", rule="mcp_tool_error")
        return value

    def close(self) -> None:
        with self._lock:
            connections = list(self._connections.values())
            self._connections.clear()
            portal, self._portal = self._portal, None
        for conn in connections:
            conn.close()
        if portal is not None:
            with contextlib.suppress(Exception):
                portal.call(portal.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
