"""The ``tools`` service: runs the tools that live as folders under ``/tools``.

``ContextFS.exec(path, args)`` checks the caller's ``exec`` permission, then calls
:meth:`ToolsService.exec`, which

1. reads the tool's files (``entry.json``, ``schema.json``) as ``system``: the permission to run a
   tool does not need the permission to read its definition;
2. validates the arguments against ``schema.json`` (a :class:`~agentfs.errors.ValidationError`
   naming the offending argument, before anything runs);
3. runs it from its source (Python callable, LangChain tool, MCP server, command);
4. records the call and its result (or error) as an entry ``/history/<session>/NNNNNN-tool.json``,
   written as ``system``, so an agent can neither forge nor drop the record of what it ran.

The mount's ``call`` file protocol (write JSON arguments, read the result back) is served by
:meth:`write_call` and :meth:`read_call`; results are kept per principal and tool, in memory.

MCP toolsets follow their server: when a connected server announces that its tool list changed,
the toolset is refreshed (as ``system``, in a thread of the service) the way ``agentfs tools
refresh`` would, so ``/tools/<toolset>/`` shows the server's tools while this store is open.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentfs import paths
from agentfs.errors import AgentFSError, NotFoundError, ValidationError
from agentfs.governance.policy import SYSTEM
from agentfs.runtime import sources
from agentfs.runtime.history import HistoryLog, Ref, check_session, clip
from agentfs.runtime.mcp_client import McpHub, ServerConfig
from agentfs.runtime.sources import ToolContext, ToolError
from agentfs.runtime.tooldefs import CALL, TOOLSET, ToolSpec, load_json, read_tool

if TYPE_CHECKING:
    from agentfs.fs import ContextFS

DEFAULT_TIMEOUT = 120.0
# A server announcing several changes at once gets one refresh: changes are gathered this long.
REFRESH_SETTLE_S = 0.1
log = logging.getLogger("agentfs.tools")


@dataclass(frozen=True)
class ToolCall:
    """A finished call: the result and the history record that holds it."""

    tool: str
    value: Any
    ref: Ref | None
    ms: float


def args_error(tool: ToolSpec, error: Any) -> ValidationError:
    """A jsonschema error as one line naming the argument at fault."""
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        where = ".".join(filter(None, [where, missing[0] if missing else ""]))
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set((error.schema or {}).get("properties", {}))
        extra = sorted(set(error.instance) - known)
        where = ".".join(filter(None, [where, extra[0] if extra else ""]))
    field = where or "(arguments)"
    message = "is required but missing" if error.validator == "required" else error.message
    return ValidationError(f"{tool.path}: argument {field}: {message}", path=tool.path, field=field,
                           rule="tool_arguments")


class ToolsService:
    """Runs tools for every principal of one open store (built once, by ``fs.service("tools")``)."""

    def __init__(self, fs: ContextFS) -> None:
        self._system = fs.as_principal(SYSTEM)
        self.hub = McpHub(on_tools_changed=self._tools_changed)
        self._lock = threading.Lock()
        self._python: dict[str, Any] = {}
        self._validators: dict[str, Any] = {}
        self._results: dict[tuple[str, str], bytes] = {}
        self._toolsets: dict[str, str] = {}  # MCP server config key -> its toolset's folder
        self._stale: set[str] = set()  # toolset folders whose server announced a change
        self._wake = threading.Condition(self._lock)
        self._refresher: threading.Thread | None = None
        self._closing = False
        self.refreshed: list[tuple[str, str | None]] = []  # (toolset, error or None), last 100

    # --- following MCP servers' tool lists ----------------------------------------------------------

    def follow(self, config: ServerConfig, toolset_path: str) -> None:
        """Refresh ``toolset_path`` whenever the server of ``config`` says its tools changed."""
        with self._lock:
            self._toolsets[config.key()] = paths.normalize(toolset_path)

    def _tools_changed(self, config: ServerConfig) -> None:
        # On the MCP event loop: note the change, let the refresher thread do the work.
        with self._lock:
            toolset = self._toolsets.get(config.key())
            if toolset is None or self._closing:
                return
            self._stale.add(toolset)
            if self._refresher is None:
                self._refresher = threading.Thread(target=self._refresh_loop, name="agentfs-tools-refresh",
                                                   daemon=True)
                self._refresher.start()
            self._wake.notify()

    def _refresh_loop(self) -> None:
        from agentfs.runtime import toolsets

        while True:
            with self._lock:
                while not self._stale and not self._closing:
                    self._wake.wait()
                if self._closing:
                    return
            time.sleep(REFRESH_SETTLE_S)
            with self._lock:
                stale, self._stale = sorted(self._stale), set()
            for toolset in stale:
                error = None
                try:
                    report = toolsets.refresh(self._system, toolset)
                    log.info("toolset %s follows its MCP server: %d added, %d updated, %d removed",
                             toolset, len(report.added), len(report.updated), len(report.removed))
                except Exception as exc:  # the toolset keeps its files; the next change retries
                    error = f"{type(exc).__name__}: {exc}"
                    log.warning("toolset %s: refreshing after its server's tools/list_changed failed: %s",
                                toolset, error)
                with self._lock:
                    self.refreshed = [*self.refreshed[-99:], (toolset, error)]

    # --- reading definitions ----------------------------------------------------------------------

    def definition(self, path: str) -> ToolSpec:
        """The tool at ``path`` (read as ``system``; callers check their own permission first)."""
        path = paths.normalize(path)
        if self._system.provider_for(path).name != "tools":
            raise NotFoundError(f"{path} is not under a tools mount (tools live in /tools/<toolset>/<tool>)",
                                path=path)
        return read_tool(self._system, path)

    def server(self, toolset_path: str) -> ServerConfig:
        """The MCP server a toolset's ``toolset.json`` describes."""
        config_path = paths.join(toolset_path, TOOLSET)
        if not self._system.exists(config_path):
            raise NotFoundError(f"{toolset_path} has no {TOOLSET}: its MCP tools have no server to call",
                                path=config_path)
        data = load_json(self._system, config_path)
        if not isinstance(data, dict) or data.get("kind") != "mcp":
            raise ValidationError(f"{config_path}: not an MCP server description", path=config_path, rule="mcp_server")
        config = ServerConfig.from_dict(data)
        self.follow(config, toolset_path)
        return config

    def python_tool(self, ref: str, folder: str | None = None) -> Any:
        """The LangChain tool for a Python reference, imported once per service.

        Args:
            folder: where to import it from when it is not installed (``entry.json`` ``path``).
        """
        with self._lock:
            tool = self._python.get(ref)
        if tool is None:
            tool = sources.as_langchain_tool(sources.import_ref(ref, [folder] if folder else []), ref)
            with self._lock:
                self._python[ref] = tool
        return tool

    def validate(self, tool: ToolSpec, args: Any) -> None:
        """Check ``args`` against the tool's schema.

        Raises:
            ValidationError: not a JSON object, or an argument breaks the schema (named in the message).
        """
        if not isinstance(args, dict):
            raise ValidationError(f"{tool.path}: arguments must be a JSON object, got {type(args).__name__}",
                                  path=tool.path, rule="tool_arguments")
        import jsonschema

        key = json.dumps(tool.schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            cls = jsonschema.validators.validator_for(tool.schema)
            try:
                cls.check_schema(tool.schema)
            except jsonschema.SchemaError as exc:
                raise ValidationError(f"{tool.path}/schema.json is not a valid JSON Schema: {exc.message}",
                                      path=tool.path, rule="tool_schema") from None
            validator = self._validators[key] = cls(tool.schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(args))
        if error is not None:
            raise args_error(tool, error)

    # --- running ----------------------------------------------------------------------------------

    def exec(
        self,
        fs: ContextFS,
        path: str,
        args: Any,
        *,
        session: str | None = None,
        timeout: float | None = None,
        run: Any = None,
        detail: bool = False,
        record: bool = True,
    ) -> Any:
        """Run the tool at ``path`` for the principal of ``fs`` (``ContextFS.exec`` checked ``exec``).

        Args:
            fs: the caller's handle; Python tools that ask for a ``tool_context`` act through it.
            args: a JSON object valid against the tool's ``schema.json``.
            session: the history session the call is recorded in (default ``default``).
            timeout: seconds to wait for an MCP server or a command (default 120).
            run: the agent run calling the tool, handed to tools that take a ``tool_context``.
            detail: return a :class:`ToolCall` (value, history reference, duration) instead of the value.
            record: append the call to the history (the default; the runtime never turns it off).

        Raises:
            NotFoundError: no tool at ``path``. ValidationError: bad arguments.
            ToolError: the tool failed; the failure is in the history too.
        """
        session = check_session(session)
        tool = self.definition(path)
        self.validate(tool, args)
        started = time.perf_counter()
        value: Any = None
        error: AgentFSError | None = None
        try:
            value = sources.jsonable(self._invoke(tool, args, ToolContext(fs, tool.path, session, run),
                                                  timeout or DEFAULT_TIMEOUT))
        except AgentFSError as exc:
            error = exc
        except Exception as exc:  # a tool's own bug is reported, never a traceback through agentfs
            error = ToolError(f"{tool.path}: {type(exc).__name__}: {exc}", path=tool.path)
        ms = round((time.perf_counter() - started) * 1000, 3)
        ref = self._record(fs, tool, args, value, error, ms, session) if record else None
        if error is not None:
            if ref is not None:
                error.details["entry"] = ref.path  # where the failed call is recorded
            raise error
        return ToolCall(tool.path, value, ref, ms) if detail else value

    def _invoke(self, tool: ToolSpec, args: dict[str, Any], context: ToolContext, timeout: float) -> Any:
        entry = tool.entry
        if tool.kind in ("python", "langchain"):
            ref = entry.get("ref")
            if not isinstance(ref, str):
                raise ValidationError(f"{tool.path}/entry.json: 'ref' must be package.module:name",
                                      path=tool.path, rule="tool_entry")
            folder = entry.get("path")
            if folder is not None and not isinstance(folder, str):
                raise ValidationError(f"{tool.path}/entry.json: 'path' must be a folder name", path=tool.path,
                                      rule="tool_entry")
            return sources.invoke_langchain(self.python_tool(ref, folder), args, context)
        if tool.kind == "mcp":
            config = self.server(paths.parent(tool.path))
            name = str(entry.get("tool") or tool.name)
            try:
                return self.hub.call_tool(config, name, args, timeout=timeout)
            except ToolError as exc:
                if exc.details.get("rule") == "mcp_tool_error" and not self._offers(config, name):
                    raise ToolError(f"{exc.message}; the server no longer offers {name}: list its tools again "
                                    f"with `agentfs tools refresh STORE {paths.parent(tool.path)}`",
                                    path=tool.path, rule="mcp_tool_gone") from None
                raise
        return sources.invoke_command(entry, args, context, timeout)

    def _offers(self, config: ServerConfig, name: str) -> bool:
        """Whether the server lists ``name`` now (True when it cannot be asked: no false alarm)."""
        try:
            return any(t["name"] == name for t in self.hub.list_tools(config))
        except AgentFSError:
            return True

    def _record(self, fs: ContextFS, tool: ToolSpec, args: dict[str, Any], value: Any,
                error: AgentFSError | None, ms: float, session: str) -> Ref:
        fields: dict[str, Any] = {"tool": tool.path, "tool_version": tool.version, "args": args,
                                  "ok": error is None, "ms": ms}
        if error is None:
            fields["result"], clipped = clip(value)
            if clipped:
                fields["truncated"] = True
        else:
            fields["error"] = error.to_dict()
        return HistoryLog(fs, session).append("tool", principal=fs.principal, **fields)

    # --- the mount's call file --------------------------------------------------------------------

    def write_call(self, fs: ContextFS, call_path: str, data: bytes, **options: Any) -> bytes:
        """Run the tool whose ``call`` file was written: ``data`` is its JSON arguments (empty: ``{}``).

        Goes through ``fs.exec`` (permission check and audit). The result, or the error as
        ``{"error": {...}}``, becomes what ``read_call`` returns to this principal; errors are
        raised too, so the mount can fail the ``close``/``fsync`` with the error's errno.
        """
        call_path = paths.normalize(call_path)
        tool_path = tool_of_call(call_path)
        text = data.decode("utf-8", "replace").strip()
        try:
            try:
                args = json.loads(text) if text else {}
            except json.JSONDecodeError as exc:
                raise ValidationError(f"{call_path}: arguments are not JSON: {exc.msg} at column {exc.colno}",
                                      path=call_path, rule="tool_arguments") from None
            value = fs.exec(tool_path, args, **options)
        except AgentFSError as exc:
            self._keep(fs, tool_path, {"error": exc.to_dict()})
            raise
        return self._keep(fs, tool_path, value)

    def read_call(self, fs: ContextFS, call_path: str) -> bytes:
        """The last result this principal got from the tool through its ``call`` file (or empty)."""
        tool_path = tool_of_call(paths.normalize(call_path))
        with self._lock:
            return self._results.get((fs.principal, tool_path), b"")

    def _keep(self, fs: ContextFS, tool_path: str, value: Any) -> bytes:
        body = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
        data = (body if body.endswith("\n") else body + "\n").encode("utf-8")
        with self._lock:
            self._results[(fs.principal, tool_path)] = data
        return data

    def close(self) -> None:
        with self._lock:
            self._closing = True
            self._wake.notify_all()
            refresher = self._refresher
        self.hub.close()
        if refresher is not None:
            refresher.join(timeout=30)


def tool_of_call(call_path: str) -> str:
    """``/tools/x/y/call`` -> ``/tools/x/y``."""
    if paths.name(call_path) != CALL:
        raise NotFoundError(f"{call_path} is not a tool's call file", path=call_path)
    return paths.parent(call_path)


def for_store(fs: ContextFS) -> ToolsService:
    """The service factory ``agentfs.services`` registers as ``tools``."""
    return ToolsService(fs)
