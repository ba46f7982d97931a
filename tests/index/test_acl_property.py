"""ACL never leaks, and top-k stays full: search vs brute force over random rules and queries.

One store, many files (some owned by the agent, traps like ``/knowledge/ab`` next to
``/knowledge/a``); each example adds random allow/deny rules for the agent, its group or
everyone, runs a random query in a random mode, removes the rules again, and compares with a brute
force that decides read access file by file with ``ContextFS.decide`` and ranks every readable
file exactly (BM25 scores from an unfiltered query, cosine over every chunk).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agentfs
from agentfs.fs import ContextFS
from agentfs.index.chunking import chunk_text
from agentfs.index.embeddings import HashEmbeddings
from agentfs.index.hybrid import fuse
from agentfs.index.lexical import to_match
from tests.helpers import ADMIN

AGENT = "agent:q"
GROUP = "group:g"
VOCAB = ["coffee", "tea", "paris", "rome", "river", "engine", "garden", "violin", "harbour", "quartz",
         "lantern", "meadow"]
FOLDERS = ["/memory/semantic", "/memory/episodic", "/knowledge/a", "/knowledge/ab", "/knowledge/a/deep",
           "/human/notes", "/scratchpad/s1"]
RULE_PATHS = ["/", "/memory", "/memory/semantic", "/memory/semanticx", "/memory/episodic", "/knowledge",
              "/knowledge/a", "/knowledge/ab", "/knowledge/a/deep", "/knowledg", "/human",
              "/memory/semantic/f1.md", "/knowledge/a/f2.md", "/scratchpad"]


@pytest.fixture(scope="module", params=["embedded", pytest.param("server", marks=pytest.mark.chroma_server)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContextFS]:
    """The same files on embedded Chroma and on a real Chroma server (see conftest)."""
    url = request.getfixturevalue("chroma_server_url") if request.param == "server" else None
    rng = random.Random(7)
    fs = agentfs.init(tmp_path_factory.mktemp("acl") / "ctx", admin=ADMIN)
    fs.service("search").configure(fs, embedder="hash", chroma_url=url)
    fs.add_member(AGENT, GROUP)
    items = []
    for i in range(40):
        words = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(2, 7)))
        items.append((f"{rng.choice(FOLDERS)}/f{i}.md", f"# Note {i}\n\n{words}\n"))
    fs.write_many(items)
    rule = fs.grant(AGENT, "write", "/")
    agent = fs.as_principal(AGENT)
    for i in range(6):  # files the agent owns: readable by the owner exception unless denied
        words = " ".join(rng.choice(VOCAB) for _ in range(3))
        agent.write(f"{rng.choice(FOLDERS)}/own{i}.md", f"# Own {i}\n\n{words}\n")
    fs.revoke(rule)
    fs.service("search").sync(fs)
    try:
        yield fs
    finally:
        fs.close()


rules_strategy = st.lists(
    st.tuples(
        st.sampled_from(["allow", "allow", "deny"]),
        st.sampled_from([AGENT, GROUP, "*", "agent:other"]),
        st.sampled_from(["read", "read,list", "list", "write", "admin"]),
        st.sampled_from(RULE_PATHS),
    ),
    max_size=5,
)
query_strategy = st.lists(st.sampled_from([*VOCAB, "zebra"]), min_size=1, max_size=3).map(" ".join)


def _files(fs: ContextFS) -> list:
    return [n for n in fs._core.store.live_files() if n.kind == "file"]


def _dense_truth(fs: ContextFS, query: str, readable: list) -> dict[str, float]:
    embedder = HashEmbeddings()
    qv = embedder.embed([query])[0]
    out = {}
    for node in readable:
        text = fs.read_text(node.path)
        chunks = chunk_text(text, path=node.path)
        vectors = embedder.embed([c.embed_text() for c in chunks])
        out[node.path] = float(np.max(vectors @ qv))
    return out


def _lexical_truth(fs: ContextFS, query: str, readable: list) -> dict[str, float]:
    match = to_match(query)
    if not match:
        return {}
    allowed = {n.path for n in readable}
    rows = fs._core.store.fts_search(match, limit=10_000)  # no access filter: BM25 over everything
    return {node.path: score for node, score in rows if node.path in allowed}


def _ranked(scores: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda item: -item[1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=rules_strategy, query=query_strategy, k=st.integers(1, 12),
       mode=st.sampled_from(["hybrid", "dense", "lexical"]))
def test_search_never_leaks_and_fills_top_k(world: ContextFS, rules: list, query: str, k: int, mode: str) -> None:
    fs = world
    ids = [(fs.grant if effect == "allow" else fs.deny)(who, actions, path) for effect, who, actions, path in rules]
    try:
        agent = fs.as_principal(AGENT)
        hits = agent.search(query, k=k, mode=mode)
        readable = [n for n in _files(fs) if agent.decide("read", n.path).allowed]
        got = [h.path for h in hits]
        assert len(got) == len(set(got))
        leaked = [p for p in got if not agent.decide("read", p).allowed]
        assert not leaked, f"{AGENT} got files it may not read: {leaked} (rules {rules})"

        lexical = _lexical_truth(fs, query, readable)
        dense = _dense_truth(fs, query, readable)
        if mode == "lexical":
            expected = _ranked(lexical)[:k]
        elif mode == "dense":
            expected = _ranked(dense)[:k]
        else:
            node_of = {n.path: n.id for n in readable}
            path_of = {v: p for p, v in node_of.items()}
            fused = fuse([(node_of[p], s) for p, s in _ranked(lexical)],
                         [(node_of[p], s) for p, s in _ranked(dense)])
            expected = [(path_of[f.key], f.score) for f in fused][:k]
        # Top-k is full: as many hits as the brute force finds, with the same scores in order
        # (ties may order paths differently, so scores are compared, and each hit's own score).
        assert len(hits) == len(expected), (rules, query, mode, got, expected)
        assert [h.score for h in hits] == pytest.approx([s for _, s in expected], abs=1e-4)
        truth = dict(expected) if mode == "hybrid" else (lexical if mode == "lexical" else dense)
        for hit in hits:
            if mode == "hybrid":
                continue  # a tie at the k-th place may swap which path is in `expected`
            assert hit.score == pytest.approx(truth[hit.path], abs=1e-4)
    finally:
        for rule_id in ids:
            fs.revoke(rule_id)
