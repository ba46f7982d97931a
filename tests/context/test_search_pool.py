"""The bounded lexical pool (``Store.fts_search(pool=...)``, ``lexical_search(path=(roots))``)."""

from __future__ import annotations

from agentfs.fs import ContextFS
from agentfs.index.lexical import lexical_search
from tests.helpers import as_agent


def fill(fs: ContextFS, count: int) -> None:
    items = []
    for n in range(count):
        extra = " dentist Tuesday" if n % 17 == 0 else ""
        items.append((f"/memory/semantic/m{n:03d}.md", f"Ana note {n} about the budget{extra}.\n"))
    items.append(("/knowledge/guide.md", "The dentist guide for Tuesday visits.\n"))
    items.append(("/human/notes/other.md", "Ana dentist Tuesday, outside the roots.\n"))
    fs.write_many(items)


def test_a_large_pool_ranks_like_the_exact_search(store: ContextFS) -> None:
    fill(store, 120)
    exact = lexical_search(store, "ana dentist tuesday", k=500)
    pooled = lexical_search(store, "ana dentist tuesday", k=500, pool=10_000)
    assert len(exact) == 122
    assert {h.path: round(h.score, 9) for h in pooled} == {h.path: round(h.score, 9) for h in exact}
    assert [round(h.score, 9) for h in pooled] == [round(h.score, 9) for h in exact]  # same order of scores


def test_a_small_pool_keeps_files_with_every_term_and_stays_bounded(store: ContextFS) -> None:
    fill(store, 120)
    hits = lexical_search(store, "ana dentist tuesday", k=5, pool=8)
    assert len(hits) == 5
    # Files holding all the terms come from their own window, so they are not crowded out by the
    # many newer files that match "ana" only.
    assert all("dentist" in store.read_text(h.path) for h in hits)


def test_the_pool_filters_access_inside_its_windows(store: ContextFS) -> None:
    fill(store, 60)
    store.deny("agent:reader", "read", "/memory/semantic")
    agent = as_agent(store, "agent:reader", "read,list", "/")
    hits = lexical_search(agent, "ana dentist tuesday", k=5, pool=4)
    assert hits and all(not h.path.startswith("/memory/semantic") for h in hits)


def test_several_roots_in_one_query(store: ContextFS) -> None:
    fill(store, 40)
    hits = lexical_search(store, "dentist tuesday", k=50, path=("/memory", "/knowledge"), pool=100)
    found = {h.path for h in hits}
    assert "/knowledge/guide.md" in found and "/human/notes/other.md" not in found
    assert {p for p in found if p.startswith("/memory")} == {f"/memory/semantic/m{n:03d}.md" for n in range(0, 40, 17)}
