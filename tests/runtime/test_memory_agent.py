"""Exemplar 1, end to end and offline: an agent learns about a user in one session, uses it in the
next, and every fact it uses is traced to the history entry it came from."""

from __future__ import annotations

import pytest

from agentfs.errors import PermissionDeniedError
from agentfs.fs import ContextFS
from agentfs.runtime.agents import load_agent
from agentfs.runtime.history import HistoryLog, trace
from agentfs.runtime.loop import Agent
from tests.runtime.conftest import AGENTS

INTRO = "Hi, I'm Ana. I drink oat-milk flat whites every morning. I'm vegetarian."
QUESTION = "What should I order at the café?"


@pytest.fixture(scope="module")
def spec():  # type: ignore[no-untyped-def]
    return load_agent(AGENTS / "memory-agent.yaml")


def test_learns_in_one_session_and_uses_it_in_the_next(store: ContextFS, spec) -> None:  # type: ignore[no-untyped-def]
    monday = Agent(store, spec, session="monday")
    first = monday.ask(INTRO)
    assert "Nice to meet you, Ana!" in first.text
    assert [u.name for u in first.tools] == ["memory__remember"] * 3 and all(u.ok for u in first.tools)
    written = [m for m in first.memories if m["status"] == "written"]
    assert any("oat-milk flat whites" in m["text"] for m in written)
    for memory in first.memories:  # written or sent for review, each names the turn it came from
        assert {"path": first.user_entry.path, "version": 1} in memory["provenance"]
        assert memory["path"].startswith("/memory/profile/" if memory["status"] == "written" else "/human/review/")
    drink = next(m["path"] for m in written if "oat-milk" in m["text"])
    assert store.stat(drink).author == spec.principal  # written by the agent, under its own permissions

    tuesday = Agent(store, spec, session="tuesday")
    second = tuesday.ask(QUESTION)
    assert "oat-milk flat whites" in second.text
    # the claim stands on the memory, and the memory on Monday's turn
    [claim] = [u for u in second.used if "oat-milk" in u["claim"]]
    [source] = [s for s in claim["sources"] if s["path"] == drink]
    [origin] = source["from"]
    assert origin["path"] == "/history/monday/000001-user.md" and origin["text"] == INTRO
    assert trace(store, drink)[0]["entry"]["principal"] == store.principal

    # Tuesday's answer is in the history with its context, grounding and no new memories
    answer = HistoryLog(store, "tuesday").entries(types=("assistant",))[-1]
    assert answer["text"] == second.text and answer["context"] == second.context
    assert answer["supported"] >= 1 and store.exists(f"/context/{second.context}/manifest.json")


def test_without_memories_it_says_it_does_not_know(store: ContextFS, spec) -> None:  # type: ignore[no-untyped-def]
    reply = Agent(store, spec, session="fresh").ask(QUESTION)
    assert "I don't know your tastes yet" in reply.text and reply.used == []


def test_doubtful_facts_wait_for_a_human(store: ContextFS, spec) -> None:  # type: ignore[no-untyped-def]
    monday = Agent(store, spec, session="monday")
    monday.ask(INTRO)
    monday.ask("I'm Bob.")  # the name changes: a new proposal, grounded in this turn only
    review = [e.path for e in store.ls("/human/review")]
    assert review, "the name facts are not supported word for word, so they wait for review"
    for path in review:  # every doubtful proposal carries where it came from
        assert trace(store, path)[0]["entry"]["type"] == "user"
    # a human approves one by moving it into the profile; the next session uses it
    approved = review[0]
    target = "/memory/profile/" + approved.rsplit("/", 1)[1]
    store.mv(approved, target)
    text = store.front_matter(target)[1].strip()
    reply = Agent(store, spec, session="later").ask(QUESTION)
    assert text in reply.text


def test_the_agent_needs_its_grants(store: ContextFS, spec) -> None:  # type: ignore[no-untyped-def]
    user = store.as_principal("user:guest")
    with pytest.raises(PermissionDeniedError, match="agentfs acl grant STORE agent:memory-agent"):
        Agent(user, spec, session="x")
    Agent(store, spec, session="x")  # the administrator sets it up; then anyone may start it
    Agent(user, spec, session="y")
