"""Agent definitions are data: every file in agents/ validates, and mistakes get clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agentfs.errors import NotFoundError, ValidationError
from agentfs.runtime.agents import load_agent, parse_agent
from agentfs.runtime.models import resolve_model
from tests.runtime.conftest import AGENTS

DEFINITIONS = sorted(AGENTS.glob("*.yaml"))
MINIMAL = {"name": "helper", "principal": "agent:helper", "instructions": "Help."}


def test_there_are_definitions() -> None:
    assert {p.name for p in DEFINITIONS} >= {"memory-agent.yaml", "github-assistant.yaml"}


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: p.name)
def test_every_definition_validates_and_its_parts_exist(path: Path) -> None:
    spec = load_agent(path)
    assert spec.name == path.stem
    assert spec.source == path.resolve()
    model = resolve_model(spec.model, base_dir=spec.base_dir, variables=spec.vars)  # the offline model loads
    assert model is not None
    for source in spec.install.toolsets.values():
        if source.mcp and source.mcp.command:
            script = [a for a in source.mcp.command if a.endswith(".py")]
            assert all(spec.resolve(s).is_file() for s in script)
    for folder in spec.install.skills:
        assert (spec.resolve(folder) / "SKILL.md").is_file()
    for pattern in spec.tools:
        assert any(pattern.startswith(grant.path) for grant in spec.mounts), f"{pattern} outside its mounts"


@pytest.mark.parametrize(("change", "words"), [
    ({"name": "Helper Bot"}, "name: lowercase letters"),
    ({"principal": "helper"}, "principal: not a principal"),
    ({"principal": "group:ops"}, "not a group"),
    ({"tools": ["tools/x"]}, "tool patterns are namespace paths"),
    ({"mounts": [{"path": "/memory", "actions": ["read", "fly"]}]}, "unknown action 'fly'"),
    ({"budget": 10}, "budget: Input should be greater than or equal to 200"),
    ({"colour": "blue"}, "colour: unknown field"),
    ({"context": {"budgets": 3}}, "context: budgets"),
    ({"install": {"toolsets": {"x": {"mcp": {}}}}}, "either command"),
    ({"install": {"toolsets": {"x": {"python": ["nocolon"]}}}}, "not a Python reference"),
])
def test_mistakes_are_named(change: dict, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_agent({**MINIMAL, **change}, source="agents/helper.yaml")
    assert caught.value.message.startswith("agents/helper.yaml: ")
    assert words in caught.value.message


def test_missing_required_fields_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "helper.yaml"
    path.write_text(yaml.safe_dump({"name": "helper", "principal": "agent:helper"}))
    with pytest.raises(ValidationError, match="instructions: Field required"):
        load_agent(path)
    path.write_text("name: helper\nprincipal: agent:helper\ninstructions: Help.\nmax_steps: 0\n")
    with pytest.raises(ValidationError, match=r"line 4: max_steps"):
        load_agent(path)
    path.write_text("name: [unclosed\n")
    with pytest.raises(ValidationError, match="not valid YAML"):
        load_agent(path)
    with pytest.raises(NotFoundError):
        load_agent(tmp_path / "nope.yaml")


def test_vars_fill_the_instructions_and_policy() -> None:
    spec = parse_agent({**MINIMAL, "instructions": "Work on {owner}/{repo} and {unknown}.",
                        "vars": {"owner": "o", "repo": "r"}, "context": {"pins": []}})
    assert spec.rendered_instructions() == "Work on o/r and {unknown}."
    assert spec.policy() == {"pins": [], "instructions": "Work on o/r and {unknown}.", "budget": 4000}
    assert spec.allows_tool("/tools/x/y") is False


def test_the_json_schema_for_editors_is_current_and_accepts_every_definition() -> None:
    import json

    import jsonschema

    from agentfs.runtime.agents import agent_json_schema

    schema = json.loads((AGENTS / "agent.schema.json").read_text())
    assert schema == agent_json_schema(), "regenerate agents/agent.schema.json from agent_json_schema()"
    for path in DEFINITIONS:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
        assert path.read_text().startswith("# yaml-language-server: $schema=agent.schema.json\n")
    with pytest.raises(jsonschema.ValidationError, match="'colour' was unexpected"):
        jsonschema.validate({**MINIMAL, "colour": "blue"}, schema)
