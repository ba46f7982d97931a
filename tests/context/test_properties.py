"""Properties over any store and any budget: never over budget, never an unreadable item,
deterministic for the same inputs, replay byte-identical."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agentfs
from agentfs.context import ContextPolicy, build, load_policy, replay
from agentfs.context.render import framing_floor
from agentfs.context.tokens import Tokens
from agentfs.errors import ValidationError
from tests.context.sample import AGENT, FAST, NOW_NS
from tests.helpers import ADMIN

WORDS = ("ana", "bob", "tuesday", "dentist", "coffee", "budget", "review", "lisbon", "porto", "meeting", "plan",
         "morning", "tea", "flight", "hotel", "report", "deadline", "agenda", "lunch", "gym", "café", "naïve",
         "東京", "emoji🙂", "9:00", "2024-05-03")
FOLDERS = ("/memory/semantic", "/memory/episodic", "/memory/profile", "/knowledge/docs", "/human/notes")

memory_file = st.tuples(
    st.sampled_from(FOLDERS),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=120),
    st.booleans(),  # denied to the agent
    st.sampled_from([None, 0, 0.25, 0.5, 0.9, 1]),  # importance
)


def body_of(words: list[str]) -> str:
    sentences = [" ".join(words[i:i + 7]).capitalize() + "." for i in range(0, len(words), 7)]
    return " ".join(sentences) + "\n"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.lists(memory_file, max_size=12),
    history=st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=30), max_size=4),
    task=st.lists(st.sampled_from(WORDS), min_size=1, max_size=6),
    budget=st.integers(min_value=1, max_value=1500),
    model=st.sampled_from([None, "gpt-4"]),
)
def test_any_store_any_budget(files, history, task, budget, model) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        fs = agentfs.init(Path(tmp) / "ctx", admin=ADMIN)
        try:
            denied = set()
            items = []
            for n, (folder, words, deny, importance) in enumerate(files):
                path = f"{folder}/m{n}.md"
                front = f"---\nimportance: {importance}\n---\n" if importance is not None else ""
                items.append((path, front + body_of(words)))
                if deny:
                    denied.add(path)
            if items:
                fs.write_many(items)
            for n, words in enumerate(history):
                fs.write(f"/history/p/{n:03d}.md", body_of(words))
            for prefix in ("/memory", "/knowledge", "/human", "/history/p", "/context"):
                fs.grant(AGENT, "read,list", prefix)
            for path in denied:
                fs.deny(AGENT, "read", path)
            check_properties(fs, " ".join(task), budget, model, denied)
        finally:
            fs.close()


def check_properties(fs, task, budget, model, denied) -> None:  # type: ignore[no-untyped-def]
    options = {"principal": AGENT, "budget": budget, "policy": FAST, "model": model, "session": "p",
               "now_ns": NOW_NS}
    tokens = Tokens(model)
    try:
        # Deterministic: the same inputs and store state give the same bytes and manifest. (Storing
        # a context changes the store - its text is full-text indexed - so the stored build comes
        # last.)
        first = build(fs, task, **options, store=False)
        assert build(fs, task, **options, store=False).manifest == first.manifest
        ctx = build(fs, task, **options)
    except ValidationError as exc:
        # Only allowed when the framing alone cannot fit.
        assert exc.details.get("rule") == "budget_too_small"
        floor = framing_floor(FAST_INSTRUCTIONS, task)
        assert tokens.exact(floor) + ContextPolicy().reserve_tokens > budget
        return
    used = max(tokens.exact(ctx.text), tokens.exact(ctx.prefix) + tokens.exact(ctx.rest))
    assert used == ctx.manifest.tokens
    assert used + ctx.manifest.reserve_tokens <= budget
    agent = fs.as_principal(AGENT)
    for item in ctx.manifest.items:
        assert item.path not in denied
        assert agent.decide("read", item.path).allowed
    assert first.text == ctx.text and first.manifest == ctx.manifest
    assert replay(fs, ctx.id, principal=AGENT).identical


FAST_INSTRUCTIONS = load_policy(FAST).instructions
