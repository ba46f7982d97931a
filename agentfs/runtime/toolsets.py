"""Installing toolsets as files: ``agentfs tools add`` and ``agentfs tools refresh``.

Each source is turned into tool folders (``entry.json``, ``schema.json``, ``README.md``) under
``/tools/<toolset>/``, written as the caller (who needs ``write`` there) in one commit, so a
toolset appears whole or not at all. The source itself is kept in ``/tools/<toolset>/toolset.json``.

MCP tools are listed live from the server when the toolset is added and on every refresh
(``agentfs tools refresh``, or :func:`refresh`); a refresh writes only what changed (a new version
of a tool whose schema or description moved) and removes tools the server no longer offers. While
the store is open and connected to the server, a ``tools/list_changed`` from it triggers the same
refresh (see :mod:`agentfs.runtime.tools`). Otherwise the files are the catalog agents read, search
and are granted access to.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentfs import paths
from agentfs.errors import AlreadyExistsError, NotFoundError, ValidationError
from agentfs.runtime import sources
from agentfs.runtime.mcp_client import ServerConfig
from agentfs.runtime.tooldefs import ENTRY, README, SCHEMA, TOOLSET, folder_name, load_json, readme_text

if TYPE_CHECKING:
    from agentfs.fs import ContextFS
    from agentfs.runtime.tools import ToolsService

TOOLS_ROOT = "/tools"


@dataclass
class ToolDraft:
    """A tool about to be written: its folder name, description, schema and entry."""

    name: str
    description: str
    schema: dict[str, Any]
    entry: dict[str, Any]
    source: str  # for the README: where it came from


@dataclass
class SyncReport:
    """What an add or refresh changed under one toolset."""

    toolset: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def tools(self) -> list[str]:
        return sorted(self.added + self.updated + self.unchanged)

    def to_dict(self) -> dict[str, Any]:
        return {"toolset": self.toolset, "added": self.added, "updated": self.updated, "removed": self.removed,
                "unchanged": self.unchanged}


def _service(fs: ContextFS) -> ToolsService:
    return fs.service("tools")


def toolset_path(name: str, root: str = TOOLS_ROOT) -> str:
    return paths.join(root, folder_name(name))


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def sync(fs: ContextFS, toolset: str, drafts: list[ToolDraft], *, config: dict[str, Any] | None = None,
         prune_kinds: tuple[str, ...] = (), root: str = TOOLS_ROOT) -> SyncReport:
    """Write ``drafts`` as tool folders under the toolset (one commit); only changed files get versions.

    Args:
        config: the new ``toolset.json`` (None leaves it alone).
        prune_kinds: tools of these entry kinds that are not among ``drafts`` are removed.
    """
    base = toolset_path(toolset, root)
    report = SyncReport(toolset=base)
    existing = set()
    if fs.exists(base):
        existing = {info.name for info in fs.ls(base) if info.kind == "dir"}
    writes: list[tuple[str, str]] = []
    if config is not None:
        _add_if_changed(fs, paths.join(base, TOOLSET), _dump(config), writes)
    seen = set()
    for draft in drafts:
        name = folder_name(draft.name)
        if name in seen:
            raise ValidationError(f"two tools named {name!r} in toolset {base}", path=base, rule="tool_name")
        seen.add(name)
        folder = paths.join(base, name)
        before = len(writes)
        _add_if_changed(fs, paths.join(folder, ENTRY), _dump(draft.entry), writes)
        _add_if_changed(fs, paths.join(folder, SCHEMA), _dump(draft.schema), writes)
        _add_if_changed(fs, paths.join(folder, README),
                        readme_text(name, draft.description, draft.schema, path=folder, source=draft.source), writes)
        changed = len(writes) > before
        (report.unchanged if not changed else report.updated if name in existing else report.added).append(folder)
    stale = []
    for name in sorted(existing - seen):
        entry_path = paths.join(base, name, ENTRY)
        if prune_kinds and fs.exists(entry_path):
            entry = load_json(fs, entry_path)
            if isinstance(entry, dict) and entry.get("kind") in prune_kinds:
                stale.append(paths.join(base, name))
    if writes:
        fs.write_many(writes, message=f"toolset {base}: {len(report.added)} added, {len(report.updated)} updated")
    for folder in stale:
        fs.rm(folder, recursive=True)
        report.removed.append(folder)
    return report


def _add_if_changed(fs: ContextFS, path: str, text: str, writes: list[tuple[str, str]]) -> None:
    try:
        if fs.read_text(path) == text:
            return
    except NotFoundError:
        pass
    writes.append((path, text))


# --- MCP -------------------------------------------------------------------------------------------


def mcp_drafts(fs: ContextFS, config: ServerConfig) -> list[ToolDraft]:
    """The server's tools, listed live, as drafts."""
    drafts = []
    for tool in _service(fs).hub.list_tools(config):
        entry: dict[str, Any] = {"kind": "mcp", "tool": tool["name"]}
        if tool.get("annotations"):
            entry["annotations"] = tool["annotations"]
        if tool.get("output_schema"):
            entry["output_schema"] = tool["output_schema"]
        drafts.append(ToolDraft(tool["name"], tool["description"], tool["input_schema"], entry,
                                f"MCP server `{config.name}` ({config.transport}: {config.describe()})"))
    return drafts


def add_mcp(
    fs: ContextFS,
    name: str,
    *,
    command: list[str] | None = None,
    url: str | None = None,
    cwd: str | None = None,
    env: list[str] | None = None,
    headers: dict[str, str] | None = None,
    root: str = TOOLS_ROOT,
) -> SyncReport:
    """Mount an MCP server's tools at ``/tools/<name>/`` (stdio ``command`` or streamable-HTTP ``url``).

    A relative command path is resolved later from ``cwd`` (default: the current directory), so the
    toolset keeps working when agentfs runs from elsewhere.
    """
    config = ServerConfig(name=folder_name(name), command=tuple(command or ()), url=url,
                          cwd=(os.path.abspath(cwd or os.getcwd()) if command else None),
                          env=tuple(env or ()), headers=tuple((headers or {}).items()))
    drafts = mcp_drafts(fs, config)
    report = sync(fs, config.name, drafts, config=config.to_dict(), prune_kinds=("mcp",), root=root)
    _service(fs).follow(config, report.toolset)
    return report


# --- Python and LangChain --------------------------------------------------------------------------


def python_drafts(fs: ContextFS, refs: list[str], *, cwd: str | None = None,
                  paths_by_ref: dict[str, str] | None = None) -> tuple[list[ToolDraft], dict[str, str]]:
    """Drafts for Python references, and the folders the ones that are not installed came from.

    A reference that does not import as it is is looked for in ``paths_by_ref`` (where it was found
    when it was added), else in ``cwd`` (default: the current directory), as ``python -m`` would.
    """
    from langchain_core.tools import BaseTool

    drafts = []
    found: dict[str, str] = {}
    service = _service(fs)
    folder = os.path.abspath(cwd or os.getcwd())
    for ref in refs:
        obj, needed = sources.locate_ref(ref, (paths_by_ref or {}).get(ref, folder))
        tool = service.python_tool(ref, needed)
        kind = "langchain" if isinstance(obj, BaseTool) else "python"
        entry = {"kind": kind, "ref": ref}
        if needed:
            entry["path"] = found[ref] = needed
        label = "LangChain tool" if kind == "langchain" else "Python callable"
        drafts.append(ToolDraft(tool.name, tool.description or "", sources.tool_schema(tool), entry,
                                f"{label} `{ref}`" + (f" (imported from {needed})" if needed else "")))
    return drafts, found


def _python_config(refs: list[str], found: dict[str, str]) -> dict[str, Any]:
    config: dict[str, Any] = {"kind": "python", "refs": refs}
    if found:
        config["paths"] = found
    return config


def add_python(fs: ContextFS, refs: list[str], *, toolset: str | None = None, cwd: str | None = None,
               root: str = TOOLS_ROOT) -> SyncReport:
    """Add Python callables or LangChain tools (``package.module:name``) to a toolset.

    The toolset defaults to the first package of the first reference (``mypkg.tools:weather`` ->
    ``/tools/mypkg/weather``). A module that is not installed is imported from ``cwd`` (default:
    the current directory); that folder is kept in the tool's ``entry.json`` (``path``), so the
    tool runs from any directory later.
    """
    if not refs:
        raise ValidationError("give at least one Python reference (package.module:name)", rule="python_ref")
    name = folder_name(toolset or refs[0].partition(":")[0].split(".")[0])
    base = toolset_path(name, root)
    config_path = paths.join(base, TOOLSET)
    known: list[str] = []
    known_paths: dict[str, str] = {}
    if fs.exists(config_path):
        current = load_json(fs, config_path)
        if isinstance(current, dict) and current.get("kind") != "python":
            raise AlreadyExistsError(f"{base} holds tools of kind {current.get('kind')!r}; choose another --name",
                                     path=base)
        if isinstance(current, dict):
            known = list(current.get("refs", []))
            known_paths = {k: v for k, v in (current.get("paths") or {}).items() if k not in refs}
    all_refs = list(dict.fromkeys([*known, *refs]))
    drafts, found = python_drafts(fs, all_refs, cwd=cwd, paths_by_ref=known_paths)
    return sync(fs, name, drafts, config=_python_config(all_refs, found), prune_kinds=("python", "langchain"),
                root=root)


# --- commands --------------------------------------------------------------------------------------


def add_command(
    fs: ContextFS,
    toolset: str,
    tool: str,
    argv: list[str],
    *,
    schema: dict[str, Any] | None = None,
    description: str = "",
    cwd: str | None = None,
    root: str = TOOLS_ROOT,
) -> SyncReport:
    """Add a command as a tool: it reads its JSON arguments on stdin and prints its result."""
    if not argv:
        raise ValidationError("a command tool needs a command after --", rule="tool_entry")
    entry = {"kind": "command", "argv": list(argv), "cwd": os.path.abspath(cwd or os.getcwd())}
    draft = ToolDraft(tool, description, schema or {"type": "object", "properties": {}}, entry,
                      f"command `{' '.join(argv)}`")
    return sync(fs, toolset, [draft], root=root)


# --- refresh ---------------------------------------------------------------------------------------


def refresh(fs: ContextFS, toolset: str, *, root: str = TOOLS_ROOT) -> SyncReport:
    """List a toolset's source again (the MCP server's tools, the Python references) and sync."""
    base = toolset_path(toolset, root) if not toolset.startswith("/") else paths.normalize(toolset)
    config_path = paths.join(base, TOOLSET)
    if not fs.exists(config_path):
        raise NotFoundError(f"{base} has no {TOOLSET}: nothing to refresh it from", path=base)
    config = load_json(fs, config_path)
    kind = config.get("kind") if isinstance(config, dict) else None
    name = paths.name(base)
    parent = paths.parent(base)
    if kind == "mcp":
        server = ServerConfig.from_dict(config)
        report = sync(fs, name, mcp_drafts(fs, server), prune_kinds=("mcp",), root=parent)
        _service(fs).follow(server, base)
        return report
    if kind == "python":
        refs = list(config.get("refs", []))
        drafts, found = python_drafts(fs, refs, paths_by_ref=dict(config.get("paths") or {}))
        return sync(fs, name, drafts, config=_python_config(refs, found), prune_kinds=("python", "langchain"),
                    root=parent)
    raise ValidationError(f"{config_path}: unknown toolset kind {kind!r}", path=config_path, rule="toolset")
