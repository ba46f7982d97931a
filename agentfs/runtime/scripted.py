"""A scripted chat model for offline demos and tests: a real LangChain ``BaseChatModel``.

It follows rules instead of predicting tokens, but it sees exactly what a real model sees (the
messages, the bound tools) and answers the same way (``AIMessage`` with ``tool_calls``, then text),
so the agent runtime cannot tell the difference. A script is YAML::

    rules:
      - when: "(?i)\\\\bI'?m (?P<name>[A-Z][a-z]+)"         # regex on the user's message
        calls:                                              # first step: tool calls
          - {tool: remember, args: {fact: "The user's name is {name}."}}
        reply: "Nice to meet you, {name}!"                  # once the tool results are back
      - when: "(?i)which (?P<state>open|closed) issues mention (?P<topic>[\\\\w-]+)"
        calls:
          - {tool: search_issues, args: {query: "{topic} is:issue is:{state}"}}
        reply:
          text: "Issues that mention {topic}:"
          each: {source: "tool:search_issues", path: items, item: "- #{number} {title}"}
          empty: "No {state} issue mentions {topic}."
    default: "I have no scripted answer for that."

Every rule whose ``when`` matches takes part: their calls are made together, their replies are
joined. ``{name}`` fields come from the rule's named groups and the agent's ``vars``. A reply's
``each`` lists items from a tool's result (``source: tool:NAME``, ``path`` into the JSON) or from the
context the model was given (``source: context``: the items the Loader rendered as
``[P1] /path (version N)`` blocks, optionally only ``sections: [P, E]`` and those whose text
``match``-es a regex). A tool is named as bound (``github__search_issues``) or by its last part.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from agentfs.errors import NotFoundError, ValidationError

ITEM_HEADER = r"^\[(?P<label>[A-Z]+\d+)\] (?P<path>/\S*) \(version (?P<version>\d+)[^)]*\)$"
TASK_MARKER = "## Task\n\n"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScriptCall(_Strict):
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class ScriptEach(_Strict):
    source: str  # "context" or "tool:NAME"
    path: str = ""  # dotted path into a tool's JSON result, e.g. "items"
    match: str | None = None  # keep only items whose text matches
    sections: list[str] = Field(default_factory=list)  # context label letters, e.g. [P, E]
    item: str = "- {text}"
    limit: int = Field(20, ge=1)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if value != "context" and not value.startswith("tool:"):
            raise ValueError("source is 'context' or 'tool:NAME'")
        return value


class ScriptReply(_Strict):
    text: str = ""
    each: ScriptEach | None = None
    empty: str | None = None  # replaces text and items when ``each`` finds nothing
    after: str = ""


class ScriptRule(_Strict):
    name: str = ""
    when: str
    defaults: dict[str, str] = Field(default_factory=dict)  # fields for groups that did not match
    calls: list[ScriptCall] = Field(default_factory=list)
    reply: ScriptReply | str | None = None

    @field_validator("when")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class Script(_Strict):
    rules: list[ScriptRule] = Field(default_factory=list)
    default: str = "I have no scripted answer for that."
    item_header: str = ITEM_HEADER


def load_script(source: str | Path | dict[str, Any]) -> Script:
    """Load and validate a script (a YAML file or a dict); errors name the file and the field."""
    name = "script"
    if isinstance(source, dict):
        data: Any = source
    else:
        name = str(source)
        try:
            data = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(f"script {source} does not exist") from None
        except yaml.YAMLError as exc:
            raise ValidationError(f"{source}: not valid YAML: {exc}", rule="script") from None
    try:
        return Script.model_validate(data or {})
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ValidationError(f"{name}: {where}: {first['msg']}", rule="script") from None


class _Fields(dict):
    """Missing template fields stay visible as ``{name}`` instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: Any, fields: dict[str, Any]) -> Any:
    """Format strings (recursively in lists and dicts) with ``fields``."""
    if isinstance(template, str):
        try:
            return string.Formatter().vformat(template, (), _Fields(fields))
        except (IndexError, KeyError, ValueError, AttributeError, TypeError):
            return template
    if isinstance(template, list):
        return [fill(t, fields) for t in template]
    if isinstance(template, dict):
        return {k: fill(v, fields) for k, v in template.items()}
    return template


def coerce(args: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Template output is text: turn it into the integer, number or boolean the tool's schema asks for.

    An argument that is the empty string is dropped (a regex group that matched nothing).
    """
    props = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for key, value in args.items():
        if value == "":
            continue
        prop = props.get(key) or {}
        kinds = {prop.get("type")} | {alt.get("type") for alt in prop.get("anyOf", []) if isinstance(alt, dict)}
        if isinstance(value, str):
            try:
                if "integer" in kinds and value.lstrip("-").isdigit():
                    value = int(value)
                elif "number" in kinds:
                    value = float(value)
                elif "boolean" in kinds and value.lower() in ("true", "false"):
                    value = value.lower() == "true"
            except ValueError:
                pass
        out[key] = value
    return out


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") if isinstance(block, dict) else str(block) for block in content)


class ScriptedChatModel(BaseChatModel):
    """A chat model that follows a :class:`Script`; supports ``bind_tools`` and tool calls."""

    script: Script = Field(default_factory=Script)
    variables: dict[str, Any] = Field(default_factory=dict)
    model_name: str = "scripted"

    @property
    def _llm_type(self) -> str:
        return "agentfs-scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "rules": len(self.script.rules)}

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any) -> Any:
        from langchain_core.utils.function_calling import convert_to_openai_tool

        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    # --- one step ---------------------------------------------------------------------------------

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  tools: list[dict[str, Any]] | None = None, **kwargs: Any) -> ChatResult:
        names = [t.get("function", {}).get("name", "") for t in tools or []]
        schemas = {t["function"]["name"]: t["function"].get("parameters") or {} for t in tools or []
                   if "function" in t}
        last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
        task = self._task(messages[last_human]) if last_human >= 0 else ""
        matched = []
        for rule in self.script.rules:
            found = re.search(rule.when, task)
            if found:
                groups = {k: v for k, v in found.groupdict().items() if v is not None}
                matched.append((rule, {**self.variables, **rule.defaults, **groups}))
        after = messages[last_human + 1:]
        if not any(isinstance(m, AIMessage) for m in after):
            calls: list[dict[str, Any]] = []
            for rule, fields in matched:
                for call in rule.calls:
                    bound = self._bound_name(call.tool, names)
                    if bound is None:
                        return self._result(AIMessage(content=f"I cannot do that: the tool {call.tool!r} is not "
                                                              f"available to me (tools: {', '.join(names) or 'none'})."))
                    args = coerce(fill(call.args, fields), schemas.get(bound, {}))
                    calls.append({"name": bound, "args": args, "id": f"call_{len(calls) + 1}", "type": "tool_call"})
            if calls:
                return self._result(AIMessage(content="", tool_calls=calls))
        results = [m for m in after if isinstance(m, ToolMessage)]
        replies = [self._reply(rule.reply, fields, messages, results) for rule, fields in matched if rule.reply]
        text = "\n\n".join(r for r in replies if r.strip()) or self.script.default
        return self._result(AIMessage(content=text))

    def _result(self, message: AIMessage) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=message)])

    @staticmethod
    def _task(message: BaseMessage) -> str:
        # The Loader ends the human message with "## Task": the rules look at the task only.
        text = _text(message)
        return text.rsplit(TASK_MARKER, 1)[-1].strip() if TASK_MARKER in text else text

    @staticmethod
    def _bound_name(tool: str, names: list[str]) -> str | None:
        if tool in names:
            return tool
        ends = [n for n in names if n.endswith("__" + tool)]
        return ends[0] if len(ends) == 1 else None

    def _reply(self, reply: ScriptReply | str, fields: dict[str, Any], messages: list[BaseMessage],
               results: list[ToolMessage]) -> str:
        if isinstance(reply, str):
            return fill(reply, fields)
        failures = [self._failure(m) for m in results if m.status == "error"]
        lines = [fill(reply.text, fields)] if reply.text else []
        if reply.each is not None:
            items = self._items(reply.each, messages, results)
            if not items and failures:
                return "\n".join(failures)
            if not items and reply.empty is not None:
                return fill(reply.empty, fields)
            lines += [fill(reply.each.item, {**fields, **item}) for item in items[: reply.each.limit]]
        if reply.after:
            lines.append(fill(reply.after, fields))
        return "\n".join(lines)

    @staticmethod
    def _failure(message: ToolMessage) -> str:
        try:
            error = json.loads(_text(message)).get("error", {})
            detail = error.get("message", "") if isinstance(error, dict) else str(error)
        except (json.JSONDecodeError, AttributeError):
            detail = _text(message)
        return f"I could not complete that: {message.name} failed: {detail}"

    def _items(self, each: ScriptEach, messages: list[BaseMessage], results: list[ToolMessage]) -> list[dict[str, Any]]:
        if each.source == "context":
            items = self._context_items(messages)
            if each.sections:
                items = [i for i in items if re.sub(r"\d+", "", i["label"]) in each.sections]
        else:
            wanted = each.source.split(":", 1)[1]
            items = []
            for message in results:
                name = message.name or ""
                if message.status == "error" or (name != wanted and not name.endswith("__" + wanted)):
                    continue
                try:
                    value: Any = json.loads(_text(message))
                except json.JSONDecodeError:
                    value = _text(message)
                for part in filter(None, each.path.split(".")):
                    value = value.get(part) if isinstance(value, dict) else None
                values = value if isinstance(value, list) else [] if value is None else [value]
                items += [v if isinstance(v, dict) else {"value": v, "text": str(v)} for v in values]
        if each.match:
            pattern = re.compile(each.match)
            items = [i for i in items if pattern.search(str(i.get("text", "")) or json.dumps(i))]
        return items

    def _context_items(self, messages: list[BaseMessage]) -> list[dict[str, Any]]:
        """The ``[P1] /path (version N)`` blocks of the system and human messages."""
        header = re.compile(self.script.item_header)
        items: list[dict[str, Any]] = []
        for message in messages:
            if isinstance(message, AIMessage | ToolMessage):
                continue
            current: dict[str, Any] | None = None
            for line in _text(message).splitlines():
                found = header.match(line)
                if found:
                    current = {**found.groupdict(), "lines": []}
                    items.append(current)
                elif current is not None:
                    if not line.strip() or line.startswith("## "):
                        current = None
                    else:
                        current["lines"].append(line)
        for item in items:
            item["text"] = " ".join(item.pop("lines")).strip()
        return items
