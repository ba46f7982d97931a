"""Tools as files: the layout of a tool folder, and reading one back.

A tool is a folder ``/tools/<toolset>/<tool>/`` that holds:

- ``entry.json``   how to run it: ``{"kind": "python", "ref": "pkg.mod:func"}``,
                   ``{"kind": "langchain", "ref": "pkg.mod:tool"}``, ``{"kind": "mcp", "tool": "name"}``
                   (the server is described once per toolset, in ``toolset.json``) or
                   ``{"kind": "command", "argv": [...], "cwd": "..."}``;
- ``schema.json``  the JSON Schema of its arguments;
- ``README.md``    its description (front matter ``description``, offered to agents) and usage;
- ``call``         virtual, per principal: on the mount, write JSON arguments to it and read the
                   result back (see :mod:`agentfs.mounts.tools`).

A folder is a tool exactly when it holds ``entry.json``. The toolset folder may hold
``toolset.json``, describing the source all its tools came from (an MCP server, a list of Python
references), so ``agentfs tools refresh`` can list them again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentfs import paths
from agentfs.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from agentfs.fs import ContextFS

ENTRY = "entry.json"
SCHEMA = "schema.json"
README = "README.md"
TOOLSET = "toolset.json"
CALL = "call"
KINDS = ("python", "langchain", "mcp", "command")
_LLM_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class ToolSpec:
    """One tool as its files describe it."""

    path: str
    description: str
    schema: dict[str, Any]
    entry: dict[str, Any]
    version: int = 0  # version of entry.json (changes when the tool is redefined)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return paths.name(self.path)

    @property
    def toolset(self) -> str:
        return paths.name(paths.parent(self.path))

    @property
    def kind(self) -> str:
        return str(self.entry.get("kind", ""))

    @property
    def llm_name(self) -> str:
        """A name chat-model APIs accept (``[A-Za-z0-9_-]{1,64}``): ``<toolset>__<tool>``."""
        return llm_name(self.path)

    def as_openai_tool(self) -> dict[str, Any]:
        """The function-tool dict every LangChain chat model's ``bind_tools`` accepts."""
        return {"type": "function",
                "function": {"name": self.llm_name, "description": self.description or self.name,
                             "parameters": self.schema}}

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "toolset": self.toolset, "name": self.name, "kind": self.kind,
                "description": self.description, "schema": self.schema, "entry": self.entry,
                "version": self.version}


def llm_name(path: str) -> str:
    """``/tools/github/search_issues`` -> ``github__search_issues`` (64 characters at most)."""
    toolset, tool = paths.name(paths.parent(path)), paths.name(path)
    return _LLM_NAME.sub("_", f"{toolset}__{tool}")[:64]


def folder_name(name: str) -> str:
    """A tool or toolset name as a safe folder name (no slashes, no leading dot)."""
    clean = re.sub(r"[/\\\x00-\x1f]", "_", name.strip()).lstrip(".")
    if not clean:
        raise ValidationError(f"{name!r} is not usable as a tool name", rule="tool_name")
    return clean[:128]


def load_json(fs: ContextFS, path: str) -> Any:
    try:
        return json.loads(fs.read_text(path))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                              path=path, rule="json") from None


def is_tool(fs: ContextFS, path: str) -> bool:
    """True when ``path`` is a folder holding ``entry.json`` (as ``fs`` sees it)."""
    return fs.exists(paths.join(path, ENTRY))


def read_tool(fs: ContextFS, path: str) -> ToolSpec:
    """The tool at ``path``, read as the principal of ``fs``.

    Raises:
        NotFoundError: ``path`` is not a tool folder (no ``entry.json``).
        ValidationError: ``entry.json`` or ``schema.json`` is malformed.
    """
    path = paths.normalize(path)
    entry_path = paths.join(path, ENTRY)
    try:
        info = fs.stat(entry_path, permissions=False)
    except NotFoundError:
        raise NotFoundError(f"{path} is not a tool: it has no {ENTRY} (see `agentfs tools ls`)",
                            path=path) from None
    entry = load_json(fs, entry_path)
    if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
        raise ValidationError(f"{entry_path}: 'kind' must be one of {', '.join(KINDS)}", path=entry_path,
                              rule="tool_entry")
    schema_path = paths.join(path, SCHEMA)
    schema = load_json(fs, schema_path) if fs.exists(schema_path) else {"type": "object", "properties": {}}
    if not isinstance(schema, dict):
        raise ValidationError(f"{schema_path}: a JSON Schema is an object", path=schema_path, rule="tool_schema")
    meta: dict[str, Any] = {}
    readme = paths.join(path, README)
    if fs.exists(readme):
        meta = dict(fs.stat(readme, permissions=False).meta)
    description = str(meta.get("description") or entry.get("description") or "")
    return ToolSpec(path=path, description=description, schema=schema, entry=entry, version=info.version,
                    meta=meta)


def find_tools(fs: ContextFS, under: str = "/tools") -> list[ToolSpec]:
    """Every tool below ``under`` whose definition the principal of ``fs`` may read, in path order.

    A tool the principal can list but not read (an agent granted ``list`` on a toolset and
    ``read`` on some of its tools only) is left out, not an error.
    """
    under = paths.normalize(under)
    if not fs.exists(under):
        return []
    if is_tool(fs, under):
        return [read_tool(fs, under)]
    found = []
    for info in fs.ls(under, recursive=True):
        if info.kind == "file" and info.name == ENTRY and fs.decide("read", info.path).allowed:
            found.append(read_tool(fs, paths.parent(info.path)))
    return sorted(found, key=lambda t: t.path)


def readme_text(name: str, description: str, schema: dict[str, Any], *, path: str, source: str) -> str:
    """The README.md of a tool: front matter for machines, usage for people."""
    from agentfs import frontmatter

    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    lines = [f"# {name}", "", description.strip() or "(no description)", "", "## Arguments", ""]
    if not props:
        lines.append("None.")
    for key, prop in props.items():
        kind = prop.get("type", "any") if isinstance(prop, dict) else "any"
        note = prop.get("description", "") if isinstance(prop, dict) else ""
        lines.append(f"- `{key}` ({kind}{', required' if key in required else ''}){': ' + note if note else ''}")
    example = {k: f"<{k}>" for k in props if k in required}
    lines += ["", "## Run", "", "```", f"agentfs exec STORE {path} --args '{json.dumps(example)}'", "```", "",
              f"Source: {source}.", ""]
    summary = " ".join(description.split())[:2000] or name  # one line: front matter stays readable
    return frontmatter.render({"description": summary, "tags": ["tool"]}, "\n".join(lines))
