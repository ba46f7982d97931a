"""Agent definitions: YAML files under ``agents/``, validated by a schema with clear errors.

    name: memory-agent                      # lowercase letters, digits, hyphens
    description: Remembers what you tell it and uses it later.
    principal: agent:memory-agent           # every read, write and exec is checked as this principal
    model: scripted:scripts/memory-agent.yaml   # provider:name; `agentfs run --model` overrides it
    instructions: |                         # the start of every context (vars are filled in)
      You are a personal assistant ...
    mounts:                                 # the parts of the namespace it works in, and how
      - {path: /memory/profile, actions: [list, read, write]}
      - {path: /history, actions: [list, read]}
    tools: [/tools/memory/*]                # tools it may call (glob patterns over tool paths)
    skills: []                              # skills it may load (names or globs)
    budget: 3000                            # tokens per context
    context: {pins: [/memory/profile]}      # a context policy (see agentfs.context.ContextPolicy)
    max_steps: 4                            # model calls per message (tool rounds + the answer)
    memory: {write_back: true}              # propose -> evaluate -> write memories after each answer
    vars: {owner: octo-org}                 # fields for {owner} in instructions and scripts
    install:                                # what `agentfs run` sets up when missing (admin only)
      toolsets:
        memory: {python: [agentfs.runtime.builtins:remember]}
        github: {mcp: {command: [python, ../examples/github_mcp_server.py]}}
      skills: [../examples/skills/issue-triage]

Relative paths (scripts, MCP server commands, skill folders) are relative to the definition's folder.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from agentfs import paths
from agentfs.errors import InvalidPathError, NotFoundError, ValidationError
from agentfs.governance.policy import expand_actions, parse_principal

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MountGrant(_Strict):
    """A part of the namespace the agent works in, and the actions it needs there."""

    path: str
    actions: list[str]

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("a namespace path starts with /")
        return paths.normalize(value)

    @field_validator("actions", mode="before")
    @classmethod
    def _actions(cls, value: Any) -> list[str]:
        try:
            return sorted(expand_actions(value))
        except InvalidPathError as exc:
            raise ValueError(exc.message) from None


class McpSource(_Strict):
    command: list[str] | None = None
    url: str | None = None
    env: list[str] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one(self) -> McpSource:
        if bool(self.command) == bool(self.url):
            raise ValueError("give either command (a stdio server) or url (streamable HTTP)")
        return self


class ToolsetSource(_Strict):
    mcp: McpSource | None = None
    python: list[str] | None = None

    @model_validator(mode="after")
    def _one(self) -> ToolsetSource:
        if (self.mcp is None) == (self.python is None):
            raise ValueError("a toolset comes from exactly one source: mcp or python")
        for ref in self.python or []:
            if ":" not in ref:
                raise ValueError(f"{ref!r} is not a Python reference (package.module:name)")
        return self


class InstallSpec(_Strict):
    toolsets: dict[str, ToolsetSource] = Field(default_factory=dict)
    skills: list[str] = Field(default_factory=list)


class MemorySpec(_Strict):
    write_back: bool = True


class AgentSpec(_Strict):
    """One agent definition (see the module docstring for every field)."""

    name: str
    description: str = ""
    principal: str
    model: str = "scripted"
    instructions: str
    mounts: list[MountGrant] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    budget: int = Field(4000, ge=200, le=2_000_000)
    context: dict[str, Any] = Field(default_factory=dict)
    max_steps: int = Field(6, ge=1, le=50)
    memory: MemorySpec = Field(default_factory=MemorySpec)
    vars: dict[str, str] = Field(default_factory=dict)
    install: InstallSpec = Field(default_factory=InstallSpec)
    _source: Path | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("lowercase letters, digits and hyphens, at most 64 characters")
        return value

    @field_validator("principal")
    @classmethod
    def _principal(cls, value: str) -> str:
        try:
            principal = parse_principal(value, allow_special=False)
        except InvalidPathError as exc:
            raise ValueError(exc.message) from None
        if principal.startswith("group:"):
            raise ValueError("an agent acts as agent:NAME or user:NAME, not a group")
        return principal

    @field_validator("tools")
    @classmethod
    def _tools(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern.startswith("/"):
                raise ValueError(f"{pattern!r}: tool patterns are namespace paths, e.g. /tools/github/*")
        return value

    @field_validator("context")
    @classmethod
    def _context(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "instructions" in value:
            raise ValueError("set the instructions at the top level, not in context")
        return value

    @property
    def source(self) -> Path | None:
        """The YAML file this definition was loaded from (relative paths start at its folder)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source else Path.cwd()

    def rendered_instructions(self) -> str:
        """The instructions with ``{var}`` fields filled from ``vars`` (unknown fields left as they are)."""
        from agentfs.runtime.scripted import fill

        return fill(self.instructions, dict(self.vars))

    def policy(self) -> dict[str, Any]:
        """The context policy: ``context`` with the instructions and budget of the agent."""
        return {**self.context, "instructions": self.rendered_instructions(), "budget": self.budget}

    def allows_tool(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.tools)

    def allows_skill(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.skills)

    def resolve(self, relative: str) -> Path:
        """A path of the definition (script, server, skill folder) made absolute."""
        path = Path(relative)
        return path if path.is_absolute() else (self.base_dir / path).resolve()


def agent_json_schema() -> dict[str, Any]:
    """The JSON Schema of an agent definition (``agents/agent.schema.json`` is this, for editors).

    The schema checks the shape; :func:`parse_agent` checks the rest too (principal syntax, action
    names, the context policy) and names the line of a mistake.
    """
    schema = AgentSpec.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "agentfs agent definition",
            **{k: v for k, v in schema.items() if k != "title"}}


def _line_of(text: str, key: str) -> int | None:
    match = re.search(rf"^\s*-?\s*{re.escape(key)}\s*:", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


def parse_agent(data: Any, *, source: str = "agent definition", text: str = "") -> AgentSpec:
    """Validate a definition (already parsed YAML).

    Raises:
        ValidationError: the message names the file, the line when known, the field and the rule.
    """
    if not isinstance(data, dict):
        raise ValidationError(f"{source}: an agent definition is a mapping of fields (name, principal, ...)",
                              path=source, rule="agent")
    try:
        spec = AgentSpec.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        where = ".".join(loc) or "(top level)"
        line = _line_of(text, loc[-1]) if loc and text else None
        at = f"line {line}: " if line else ""
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = f"unknown field (fields: {', '.join(AgentSpec.model_fields)})" if len(loc) == 1 else \
                "unknown field"
        raise ValidationError(f"{source}: {at}{where}: {message}", path=source, field=where, rule="agent") from None
    if spec.context:
        from agentfs.context import load_policy

        try:
            load_policy(spec.policy())
        except ValidationError as exc:
            raise ValidationError(f"{source}: context: {exc.message.removeprefix('policy: ')}", path=source,
                                  field="context", rule="agent") from None
    return spec


def load_agent(path: str | Path) -> AgentSpec:
    """Load and validate an agent definition file.

    Raises:
        NotFoundError: no such file. ValidationError: bad YAML or a field that breaks the schema.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"agent definition {path} does not exist") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark else ""
        raise ValidationError(f"{path}: {at}not valid YAML: {getattr(exc, 'problem', exc)}", path=str(path),
                              rule="agent") from None
    spec = parse_agent(data, source=str(path), text=text)
    spec._source = path.resolve()
    return spec
