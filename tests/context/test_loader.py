"""The Loader: formats, incremental refresh that keeps the prefix, paging bodies in."""

from __future__ import annotations

import json

from langchain_core.messages import HumanMessage, SystemMessage

from agentfs.context import load, page_in, read_page, refresh, to_json, to_messages, to_text
from agentfs.fs import ContextFS
from tests.context.sample import AGENT, NOW_NS
from tests.context.test_constructor import make


def test_messages_put_the_prefix_in_the_system_message(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    messages = to_messages(ctx)
    assert [type(m) for m in messages] == [SystemMessage, HumanMessage]
    assert messages[0].content == ctx.prefix and messages[1].content == ctx.rest
    assert messages[0].content + messages[1].content == to_text(ctx) == ctx.text
    assert ctx.to_messages() == messages


def test_json_groups_items_by_section(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    data = to_json(ctx)
    json.dumps(data)  # JSON-able
    sections = [s["section"] for s in data["sections"]]
    assert sections[:2] == ["pinned", "tools"] and "evidence" in sections
    first = data["sections"][0]["items"][0]
    assert first["path"] == "/memory/profile/ana.md" and "Ana Lima" in first["text"]
    assert data["text"] == ctx.text and data["tokens"] == ctx.tokens


def test_refresh_keeps_the_prefix_bytes_while_history_grows(ctx_store: ContextFS) -> None:
    first = make(ctx_store)
    ctx_store.append("/history/s1/0002-assistant.md", "assistant: Tuesday starts with the dentist at 9.\n")
    ctx_store.append("/history/s1/0003-user.md", "user: move the budget review to Wednesday\n")
    second = refresh(ctx_store, first, task="move the budget review to Wednesday", now_ns=NOW_NS + 10**9)
    assert second.prefix == first.prefix  # byte for byte: the provider's prompt cache keeps hitting
    assert second.manifest.prefix_reused and second.manifest.parent == first.id
    assert second.manifest.prefix_sha256 == first.manifest.prefix_sha256
    history = [i.path for i in second.manifest.items if i.kind == "history"]
    assert history == ["/history/s1/0001-user.md", "/history/s1/0002-assistant.md", "/history/s1/0003-user.md"]
    assert second.text.endswith("move the budget review to Wednesday\n")
    assert second.manifest.principal == AGENT and second.manifest.budget == first.manifest.budget
    third = refresh(ctx_store, second)
    assert third.prefix == first.prefix


def test_refresh_brings_changed_evidence_in_at_its_new_version(ctx_store: ContextFS) -> None:
    first = make(ctx_store)
    old = next(i for i in first.manifest.items if i.path == "/memory/episodic/tuesday.md")
    ctx_store.write("/memory/episodic/tuesday.md", "On Tuesday Ana's dentist appointment moved to 14:00.\n")
    second = refresh(ctx_store, first)
    new = next(i for i in second.manifest.items if i.path == "/memory/episodic/tuesday.md")
    assert new.version == old.version + 1 and "moved to 14:00" in second.text
    assert "at 9:00" not in second.text
    assert second.prefix == first.prefix


def test_a_changed_prefix_file_rebuilds_the_prefix_and_says_why(ctx_store: ContextFS) -> None:
    first = make(ctx_store)
    ctx_store.write("/memory/profile/ana.md", "Ana Lima moved to Porto.\n")
    second = refresh(ctx_store, first)
    assert not second.manifest.prefix_reused
    assert any("/memory/profile/ana.md changed" in note for note in second.manifest.notes)
    assert "moved to Porto" in second.prefix and second.prefix != first.prefix


def test_page_in_adds_a_tool_body_and_keeps_the_prefix(ctx_store: ContextFS) -> None:
    first = make(ctx_store)
    paged = page_in(ctx_store, first, "/tools/calendar/create_event")
    assert paged.prefix == first.prefix
    pages = [i.path for i in paged.manifest.items if i.section == "pages"]
    assert pages == ["/tools/calendar/create_event/README.md", "/tools/calendar/create_event/schema.json"]
    assert "explains every argument" in paged.rest and '"type": "object"' in paged.rest
    skill = page_in(ctx_store, paged, "/skills/weekly-planning")  # earlier pages stay
    assert [i.path for i in skill.manifest.items if i.section == "pages"] == [
        *pages, "/skills/weekly-planning/SKILL.md"]
    assert "List the appointments" in skill.text


def test_read_page_returns_one_body_with_its_cost(ctx_store: ContextFS) -> None:
    page = read_page(ctx_store, "/skills/weekly-planning/SKILL.md", principal=AGENT)
    assert page.text.startswith("# Steps") and page.tokens > 0 and page.version == 1


def test_load_recovers_a_stored_context(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    loaded = load(ctx_store, ctx.id, principal=AGENT)
    assert loaded.text == ctx.text and loaded.prefix == ctx.prefix
    assert loaded.manifest == ctx.manifest and loaded.item_texts == ctx.item_texts
