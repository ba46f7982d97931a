"""AgentFSStore against LangGraph's own InMemoryStore (the reference), plus what only files give."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import InjectedStore, ToolNode
from langgraph.store.base import BaseStore, InvalidNamespaceError
from langgraph.store.memory import InMemoryStore

import agentfs
from agentfs.errors import PermissionDeniedError, ValidationError
from agentfs.fs import ContextFS
from agentfs.integrations.langgraph import AgentFSStore
from tests.helpers import ADMIN
from tests.integrations.data import AGENT

NAMESPACES = [("users", "ana"), ("users", "bob"), ("users", "ana", "work"), ("teams", "core"), ("a b", "c/d")]
KEYS = ["coffee", "trains", "x/y", "100%", "é"]


def _value(rng: random.Random) -> dict:
    return {"n": rng.randint(0, 5), "kind": rng.choice(["fact", "pref"]),
            "text": rng.choice(["oat-milk flat white", "night train", "green tea", "standup at 9"]),
            "nested": {"level": rng.randint(0, 2)}}


def _comparable(items: list) -> list:
    return sorted((tuple(i.namespace), i.key, repr(i.value)) for i in items)


@pytest.mark.parametrize("seed", range(5))
def test_matches_langgraphs_in_memory_store(tmp_path: Path, seed: int) -> None:
    """Random puts and deletes, then every read compared with InMemoryStore."""
    rng = random.Random(seed)
    fs = agentfs.init(tmp_path / "ctx", admin=ADMIN)
    ours, reference = AgentFSStore(fs, "/memory/lg"), InMemoryStore()
    for _ in range(40):
        namespace, key = rng.choice(NAMESPACES), rng.choice(KEYS)
        value = None if rng.random() < 0.25 else _value(rng)
        for store in (ours, reference):
            if value is None:
                store.delete(namespace, key)
            else:
                store.put(namespace, key, value)
    for namespace in NAMESPACES:
        for key in KEYS:
            mine, theirs = ours.get(namespace, key), reference.get(namespace, key)
            assert (mine is None) == (theirs is None)
            if mine is not None:
                assert (mine.namespace, mine.key, mine.value) == (theirs.namespace, theirs.key, theirs.value)
    filters = [None, {"kind": "fact"}, {"n": {"$gte": 3}}, {"nested": {"level": 1}}, {"n": {"$ne": 0}, "kind": "pref"}]
    for prefix in [("users",), ("users", "ana"), ("teams",), ()]:
        for where in filters:
            assert _comparable(ours.search(prefix, filter=where, limit=100)) == _comparable(
                reference.search(prefix, filter=where, limit=100)), (prefix, where)
    # InMemoryStore keeps a namespace once it was touched, even when emptied; a store of files (like
    # LangGraph's Postgres store) lists namespaces that hold items. Compare with a reference holding
    # only the live items.
    live = InMemoryStore()
    for item in reference.search((), limit=1000):
        live.put(item.namespace, item.key, item.value)
    for kwargs in [{}, {"prefix": ("users",)}, {"suffix": ("work",)}, {"max_depth": 1}, {"prefix": ("users", "*")}]:
        assert ours.list_namespaces(**kwargs) == live.list_namespaces(**kwargs), kwargs


def test_ranking_with_an_index_config_matches_the_reference(tmp_path: Path) -> None:
    embed = DeterministicFakeEmbedding(size=16)
    fs = agentfs.init(tmp_path / "ctx", admin=ADMIN)
    ours = AgentFSStore(fs, "/memory", index={"embed": embed, "dims": 16, "fields": ["text"]})
    reference = InMemoryStore(index={"embed": embed, "dims": 16, "fields": ["text"]})
    texts = ["oat-milk flat white", "night train", "green tea", "standup at 9", "espresso"]
    for number, text in enumerate(texts):
        for store in (ours, reference):
            store.put(("users", "ana"), f"k{number}", {"text": text})
            store.put(("users", "ana"), "skip", {"text": "not indexed"}, index=False)
    for query in ["tea", "train", "coffee"]:
        mine = ours.search(("users",), query=query, limit=10)
        theirs = reference.search(("users",), query=query, limit=10)
        assert [i.key for i in mine] == [i.key for i in theirs]
        assert mine[-1].key == "skip" and mine[-1].score is None and theirs[-1].score is None  # not indexed
        assert [i.score for i in mine[:-1]] == pytest.approx([i.score for i in theirs[:-1]], abs=1e-5)
    assert ours.search(("users",), query="tea", limit=2, offset=1)[0].key == \
        reference.search(("users",), query="tea", limit=2, offset=1)[0].key


def test_items_are_json_files_with_history_and_rules(seeded: ContextFS) -> None:
    # The admin makes the folder: parents a writer creates implicitly become the writer's own.
    seeded.mkdir("/memory/users/ana")
    seeded.grant("agent:assistant", "read,list,write,delete", "/memory/users/ana")
    store = AgentFSStore(seeded.as_principal("agent:assistant"))
    store.put(("users", "ana"), "coffee", {"drink": "flat white"})
    store.put(("users", "ana"), "coffee", {"drink": "oat-milk flat white"})
    assert seeded.read_text("/memory/users/ana/coffee.json") == '{\n  "drink": "oat-milk flat white"\n}\n'
    info = seeded.stat("/memory/users/ana/coffee.json")
    assert (info.version, info.author) == (2, "agent:assistant")
    item = store.get(("users", "ana"), "coffee")
    assert item.created_at < item.updated_at
    with pytest.raises(PermissionDeniedError):
        store.put(("users", "bob"), "coffee", {"drink": "tea"})
    store.delete(("users", "ana"), "coffee")
    assert store.get(("users", "ana"), "coffee") is None
    assert [v.op for v in seeded.log("/memory/users/ana/coffee.json")][-1] == "delete"


def test_query_search_goes_through_the_index_as_the_principal(seeded: ContextFS) -> None:
    admin_store = AgentFSStore(seeded, "/knowledge/lg")
    admin_store.put(("users", "ana"), "coffee", {"fact": "drinks oat-milk flat whites"})
    admin_store.put(("private", "ana"), "salary", {"fact": "flat salary"})
    seeded.write("/knowledge/lg/users/notes.md", "flat whites, as a note")  # a file, not an item
    seeded.grant(AGENT, "read,list", "/knowledge/lg/users")
    agent_store = AgentFSStore(seeded.as_principal(AGENT), "/knowledge/lg")
    hits = agent_store.search((), query="flat", limit=10)
    assert [(h.namespace, h.key) for h in hits] == [(("users", "ana"), "coffee")]
    assert hits[0].score is not None
    assert agent_store.list_namespaces() == [("users", "ana")]


def test_broken_items_are_skipped_by_search_and_reported_by_get(seeded: ContextFS) -> None:
    store = AgentFSStore(seeded)
    store.put(("users", "ana"), "ok", {"v": 1})
    seeded.write("/memory/users/ana/broken.json", "{not json")
    assert [i.key for i in store.search(("users",))] == ["ok"]
    with pytest.raises(ValidationError, match="not a JSON item"):
        store.get(("users", "ana"), "broken")
    with pytest.raises(ValidationError, match="must be a dict"):
        store.put(("users", "ana"), "list", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(InvalidNamespaceError):
        store.put(("users", "a.b"), "k", {"v": 1})


def test_newest_first_and_pagination(seeded: ContextFS) -> None:
    store = AgentFSStore(seeded, "/scratchpad/lg")
    for number in range(5):
        store.put(("log",), f"k{number}", {"n": number})
    assert [i.key for i in store.search(("log",), limit=2)] == ["k4", "k3"]
    assert [i.key for i in store.search(("log",), limit=2, offset=2)] == ["k2", "k1"]
    assert [i.key for i in store.search(("log",), filter={"n": {"$lt": 2}})] == ["k1", "k0"]


async def test_async_api(seeded: ContextFS) -> None:
    store = AgentFSStore(seeded)
    await store.aput(("users", "ana"), "coffee", {"drink": "flat white"})
    assert (await store.aget(("users", "ana"), "coffee")).value == {"drink": "flat white"}
    assert [i.key for i in await store.asearch(("users",))] == ["coffee"]
    assert await store.alist_namespaces() == [("users", "ana")]
    await store.adelete(("users", "ana"), "coffee")
    assert await store.aget(("users", "ana"), "coffee") is None


def test_index_choice_is_kept_only_while_it_applies(seeded: ContextFS) -> None:
    store = AgentFSStore(seeded, index={"embed": DeterministicFakeEmbedding(size=8), "dims": 8})
    store.put(("users", "ana"), "k", {"text": "a"})
    assert seeded.stat("/memory/users/ana/k.json").meta == {}
    store.put(("users", "ana"), "k", {"text": "b"}, index=False)
    assert seeded.stat("/memory/users/ana/k.json").meta == {"langgraph_index": False}
    assert store.search(("users",), query="b")[0].score is None
    store.put(("users", "ana"), "k", {"text": "c"})
    assert seeded.stat("/memory/users/ana/k.json").meta == {}
    assert store.search(("users",), query="c")[0].score is not None


def test_a_graphs_tools_remember_through_the_injected_store(seeded: ContextFS) -> None:
    """LangGraph hands the compiled graph's store to tools (InjectedStore): memories become files."""

    @tool
    def save_memory(fact: str, store: Annotated[BaseStore, InjectedStore()]) -> str:
        """Remember a fact about the user."""
        store.put(("users", "ana"), "latest", {"fact": fact})
        return "saved"

    @tool
    def recall(store: Annotated[BaseStore, InjectedStore()]) -> str:
        """What is remembered about the user."""
        return "; ".join(item.value["fact"] for item in store.search(("users", "ana")))

    def scripted_model(state: MessagesState) -> dict:  # stands in for a tool-calling chat model
        name, args = ("save_memory", {"fact": "drinks oat-milk flat whites"}) if len(state["messages"]) == 1 \
            else ("recall", {})
        return {"messages": [AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{name}"}])]}

    seeded.mkdir("/memory/users/ana")
    seeded.grant("agent:assistant", "read,list,write", "/memory/users/ana")
    store = AgentFSStore(seeded.as_principal("agent:assistant"))
    builder = StateGraph(MessagesState)
    builder.add_node("model", scripted_model)
    builder.add_node("tools", ToolNode([save_memory, recall]))
    builder.add_edge(START, "model")
    builder.add_edge("model", "tools")
    graph = builder.compile(store=store)

    graph.invoke({"messages": [HumanMessage("I drink oat-milk flat whites.")]})
    assert seeded.stat("/memory/users/ana/latest.json").author == "agent:assistant"
    result = graph.invoke({"messages": [HumanMessage("hi"), AIMessage("hello"), HumanMessage("what do I drink?")]})
    assert result["messages"][-1].content == "drinks oat-milk flat whites"
