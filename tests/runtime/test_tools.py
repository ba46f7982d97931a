"""Tools as files, run through ContextFS.exec: schemas, validation, permission, audit and history."""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path

import pytest

from agentfs.errors import (
    NotFoundError,
    PermissionDeniedError,
    ReadOnlyError,
    ValidationError,
)
from agentfs.fs import ContextFS
from agentfs.runtime import toolsets
from agentfs.runtime.history import HistoryLog
from agentfs.runtime.sources import ToolError
from agentfs.runtime.tooldefs import find_tools, read_tool
from tests.helpers import ADMIN, as_agent, denials


@pytest.fixture
def demo(store: ContextFS, sample_tools: str) -> ContextFS:
    refs = [f"{sample_tools}:{name}" for name in ("weather", "shout", "fail", "read_note")]
    toolsets.add_python(store, refs, toolset="demo")
    return store


def test_a_python_tool_becomes_a_folder_of_files(demo: ContextFS, sample_tools: str) -> None:
    names = {info.name for info in demo.ls("/tools/demo/weather")}
    assert {"entry.json", "schema.json", "README.md", "call"} <= names
    assert json.loads(demo.read_text("/tools/demo/weather/entry.json")) == {"kind": "python",
                                                                            "ref": f"{sample_tools}:weather"}
    schema = json.loads(demo.read_text("/tools/demo/weather/schema.json"))
    assert schema["required"] == ["city"]
    assert schema["properties"]["city"]["description"] == "the city name, e.g. Lisbon."
    meta, body = demo.front_matter("/tools/demo/weather/README.md")
    assert meta["description"] == "Weather forecast for a city."
    assert "agentfs exec STORE /tools/demo/weather" in body
    # the injected context never shows in the schema a model sees
    assert "tool_context" not in json.loads(demo.read_text("/tools/demo/read_note/schema.json"))["properties"]
    assert json.loads(demo.read_text("/tools/demo/shout/entry.json"))["kind"] == "langchain"
    assert [t.name for t in find_tools(demo, "/tools/demo")] == ["fail", "read_note", "shout", "weather"]


def test_exec_returns_the_result_and_records_call_and_result(demo: ContextFS) -> None:
    agent = as_agent(demo, "agent:helper", "exec", "/tools/demo")
    assert agent.exec("/tools/demo/weather", {"city": "Lisbon"}, session="s1") == \
        {"city": "Lisbon", "days": 1, "sky": "sunny"}
    assert agent.exec("/tools/demo/shout", {"text": "hi"}, session="s1") == "HI"
    entries = HistoryLog(demo, "s1").entries()
    assert [e["type"] for e in entries] == ["tool", "tool"]
    first = entries[0]
    assert first["principal"] == "agent:helper" and first["tool"] == "/tools/demo/weather"
    assert first["args"] == {"city": "Lisbon"} and first["ok"] is True and first["result"]["sky"] == "sunny"
    # the record is the system's: the agent can neither forge nor rewrite it
    assert demo.stat(first["path"]).author == "system"
    rows = demo.audit(principal="agent:helper", path="/tools/demo/weather")
    assert [(r.action, r.decision) for r in rows] == [("exec", "allow")]


def test_exec_without_permission_is_eacces_audited_and_runs_nothing(demo: ContextFS) -> None:
    stranger = demo.as_principal("agent:stranger")
    with pytest.raises(PermissionDeniedError) as caught:
        stranger.exec("/tools/demo/weather", {"city": "Lisbon"}, session="s2")
    assert caught.value.errno == errno.EACCES
    assert "agent:stranger may not exec /tools/demo/weather" in caught.value.message
    assert len(denials(demo, "agent:stranger", "/tools/demo/weather")) == 1
    assert HistoryLog(demo, "s2").entries() == []
    # read permission is not exec permission
    reader = as_agent(demo, "agent:reader", "read,list", "/tools/demo")
    with pytest.raises(PermissionDeniedError):
        reader.exec("/tools/demo/weather", {"city": "Lisbon"})


@pytest.mark.parametrize(("args", "field", "words"), [
    ({"city": 3}, "city", "is not of type 'string'"),
    ({}, "city", "is required but missing"),
    ({"city": "Lisbon", "days": "two"}, "days", "is not of type 'integer'"),
])
def test_bad_arguments_name_the_field_and_run_nothing(demo: ContextFS, args: dict, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        demo.exec("/tools/demo/weather", args, session="bad")
    assert caught.value.errno == errno.EINVAL
    assert caught.value.details["field"] == field
    assert f"/tools/demo/weather: argument {field}: " in caught.value.message and words in caught.value.message
    assert HistoryLog(demo, "bad").entries() == []


def test_arguments_must_be_an_object(demo: ContextFS) -> None:
    with pytest.raises(ValidationError, match="arguments must be a JSON object, got list"):
        demo.exec("/tools/demo/weather", ["Lisbon"])


def test_a_failing_tool_is_a_tool_error_recorded_in_history(demo: ContextFS) -> None:
    with pytest.raises(ToolError) as caught:
        demo.exec("/tools/demo/fail", {"reason": "the river is dry"}, session="s3")
    assert "RuntimeError: the river is dry" in caught.value.message
    [entry] = HistoryLog(demo, "s3").entries()
    assert entry["ok"] is False and "the river is dry" in entry["error"]["message"]
    assert caught.value.details["entry"] == entry["path"]
    row = demo.audit(path="/tools/demo/fail")[-1]
    assert row.action == "exec" and json.loads(row.detail or "{}") == {"ok": False, "session": "s3",
                                                                      "entry": entry["path"]}


def test_the_audit_row_of_a_call_names_its_history_entry(demo: ContextFS) -> None:
    call = demo.exec("/tools/demo/weather", {"city": "Lisbon"}, session="s4", detail=True)
    [entry] = HistoryLog(demo, "s4").entries()
    assert call.ref is not None and call.ref.path == entry["path"]
    row = demo.audit(path="/tools/demo/weather")[-1]
    assert json.loads(row.detail or "{}") == {"ok": True, "session": "s4", "entry": entry["path"]}
    assert demo.exec("/tools/demo/weather", {"city": "Lisbon"}, session="s4") == call.value  # plain value


def test_a_tool_acts_with_the_callers_permissions(demo: ContextFS) -> None:
    demo.write("/memory/semantic/secret.md", "the vault code\n")
    agent = as_agent(demo, "agent:helper", "exec", "/tools/demo")
    with pytest.raises(PermissionDeniedError):
        agent.exec("/tools/demo/read_note", {"path": "/memory/semantic/secret.md"})
    assert demo.exec("/tools/demo/read_note", {"path": "/memory/semantic/secret.md"}) == "the vault code\n"


def test_exec_on_something_that_is_not_a_tool(demo: ContextFS) -> None:
    with pytest.raises(NotFoundError, match="is not a tool"):
        demo.exec("/tools/demo", {})
    with pytest.raises(NotFoundError, match="not under a tools mount"):
        demo.exec("/memory/semantic", {})


def test_adding_again_writes_only_what_changed(demo: ContextFS, sample_tools: str) -> None:
    version = demo.stat("/tools/demo/weather/schema.json").version
    report = toolsets.add_python(demo, [f"{sample_tools}:weather"], toolset="demo")
    assert report.added == [] and report.updated == [] and "/tools/demo/weather" in report.unchanged
    assert demo.stat("/tools/demo/weather/schema.json").version == version
    assert json.loads(demo.read_text("/tools/demo/toolset.json"))["kind"] == "python"


def test_a_tool_edited_as_a_file_runs_as_edited(demo: ContextFS) -> None:
    schema = json.loads(demo.read_text("/tools/demo/weather/schema.json"))
    schema["properties"]["days"]["maximum"] = 7
    demo.write("/tools/demo/weather/schema.json", json.dumps(schema))
    with pytest.raises(ValidationError, match="argument days: 9 is greater than the maximum of 7"):
        demo.exec("/tools/demo/weather", {"city": "Porto", "days": 9})
    assert read_tool(demo, "/tools/demo/weather").schema["properties"]["days"]["maximum"] == 7


def test_an_invalid_schema_is_reported(demo: ContextFS) -> None:
    demo.write("/tools/demo/weather/schema.json", json.dumps({"type": "no-such-type"}))
    with pytest.raises(ValidationError, match=r"schema\.json is not a valid JSON Schema"):
        demo.exec("/tools/demo/weather", {"city": "Porto"})


def test_command_tools_read_arguments_on_stdin(store: ContextFS, tmp_path) -> None:
    script = tmp_path / "count.py"
    script.write_text("import json, sys\nargs = json.load(sys.stdin)\nprint(json.dumps({'words': "
                      "len(args['text'].split())}))\n")
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    toolsets.add_command(store, "text", "count_words", [sys.executable, str(script)], schema=schema,
                         description="Count the words of a text.")
    assert store.exec("/tools/text/count_words", {"text": "one two three"}) == {"words": 3}
    failing = tmp_path / "fail.py"
    failing.write_text("import sys\nsys.stderr.write('no luck')\nsys.exit(4)\n")
    toolsets.add_command(store, "text", "broken", [sys.executable, str(failing)])
    with pytest.raises(ToolError, match="exited with status 4: no luck"):
        store.exec("/tools/text/broken", {})


class TestCallFile:
    """The mount's protocol: write JSON arguments to <tool>/call, read the result back."""

    def test_write_then_read_gives_the_result_per_principal(self, demo: ContextFS) -> None:
        service = demo.service("tools")
        agent = as_agent(demo, "agent:helper", "read,list,exec", "/tools/demo")
        assert agent.read("/tools/demo/weather/call") == b""
        out = service.write_call(agent, "/tools/demo/weather/call", b'{"city": "Porto"}')
        assert json.loads(out) == {"city": "Porto", "days": 1, "sky": "sunny"}
        assert agent.read("/tools/demo/weather/call") == out
        assert agent.stat("/tools/demo/weather/call").size == len(out)
        assert demo.read("/tools/demo/weather/call") == b""  # another principal's result is not shared
        assert HistoryLog(demo, "default").entries()[-1]["principal"] == "agent:helper"

    def test_errors_are_raised_and_readable(self, demo: ContextFS) -> None:
        service = demo.service("tools")
        with pytest.raises(ValidationError, match="arguments are not JSON"):
            service.write_call(demo, "/tools/demo/weather/call", b"{city")
        with pytest.raises(ValidationError):
            service.write_call(demo, "/tools/demo/weather/call", b'{"city": 1}')
        assert json.loads(demo.read("/tools/demo/weather/call"))["error"]["field"] == "city"
        stranger = as_agent(demo, "agent:stranger", "read,list", "/tools/demo")
        with pytest.raises(PermissionDeniedError):
            service.write_call(stranger, "/tools/demo/weather/call", b'{"city": "Porto"}')

    def test_the_call_file_cannot_be_written_through_the_api(self, demo: ContextFS) -> None:
        with pytest.raises(ReadOnlyError, match="virtual call file"):
            demo.write("/tools/demo/weather/call", '{"city": "Porto"}')
        assert "call" not in {info.name for info in demo.ls("/tools/demo")}  # only tool folders have one


def test_admin_is_named_in_history_when_the_admin_runs_a_tool(demo: ContextFS) -> None:
    demo.exec("/tools/demo/shout", {"text": "x"}, session="admin-run")
    assert HistoryLog(demo, "admin-run").entries()[0]["principal"] == ADMIN


PROJECT_TOOL = '''
def forecast(city: str) -> str:
    """Forecast for a city.

    Args:
        city: the city.
    """
    return f"sunny in {city}"
'''


def test_a_module_that_is_not_installed_is_imported_from_the_folder_it_was_added_from(
        store: ContextFS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # what the import appends is undone after the test
    name = f"projtools_{tmp_path.name.replace('-', '_')}"
    project = tmp_path / "project"
    (project / name).mkdir(parents=True)
    (project / name / "__init__.py").write_text("")
    (project / name / "tools.py").write_text(PROJECT_TOOL)
    (project / name / "broken.py").write_text("import no_such_dependency_xyz\n")
    ref = f"{name}.tools:forecast"
    with pytest.raises(NotFoundError, match=f"cannot import '{name}.tools'"):
        toolsets.add_python(store, [ref], cwd=str(tmp_path))  # not in that folder
    report = toolsets.add_python(store, [ref], cwd=str(project))
    assert report.added == [f"/tools/{name}/forecast"]
    entry = json.loads(store.read_text(f"/tools/{name}/forecast/entry.json"))
    assert entry == {"kind": "python", "ref": ref, "path": str(project)}  # found again from anywhere
    assert store.exec(f"/tools/{name}/forecast", {"city": "Faro"}) == "sunny in Faro"
    assert toolsets.refresh(store, name).unchanged == [f"/tools/{name}/forecast"]
    # a dependency missing inside the tool's module is the tool's error, named as it is
    with pytest.raises(NotFoundError, match="no_such_dependency_xyz"):
        toolsets.add_python(store, [f"{name}.broken:x"], cwd=str(project))


def test_tools_as_langchain_tools_run_through_exec(demo: ContextFS) -> None:
    from langchain_core.messages import ToolMessage

    from agentfs.runtime import langchain_tools

    agent = as_agent(demo, "agent:lc", "read,list", "/tools/demo")
    demo.grant("agent:lc", "exec", "/tools/demo/weather")
    tools = {t.name: t for t in langchain_tools(agent, ["/tools/demo/weather", "/tools/demo/shout"], session="lc")}
    assert sorted(tools) == ["demo__shout", "demo__weather"]
    weather = tools["demo__weather"]
    assert weather.description == "Weather forecast for a city."
    assert weather.tool_call_schema["required"] == ["city"]
    assert weather.invoke({"city": "Lisbon"}) == {"city": "Lisbon", "days": 1, "sky": "sunny"}
    # as a model's tool call: a refusal or a bad argument is the tool's answer, not an exception
    denied = tools["demo__shout"].invoke({"name": "demo__shout", "args": {"text": "hi"}, "id": "c1",
                                          "type": "tool_call"})
    assert isinstance(denied, ToolMessage) and "agent:lc may not exec /tools/demo/shout" in denied.content
    bad = weather.invoke({"name": "demo__weather", "args": {"city": 3}, "id": "c2", "type": "tool_call"})
    assert "argument city" in bad.content
    [entry] = HistoryLog(demo, "lc").entries()
    assert entry["principal"] == "agent:lc" and entry["tool"] == "/tools/demo/weather"
    assert len(denials(demo, "agent:lc", "/tools/demo/shout")) == 1
