"""provider:name resolution, and the scripted model as a real LangChain chat model."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agentfs.errors import ValidationError
from agentfs.runtime import models
from agentfs.runtime.models import ModelUnavailableError, ProviderInfo, resolve_model
from agentfs.runtime.scripted import ScriptedChatModel, load_script

SEARCH_TOOL = {"type": "function", "function": {
    "name": "github__search_issues", "description": "Search issues.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "perPage": {"type": "integer"}},
                   "required": ["query"]}}}


def test_a_missing_integration_names_the_package_to_install() -> None:
    with pytest.raises(ModelUnavailableError) as caught:
        resolve_model("openai:gpt-4o")
    assert "needs the LangChain integration langchain-openai" in caught.value.message
    assert "pip install langchain-openai" in caught.value.message


@pytest.mark.parametrize(("spec", "words"), [
    ("gpt-4o", "use provider:name"),
    ("nosuch:model", "unknown provider 'nosuch'"),
    ("openai:", "use provider:name"),
])
def test_malformed_specs(spec: str, words: str) -> None:
    with pytest.raises(ModelUnavailableError, match=words):
        resolve_model(spec)


def test_a_missing_key_is_named_before_anything_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    # A provider whose integration is installed here (langchain-core's fake chat model).
    monkeypatch.setitem(models.PROVIDERS, "fakeprov", ProviderInfo(
        "langchain_core.language_models.fake_chat_models", "FakeListChatModel", "langchain-core",
        ("AGENTFS_FAKE_KEY",), model_arg="responses"))
    monkeypatch.delenv("AGENTFS_FAKE_KEY", raising=False)
    with pytest.raises(ModelUnavailableError, match="needs an API key: set AGENTFS_FAKE_KEY"):
        resolve_model("fakeprov:x")
    monkeypatch.setenv("AGENTFS_FAKE_KEY", "k")
    with pytest.raises(ModelUnavailableError, match="FakeListChatModel refused its settings"):
        resolve_model("fakeprov:x")  # responses must be a list: the integration's own check, in one line


def test_scripted_model_is_a_chat_model_with_tool_calls() -> None:
    model = resolve_model("scripted", variables={"repo": "octo/x"})
    assert isinstance(model, BaseChatModel)
    model = ScriptedChatModel(script=load_script({"rules": [{
        "when": r"(?i)which issues mention (?P<topic>\w+)",
        "calls": [{"tool": "search_issues", "args": {"query": "{topic} repo:{repo}", "perPage": "5"}}],
        "reply": {"text": "Found:", "each": {"source": "tool:search_issues", "path": "items",
                                             "item": "- #{number} {title}"}, "empty": "Nothing on {topic}."},
    }]}), variables={"repo": "octo/x"})
    bound = model.bind_tools([SEARCH_TOOL])
    first = bound.invoke([SystemMessage("be brief"), HumanMessage("which issues mention fuse?")])
    assert isinstance(first, AIMessage) and first.content == ""
    [call] = first.tool_calls
    assert call["name"] == "github__search_issues"
    assert call["args"] == {"query": "fuse repo:octo/x", "perPage": 5}  # coerced to the schema's integer
    result = ToolMessage(json.dumps({"items": [{"number": 3, "title": "Slow ls"}]}), tool_call_id=call["id"],
                         name=call["name"])
    second = bound.invoke([HumanMessage("which issues mention fuse?"), first, result])
    assert second.content == "Found:\n- #3 Slow ls" and not second.tool_calls
    empty = ToolMessage(json.dumps({"items": []}), tool_call_id=call["id"], name=call["name"])
    assert bound.invoke([HumanMessage("which issues mention fuse?"), first, empty]).content == "Nothing on fuse."


def test_scripted_model_reads_the_context_and_reports_missing_tools() -> None:
    model = ScriptedChatModel(script=load_script({"rules": [
        {"when": "order", "reply": {"each": {"source": "context", "sections": ["P"], "match": "user",
                                             "item": "{text} [{label}]"}}},
        {"when": "weather", "calls": [{"tool": "forecast"}]},
    ]}))
    context = ("## Profile and notes\n\n[P1] /memory/profile/a.md (version 2)\nThe user drinks tea.\n\n"
               "[P2] /memory/profile/b.md (version 1)\nUnrelated.\n\n## Task\n\nwhat should I order?\n")
    assert model.invoke([HumanMessage(context)]).content == "The user drinks tea. [P1]"
    answer = model.bind_tools([SEARCH_TOOL]).invoke([HumanMessage("weather?")]).content
    assert "the tool 'forecast' is not available" in answer
    assert model.invoke([HumanMessage("hello")]).content == "I have no scripted answer for that."


def test_script_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"rules\.0\.when"):
        load_script({"rules": [{"when": "(unclosed"}]})
    with pytest.raises(ValidationError, match=r"rules\.0\.reply"):
        load_script({"rules": [{"when": "x", "reply": {"each": {"source": "somewhere"}}}]})


def test_the_loop_runs_on_another_langchain_chat_model(store) -> None:  # type: ignore[no-untyped-def]
    """Any langchain-core chat model drives the loop; one without tool calling is refused clearly."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    from agentfs.runtime.agents import parse_agent
    from agentfs.runtime.loop import Agent

    plain = parse_agent({"name": "plain", "principal": "agent:plain", "instructions": "Be brief.",
                         "mounts": [{"path": "/history", "actions": ["list", "read"]}]})
    model = GenericFakeChatModel(messages=iter([AIMessage("Hello from another model.")]))
    reply = Agent(store, plain, model=model, session="fake").ask("hi")
    assert reply.text == "Hello from another model." and reply.answer_entry.path.endswith("-assistant.md")

    store.write("/tools/t/echo/entry.json", json.dumps({"kind": "command", "argv": ["cat"]}))
    with_tools = parse_agent({"name": "tooled", "principal": "agent:tooled", "instructions": "Use tools.",
                              "tools": ["/tools/t/*"],
                              "mounts": [{"path": "/tools/t", "actions": ["list", "read", "exec"]}]})
    with pytest.raises(ModelUnavailableError, match="does not support tool calling"):
        Agent(store, with_tools, model=GenericFakeChatModel(messages=iter([])), session="fake2")
