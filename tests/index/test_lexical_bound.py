"""Bounded BM25: the lexical half scores a bounded candidate pool, exactly, and never leaks.

A store of files over a skewed vocabulary (a few words in most files, many rare ones) is searched
with a tiny ``lexical_budget``, so the bound applies to almost every query. The brute force is
FTS5's own unbounded BM25 over every file: each hit must carry exactly that score, hits come best
first, nothing unreadable is returned, and the list is as full as the readable candidates allow.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agentfs
from agentfs.fs import ContextFS
from agentfs.index.lexical import TermStats, bounded_bm25, plan_bounded, query_words, to_match
from tests.helpers import ADMIN

AGENT = "agent:b"
COMMON = ["note", "about"]  # in (almost) every file: idf ~0, dropped by the bound
MIDDLE = ["river", "engine", "garden", "violin", "harbour"]
RARE = [f"word{i}" for i in range(40)]
FOLDERS = ["/knowledge/a", "/knowledge/ab", "/memory/semantic", "/human/notes"]
BUDGET = 40


def _text(rng: random.Random, i: int) -> str:
    words = list(COMMON)
    words += rng.sample(MIDDLE, rng.randint(0, 3))
    words += rng.sample(RARE, rng.randint(0, 2)) if rng.random() < 0.7 else []
    words += [rng.choice(MIDDLE)] * rng.randint(0, 3)  # term frequency varies
    rng.shuffle(words)
    return f"# File {i}\n\n{' '.join(words)}\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContextFS]:
    rng = random.Random(11)
    fs = agentfs.init(tmp_path_factory.mktemp("bound") / "ctx", admin=ADMIN)
    fs.service("search").configure(fs, embedder="hash", lexical_budget=BUDGET)
    fs.write_many([(f"{rng.choice(FOLDERS)}/f{i}.md", _text(rng, i)) for i in range(160)])
    try:
        yield fs
    finally:
        fs.close()


def _exact(fs: ContextFS, query: str) -> dict[str, float]:
    """FTS5's BM25 of the whole query over every file (no bound, no access filter)."""
    return {node.path: score for node, score in fs._core.store.fts_search(to_match(query), limit=10_000)}


def _candidates(fs: ContextFS, query: str) -> set[str] | None:
    """Files holding a selective word of the bounded plan; None when the query is not bounded."""
    store = fs._core.store
    plan = plan_bounded(store.conn, query_words(query), budget=BUDGET, stats=TermStats(), seq=store.last_event_seq())
    if plan is None:
        return None
    node = {n.id: n.path for n in store.live_files()}
    return {node[rowid] for rowid, _ in bounded_bm25(store.conn, plan[0], [], limit=10_000)}


def test_bounded_scores_are_the_exact_bm25_of_the_whole_query(world: ContextFS) -> None:
    bounded_queries = 0
    for query in ["river word3 note", "violin harbour word7 word12 about", "engine garden", "word5",
                  "note about river engine garden violin harbour word1"]:
        exact = _exact(world, query)
        hits = world.search(query, k=20, mode="lexical")
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        for hit in hits:
            assert hit.score == pytest.approx(exact[hit.path], abs=1e-4), (query, hit.path)
        candidates = _candidates(world, query)
        if candidates is None:
            continue
        bounded_queries += 1
        best = sorted((s for p, s in exact.items() if p in candidates), reverse=True)[:20]
        assert [h.score for h in hits] == pytest.approx(best, abs=1e-4), query
        # The top of the list agrees with the unbounded ranking: what the bound can miss scores
        # only through common words.
        assert hits[0].score == pytest.approx(max(exact.values()), abs=1e-4), query
    assert bounded_queries >= 3  # the budget really applied


def test_every_word_common_still_answers(world: ContextFS) -> None:
    hits = world.search("note about", k=5, mode="lexical")
    assert len(hits) == 5 and all("note" in world.read_text(h.path) for h in hits)


def test_a_budget_of_zero_turns_the_bound_off(world: ContextFS) -> None:
    service = world.service("search")
    query = "note about river engine garden violin harbour word1"
    try:
        service.configure(world, lexical_budget=0)
        exact = [(h.path, h.score) for h in world.search(query, k=10, mode="lexical")]
    finally:
        service.configure(world, lexical_budget=BUDGET)
    truth = sorted(_exact(world, query).items(), key=lambda item: -item[1])[:10]
    assert [s for _, s in exact] == pytest.approx([s for _, s in truth], abs=1e-6)
    with pytest.raises(agentfs.errors.ValidationError, match="lexical_budget"):
        service.configure(world, lexical_budget=-1)


rules_strategy = st.lists(
    st.tuples(st.sampled_from(["allow", "allow", "deny"]),
              st.sampled_from(["/", "/knowledge", "/knowledge/a", "/knowledge/ab", "/memory", "/human/notes"])),
    max_size=4,
)
query_strategy = st.lists(st.sampled_from([*COMMON, *MIDDLE, *RARE[:8]]), min_size=1, max_size=5).map(" ".join)


@pytest.fixture(params=[256, 1], ids=["window-256", "window-1"])
def window(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many ranked candidates the read filter gets at a time; 1 forces the widening path."""
    import agentfs.index.service as service_module

    monkeypatch.setattr(service_module, "BOUNDED_WINDOW", request.param)
    return int(request.param)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=rules_strategy, query=query_strategy, k=st.integers(1, 15), mode=st.sampled_from(["lexical", "hybrid"]))
def test_bounded_search_never_leaks_and_fills_top_k(world: ContextFS, window: int, rules: list, query: str,
                                                    k: int, mode: str) -> None:
    fs = world
    ids = [(fs.grant if effect == "allow" else fs.deny)(AGENT, "read", path) for effect, path in rules]
    try:
        agent = fs.as_principal(AGENT)
        hits = agent.search(query, k=k, mode=mode)
        leaked = [h.path for h in hits if not agent.decide("read", h.path).allowed]
        assert not leaked, (rules, query, leaked)
        if mode != "lexical":
            return
        exact = _exact(fs, query)
        readable = {p: s for p, s in exact.items() if agent.decide("read", p).allowed}
        candidates = _candidates(fs, query)
        pool = readable if candidates is None else {p: s for p, s in readable.items() if p in candidates}
        if candidates is not None and not candidates:
            # Every word is common: the newest matches are ranked instead; still readable only.
            assert len(hits) == min(k, len(readable))
            return
        expected = sorted(pool.values(), reverse=True)[:k]
        assert [h.score for h in hits] == pytest.approx(expected, abs=1e-4), (rules, query)
    finally:
        for rule_id in ids:
            fs.revoke(rule_id)
