"""The Constructor: what goes in, in which order, why, and never over the budget."""

from __future__ import annotations

import json

import pytest

from agentfs.context import build, replay
from agentfs.context.manifest import manifest_path, text_path
from agentfs.context.order import edges_first
from agentfs.context.render import NO_EVIDENCE
from agentfs.context.tokens import Tokens
from agentfs.errors import NotSupportedError, ReadOnlyError, ValidationError
from agentfs.fs import ContextFS
from tests.context.sample import AGENT, FAST, NOW_NS

TASK = "plan Ana's Tuesday"


def make(fs: ContextFS, task: str = TASK, **options):  # type: ignore[no-untyped-def]
    options.setdefault("principal", AGENT)
    options.setdefault("budget", 2000)
    options.setdefault("policy", FAST)
    options.setdefault("session", "s1")
    options.setdefault("now_ns", NOW_NS)
    return build(fs, task, **options)


def used_tokens(ctx) -> int:  # type: ignore[no-untyped-def]
    tokens = Tokens(encoding=ctx.manifest.encoding)
    return max(tokens.exact(ctx.text), tokens.exact(ctx.prefix) + tokens.exact(ctx.rest))


def test_sections_come_in_order_with_a_stable_prefix(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    text = ctx.text
    marks = ["You are a helpful assistant", "## Profile and notes", "## Tools", "## Skills",
             "## Conversation so far", "## Evidence", "## Task"]
    positions = [text.index(m) for m in marks]
    assert positions == sorted(positions)
    assert text.endswith("## Task\n\nplan Ana's Tuesday\n")
    assert ctx.prefix == text[: text.index("## Conversation so far")]
    assert {i.section for i in ctx.manifest.items if text.index(f"[{i.label}] /") < len(ctx.prefix)} == {
        "pinned", "tools", "skills"}
    kinds = {(i.path, i.kind) for i in ctx.manifest.items}
    assert ("/memory/profile/ana.md", "profile") in kinds
    assert ("/human/notes/system.md", "note") in kinds
    assert ("/memory/episodic/tuesday.md", "memory") in kinds
    assert ("/history/s1/0001-user.md", "history") in kinds
    for item in ctx.manifest.items:
        assert item.reason and item.tokens > 0 and item.version >= 1 and len(item.sha256) == 64


@pytest.mark.parametrize("budget", [160, 200, 260, 400, 700, 1500, 4000])
def test_the_budget_covers_everything_and_is_never_exceeded(ctx_store: ContextFS, budget: int) -> None:
    ctx = make(ctx_store, budget=budget)
    assert ctx.manifest.tokens == used_tokens(ctx)
    assert ctx.manifest.tokens + ctx.manifest.reserve_tokens <= budget
    assert ctx.manifest.budget == budget and ctx.manifest.encoding == "o200k_base"


def test_a_budget_too_small_for_the_framing_is_an_error(ctx_store: ContextFS) -> None:
    with pytest.raises(ValidationError, match="too small") as info:
        make(ctx_store, budget=30)
    assert info.value.details["rule"] == "budget_too_small"


def test_the_model_picks_the_encoding(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store, model="gpt-4", budget=500)
    assert ctx.manifest.encoding == "cl100k_base"
    assert ctx.manifest.tokens == used_tokens(ctx)


def test_nothing_unreadable_gets_in(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store, task="Ana salary review on Tuesday")
    assert all(i.path != "/memory/semantic/salary.md" for i in ctx.manifest.items)
    assert "confidential" not in ctx.text
    agent = ctx_store.as_principal(AGENT)
    assert all(agent.decide("read", i.path).allowed for i in ctx.manifest.items)


def test_tools_and_skills_are_offered_by_description_only(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    assert "- [T1] /tools/calendar/create_event: Create an event in a calendar to plan a day" in ctx.text
    assert "explains every argument" not in ctx.text  # the README's body is not loaded up front
    assert "/skills/weekly-planning: Plan a person's week" in ctx.text
    assert "List the appointments" not in ctx.text
    mail = next(e for e in ctx.manifest.excluded if e.path == "/tools/mail/send/README.md")
    assert "not executable" in mail.why  # readable, but the agent may not run it: not offered


def test_a_tool_is_offered_only_to_a_principal_that_may_run_it(ctx_store: ContextFS) -> None:
    ctx_store.grant(AGENT, "exec", "/tools/mail")
    ctx = make(ctx_store, task="send an email to Bob about Tuesday")
    assert "/tools/mail/send: Send an email" in ctx.text
    ctx_store.deny(AGENT, "exec", "/tools/mail/send")
    ctx = make(ctx_store, task="send an email to Bob about Tuesday")
    assert "/tools/mail/send" not in ctx.text
    assert any(e.path == "/tools/mail/send/README.md" and "not executable" in e.why for e in ctx.manifest.excluded)


def test_near_duplicates_are_left_out_naming_the_original(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store, task="what does Ana drink in the morning")
    paths = [i.path for i in ctx.manifest.items]
    assert "/memory/semantic/coffee.md" in paths and "/memory/semantic/coffee-copy.md" not in paths
    excluded = next(e for e in ctx.manifest.excluded if e.path == "/memory/semantic/coffee-copy.md")
    assert excluded.why.startswith("near-duplicate of /memory/semantic/coffee.md")


def test_long_items_are_compressed_extractively_and_still_replay(ctx_store: ContextFS) -> None:
    filler = " ".join(f"Sentence {n} is about the weather in Porto and nothing else." for n in range(60))
    ctx_store.write("/memory/semantic/long.md", f"{filler} On Tuesday the dentist moved Ana to 10:30. {filler}\n")
    ctx = make(ctx_store, task="Ana dentist Tuesday", budget=700)
    item = next(i for i in ctx.manifest.items if i.path == "/memory/semantic/long.md")
    assert item.view["mode"] == "extract" and item.note == "excerpt"
    assert "dentist moved Ana to 10:30" in ctx.text and "[…]" in ctx.text
    assert "compressed from" in item.reason
    assert item.tokens <= 0.25 * (700 - ctx.manifest.reserve_tokens)
    assert replay(ctx_store, ctx.id).identical


def test_a_pluggable_summariser_replaces_extraction(ctx_store: ContextFS) -> None:
    ctx_store.write("/memory/semantic/long.md", "Ana's Tuesday. " + "Nothing happens here at all. " * 300)
    ctx = make(ctx_store, task="Ana Tuesday", budget=700, summarizer=lambda text, limit: "Summary: Ana is busy.")
    item = next(i for i in ctx.manifest.items if i.path == "/memory/semantic/long.md")
    assert item.view == {"mode": "summary", "text": "Summary: Ana is busy."} and item.note == "summary"
    assert replay(ctx_store, ctx.id).identical


def test_no_evidence_is_said_explicitly(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store, task="explain quantum chromodynamics")
    assert not ctx.manifest.evidence
    assert NO_EVIDENCE.strip() in ctx.text
    assert "## Evidence" in ctx.text


def test_kind_quotas_limit_items(ctx_store: ContextFS) -> None:
    for n in range(2, 6):
        ctx_store.append(f"/history/s1/{n:04d}-user.md", f"user: message number {n}\n")
    policy = {**FAST, "kinds": {"history": {"max_items": 2}}}
    ctx = make(ctx_store, policy=policy)
    history = [i.path for i in ctx.manifest.items if i.kind == "history"]
    assert len(history) == 2
    assert history == ["/history/s1/0004-user.md", "/history/s1/0005-user.md"]  # newest, in time order
    assert any("history quota" in e.why for e in ctx.manifest.excluded)


def test_evidence_is_ordered_best_at_the_edges() -> None:
    assert edges_first(list("abcdef")) == ["a", "c", "e", "f", "d", "b"]
    assert edges_first([]) == [] and edges_first(["a"]) == ["a"]


def test_builds_are_deterministic_and_content_addressed(ctx_store: ContextFS) -> None:
    first, second = make(ctx_store, store=False), make(ctx_store, store=False)
    assert first.text == second.text and first.manifest == second.manifest
    assert first.id == second.id and len(first.id) == 16
    assert make(ctx_store, store=False, now_ns=NOW_NS + 1).id != first.id


def test_the_context_is_stored_and_referenced_from_history(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    assert ctx_store.read_text(text_path(ctx.id)) == ctx.text
    stored = json.loads(ctx_store.read_text(manifest_path(ctx.id)))
    assert stored["id"] == ctx.id and stored["sha256"] == ctx.manifest.sha256
    lines = [json.loads(x) for x in ctx_store.read_text("/history/s1/contexts.jsonl").splitlines()]
    assert lines[-1]["context"] == ctx.id and lines[-1]["manifest"] == manifest_path(ctx.id)
    assert all(i.path != "/history/s1/contexts.jsonl" for i in ctx.manifest.items)
    with pytest.raises(ReadOnlyError):  # even an administrator: only the pipeline writes contexts
        ctx_store.write(text_path(ctx.id), "tampered")
    unstored = make(ctx_store, task="something else entirely", store=False)
    assert not ctx_store.exists(manifest_path(unstored.id))


def test_without_a_session_the_reference_goes_to_the_default_session(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store, session=None)
    assert ctx.id in ctx_store.read_text("/history/default/contexts.jsonl")
    assert not any(i.kind == "history" for i in ctx.manifest.items)


@pytest.mark.parametrize(("options", "match"), [
    ({"task": "   "}, "task is empty"),
    ({"session": "../etc"}, "not a session name"),
    ({"budget": 0}, "positive number"),
    ({"policy": {"budget": "lots"}}, "budget"),
])
def test_bad_input_is_a_clear_error(ctx_store: ContextFS, options: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        make(ctx_store, **options)


def test_hybrid_search_falls_back_to_lexical(ctx_store: ContextFS, monkeypatch: pytest.MonkeyPatch) -> None:
    class Unavailable:
        def close(self) -> None: ...

    def no_dense(self, query, **kwargs):  # type: ignore[no-untyped-def]
        raise NotSupportedError("no semantic index here")

    real_service = ContextFS.service
    monkeypatch.setattr(ContextFS, "service",
                        lambda self, name: Unavailable() if name == "search" else real_service(self, name))
    monkeypatch.setattr(ContextFS, "search", no_dense)
    ctx = make(ctx_store, policy={**FAST, "search": {"mode": "hybrid"}})
    assert ctx.manifest.search_mode == "lexical"
    assert any(i.path == "/memory/episodic/tuesday.md" for i in ctx.manifest.items)


def test_the_asking_principal_is_recorded(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    assert ctx.manifest.principal == AGENT
    assert make(ctx_store, principal=None).manifest.principal == ctx_store.principal
