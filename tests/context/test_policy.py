"""Policies are data: the shipped examples validate, mistakes name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentfs.context.policy import ContextPolicy, load_policy
from agentfs.context.scorers import ScoringContext, resolve, score_all
from agentfs.errors import NotFoundError, ValidationError

REPO = Path(__file__).resolve().parents[2]
POLICIES = sorted((REPO / "mounts" / "policies").glob("*.yaml"))


def test_there_are_example_policies() -> None:
    assert {p.name for p in POLICIES} >= {"default.yaml", "planner.yaml"}


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_every_shipped_policy_validates(path: Path) -> None:
    policy = load_policy(path)
    assert policy.name == path.stem
    assert policy.budget > 0 and policy.scorers


def test_default_yaml_spells_out_the_built_in_defaults() -> None:
    assert load_policy(REPO / "mounts" / "policies" / "default.yaml") == ContextPolicy()
    assert load_policy(None) == ContextPolicy() == load_policy("default")


def test_a_partial_policy_keeps_the_other_defaults() -> None:
    policy = load_policy({"budget": 1200, "kinds": {"history": {"max_items": 3}}, "scorers": {"relevance": 1}})
    assert policy.budget == 1200
    assert policy.kinds["history"].max_items == 3 and policy.kinds["history"].max_share == 0.3
    assert policy.kinds["memory"].max_share == 0.8
    assert [(s.name, s.weight) for s in policy.scorers] == [("relevance", 1.0)]


@pytest.mark.parametrize(("data", "names"), [
    ({"budgt": 100}, "budgt"),
    ({"budget": 0}, "budget"),
    ({"kinds": {"gossip": {"max_share": 0.1}}}, "gossip"),
    ({"kinds": {"memory": {"max_share": 2}}}, "kinds.memory.max_share"),
    ({"scorers": {"vibes": 1.0}}, "vibes"),
    ({"scorers": {"relevance": 0.0}}, "weight"),
    ({"scorers": {"recency": {"weight": 1, "half_life": "soon"}}}, "half_life"),
    ({"search": {"roots": ["/memory/../../etc"]}}, "search.roots"),
    ({"search": {"mode": "psychic"}}, "search.mode"),
])
def test_a_bad_policy_is_a_clear_error(data: dict, names: str) -> None:
    with pytest.raises(ValidationError) as info:
        load_policy(data)
    assert names in info.value.message


def test_a_bad_yaml_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("budget: [1, 2\n")
    with pytest.raises(ValidationError, match=r"bad\.yaml"):
        load_policy(bad)
    with pytest.raises(NotFoundError, match=r"nope\.yaml"):
        load_policy(tmp_path / "nope.yaml")


def test_a_policy_can_live_in_the_store(store) -> None:  # type: ignore[no-untyped-def]
    store.write("/knowledge/policies/tight.yaml", "name: tight\nbudget: 900\n")
    assert load_policy("/knowledge/policies/tight.yaml", fs=store).budget == 900


def test_custom_scorers_are_imported_by_name() -> None:
    policy = load_policy({"scorers": {"tests.context.test_policy:always_half": 1.0}})
    from agentfs.context.candidates import Candidate

    candidate = Candidate(path="/m.md", version=1, kind="memory", source="search", raw="x", view={"mode": "body"},
                          text="x")
    score_all([candidate], ScoringContext(task="t", now_ns=0, policy=policy))
    assert candidate.score == 0.5
    with pytest.raises(ValidationError, match="cannot be loaded"):
        resolve(load_policy({"scorers": {"tests.context.test_policy:missing": 1.0}}).scorers[0])


def always_half(candidate: object, context: object) -> float:
    return 0.5
