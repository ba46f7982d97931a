"""Replay: a manifest's (path, version) pairs rebuild the same bytes, or a clear diff."""

from __future__ import annotations

import pytest

from agentfs.context import replay
from agentfs.context.manifest import text_path
from agentfs.errors import NotFoundError, PermissionDeniedError, ValidationError
from agentfs.fs import ContextFS
from tests.context.sample import AGENT
from tests.context.test_constructor import make


def test_replay_is_byte_identical_even_after_the_files_change(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    ctx_store.write("/memory/episodic/tuesday.md", "Everything changed.\n")
    ctx_store.rm("/memory/semantic/coffee.md")
    result = replay(ctx_store, ctx.id, principal=AGENT)
    assert result.identical, result.diff
    assert result.text == ctx.text and result.sha256 == ctx.manifest.sha256 and not result.problems


def test_a_tampered_context_gives_a_diff(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    system = ctx_store.as_principal("system")
    system.write(text_path(ctx.id), ctx.text.replace("dentist", "hairdresser"))
    result = replay(ctx_store, ctx.id)
    assert not result.identical
    assert "-On Tuesday Ana has a hairdresser" in result.diff and "+On Tuesday Ana has a dentist" in result.diff
    assert any("does not match the manifest" in p for p in result.problems)


def test_replay_names_items_it_cannot_read(ctx_store: ContextFS) -> None:
    ctx = make(ctx_store)
    ctx_store.deny(AGENT, "read", "/memory/episodic")
    result = replay(ctx_store, ctx.id, principal=AGENT)
    assert not result.identical
    assert any("/memory/episodic/tuesday.md" in p and "cannot be read" in p for p in result.problems)


def test_unknown_or_malformed_ids(ctx_store: ContextFS) -> None:
    with pytest.raises(NotFoundError, match="no context 0123456789abcdef"):
        replay(ctx_store, "0123456789abcdef")
    with pytest.raises(ValidationError, match="not a context id"):
        replay(ctx_store, "../memory")


def test_reading_a_context_needs_permission(store: ContextFS) -> None:
    from tests.context.sample import populate

    populate(store)
    ctx = make(store)
    with pytest.raises(PermissionDeniedError):
        replay(store, ctx.id, principal="agent:stranger")


def test_a_context_is_readable_by_its_principal_and_nobody_else(ctx_store: ContextFS) -> None:
    """``/context/<id>/`` is owned by the principal it was built for: it can show and replay its
    own contexts (every item in them was readable to it); another agent cannot, and cannot
    change them (the mount is read-only to all but ``system``)."""
    from agentfs.context import read_manifest
    from agentfs.errors import ReadOnlyError

    ctx = make(ctx_store)
    agent = ctx_store.as_principal(AGENT)
    assert read_manifest(agent, ctx.id).id == ctx.id
    assert replay(agent, ctx.id, principal=AGENT).identical
    assert agent.stat(f"/context/{ctx.id}").owner == AGENT
    other = ctx_store.as_principal("agent:other")
    with pytest.raises(PermissionDeniedError):
        read_manifest(other, ctx.id)
    with pytest.raises((ReadOnlyError, PermissionDeniedError)):
        agent.write(text_path(ctx.id), "rewritten")
    with pytest.raises(PermissionDeniedError, match="only an administrator"):
        agent.write_many([("/memory/semantic/mine.md", "x")], owner="agent:other")
