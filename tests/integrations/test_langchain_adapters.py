"""What the standard suites do not check: files, versions, access rules and exact round trips."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding

from agentfs.errors import PermissionDeniedError, ValidationError
from agentfs.fs import ContextFS
from agentfs.integrations.langchain import (
    AgentFSByteStore,
    AgentFSRetriever,
    AgentFSVectorStore,
    agentfs_tools,
)
from tests.integrations.data import AGENT

# --- byte store -----------------------------------------------------------------------------------


def test_byte_store_keys_are_files_with_history(seeded: ContextFS) -> None:
    store = AgentFSByteStore(seeded, "/knowledge/kv")
    keys = ["plain", "a/b", "50%", ".", "..", ".agentfs", "e\u0301", "tab\there"]
    store.mset([(key, key.encode()) for key in keys])
    assert store.mget(keys) == [key.encode() for key in keys]
    assert sorted(store.yield_keys()) == sorted(keys)
    assert seeded.read("/knowledge/kv/plain") == b"plain"
    assert seeded.exists("/knowledge/kv/a%2Fb")

    store.mset([("plain", b"second")])
    store.mdelete(["plain"])
    assert store.mget(["plain"]) == [None]
    assert [v.op for v in seeded.log("/knowledge/kv/plain")] == ["create", "write", "delete"]
    seeded.restore("/knowledge/kv/plain", 2)
    assert store.mget(["plain"]) == [b"second"]


def test_byte_store_denial_raises_instead_of_reading_as_missing(seeded: ContextFS) -> None:
    AgentFSByteStore(seeded, "/knowledge/secret").mset([("k", b"v")])
    agent_view = AgentFSByteStore(seeded.as_principal(AGENT), "/knowledge/secret")
    with pytest.raises(PermissionDeniedError):
        agent_view.mget(["k"])
    with pytest.raises(PermissionDeniedError):
        agent_view.mset([("k", b"overwrite")])
    assert seeded.read("/knowledge/secret/k") == b"v"


def test_byte_store_batch_is_one_commit(seeded: ContextFS) -> None:
    seeded.deny(AGENT, "write", "/scratchpad/helper/kv/b")
    store = AgentFSByteStore(seeded.as_principal(AGENT), "/scratchpad/helper/kv")
    with pytest.raises(PermissionDeniedError):
        store.mset([("a", b"1"), ("b", b"2")])
    assert list(store.yield_keys()) == []  # "a" did not land alone
    store.mset([("a", b"1")])
    assert list(store.yield_keys()) == ["a"]


# --- vector store ---------------------------------------------------------------------------------


def _vectors(fs: ContextFS, folder: str = "/knowledge/docs") -> AgentFSVectorStore:
    return AgentFSVectorStore(fs, folder, embedding=DeterministicFakeEmbedding(size=32))


EXACT_CASES = [
    ("plain", {}),
    ("---\nlooks like front matter\n---\nbody", {}),
    ("  leading and trailing  \n\n", {"n": 1, "f": 1.5, "none": None, "flag": False}),
    ("dates stay text", {"date": "2024-01-01", "yes": "yes", "null": "null", "num": "007"}),
    ("nested", {"a": {"b": [1, "two", {"c": None}]}, "empty": [], "unicode": "é\u2028ß\x85"}),
    ("", {"only": "metadata"}),
]


@pytest.mark.parametrize(("text", "metadata"), EXACT_CASES)
def test_documents_come_back_exactly(seeded: ContextFS, text: str, metadata: dict) -> None:
    store = _vectors(seeded)
    [doc_id] = store.add_documents([Document(text, metadata=metadata)])
    [back] = store.get_by_ids([doc_id])
    assert back == Document(text, metadata=metadata, id=doc_id)
    assert seeded.stat(f"/knowledge/docs/{doc_id}.md").meta == metadata


def test_documents_are_markdown_files_with_front_matter(seeded: ContextFS) -> None:
    store = _vectors(seeded)
    store.add_documents([Document("Ana drinks oat-milk flat whites.", metadata={"tags": ["prefs"]}, id="coffee")])
    assert seeded.read_text("/knowledge/docs/coffee.md") == "---\ntags:\n- prefs\n---\nAna drinks oat-milk flat whites."
    store.add_documents([Document("Ana drinks tea now.", metadata={}, id="coffee")])
    assert [v.version for v in seeded.log("/knowledge/docs/coffee.md")] == [1, 2]
    assert store.get_by_ids(["coffee"]) == [Document("Ana drinks tea now.", metadata={}, id="coffee")]


def test_bad_metadata_is_refused_and_nothing_written(seeded: ContextFS) -> None:
    store = _vectors(seeded)
    with pytest.raises(ValidationError, match="importance"):
        store.add_documents([Document("a", id="ok"), Document("b", metadata={"importance": 7}, id="bad")])
    with pytest.raises(ValidationError, match="plain JSON"):
        store.add_documents([Document("c", metadata={"when": object()}, id="odd")])
    assert store.get_by_ids(["ok", "bad", "odd"]) == []


def test_repeated_id_in_one_batch_keeps_the_last(seeded: ContextFS) -> None:
    store = _vectors(seeded)
    store.add_texts(["first", "second"], ids=["same", "same"])
    assert store.get_by_ids(["same"]) == [Document("second", id="same")]


def test_files_written_outside_the_adapter_are_found(seeded: ContextFS) -> None:
    store = _vectors(seeded)
    store.add_texts(["foo"], ids=["foo"])
    seeded.write("/knowledge/docs/bar.md", "bar")  # e.g. a person with `agentfs write`
    assert store.similarity_search("bar", k=1) == [Document("bar", id="bar")]
    seeded.write("/knowledge/docs/foo.md", "bar")  # a new version must be re-embedded, not served stale
    scores = dict((d.id, s) for d, s in store.similarity_search_with_score("bar", k=2))
    assert scores["foo"] == pytest.approx(scores["bar"])


def test_vector_search_only_ranks_what_the_principal_may_read(seeded: ContextFS) -> None:
    _vectors(seeded, "/knowledge").add_texts(["public"], ids=["public"])
    _vectors(seeded, "/knowledge").add_texts(["hidden"], ids=["hidden"])
    seeded.grant(AGENT, "read,list", "/knowledge/public.md")
    agent_store = _vectors(seeded.as_principal(AGENT), "/knowledge")
    assert [d.id for d in agent_store.similarity_search("hidden", k=5)] == ["public"]


def test_index_backed_store_searches_the_folder_as_the_principal(seeded: ContextFS) -> None:
    writer = AgentFSVectorStore(seeded, "/memory/semantic")
    writer.add_texts(["Ana likes espresso."], metadatas=[{"source": "chat"}], ids=["espresso"])
    reader = AgentFSVectorStore(seeded.as_principal(AGENT), "/memory/semantic", search_mode="lexical")
    found = reader.similarity_search("espresso", k=3)
    assert found == [Document("Ana likes espresso.", metadata={"source": "chat"}, id="espresso")]
    # Hits outside the folder (the episodic memory mentions coffee too) are not this store's documents.
    assert {d.id for d in reader.similarity_search("coffee", k=5)} == {"coffee", "coffee-shop"}


# --- retriever ------------------------------------------------------------------------------------


def test_retriever_documents_carry_path_version_and_front_matter(seeded: ContextFS) -> None:
    seeded.write("/memory/semantic/coffee.md", "---\ntags: [prefs, coffee]\n---\nAna drinks oat-milk flat whites.\n")
    retriever = AgentFSRetriever(fs=seeded.as_principal(AGENT), k=10, mode="lexical")
    documents = {d.metadata["path"]: d for d in retriever.invoke("coffee")}
    assert "/knowledge/secret/salary.md" not in documents  # never returned: no read grant
    coffee = documents["/memory/semantic/coffee.md"]
    assert coffee.page_content == "Ana drinks oat-milk flat whites.\n"  # front matter moved to metadata
    assert coffee.metadata["version"] == 2 and coffee.metadata["tags"] == ["prefs", "coffee"]
    assert coffee.id == "/memory/semantic/coffee.md"
    assert isinstance(coffee.metadata["score"], float)
    assert len(retriever.invoke("coffee", k=1)) == 1
    assert AgentFSRetriever(fs=seeded.as_principal(AGENT), path="/memory/episodic").invoke("coffee")[0].metadata[
        "path"] == "/memory/episodic/2024-05-02.md"


# --- tools ----------------------------------------------------------------------------------------


def _tools(fs: ContextFS) -> dict:
    return {tool.name: tool for tool in agentfs_tools(fs.as_principal(AGENT))}


def test_tools_act_as_the_principal(seeded: ContextFS) -> None:
    tools = _tools(seeded)
    listing = tools["agentfs_ls"].invoke({"path": "/", "recursive": True})
    assert "/memory/semantic/coffee.md" in listing and "salary" not in listing
    assert tools["agentfs_read"].invoke({"path": "/memory/semantic/trains.md"}) == "Ana commutes by train on Tuesdays.\n"
    refused = tools["agentfs_read"].invoke({"path": "/knowledge/secret/salary.md"})
    assert refused.startswith("agentfs: ") and "may not read /knowledge/secret/salary.md" in refused
    wrote = tools["agentfs_write"].invoke({"path": "/scratchpad/helper/a.md", "content": "x\n", "metadata": {"tags": ["t"]}})
    assert wrote.startswith("wrote /scratchpad/helper/a.md: version 1")
    assert seeded.stat("/scratchpad/helper/a.md").author == AGENT
    stale = tools["agentfs_write"].invoke({"path": "/scratchpad/helper/a.md", "content": "y\n", "if_version": 0})
    assert "version 1, not 0" in stale
    assert seeded.read_text("/scratchpad/helper/a.md") == "---\ntags:\n- t\n---\nx\n"
    assert "salary" not in tools["agentfs_search"].invoke({"query": "coffee", "k": 10})


def test_grep_sees_only_readable_text(seeded: ContextFS) -> None:
    tools = _tools(seeded)
    out = tools["agentfs_grep"].invoke({"pattern": "COFFEE|money", "ignore_case": True})
    lines = out.splitlines()
    assert "/memory/episodic/2024-05-02.md:1:Ana spilled coffee on the train and laughed." in lines
    assert not any("salary" in line for line in lines)
    assert "not a valid regular expression" in tools["agentfs_grep"].invoke({"pattern": "("})
    limited = tools["agentfs_grep"].invoke({"pattern": "Ana", "max_matches": 2})
    assert len(limited.splitlines()) == 3 and limited.endswith("narrow the path or the pattern)")


# --- context runnable -----------------------------------------------------------------------------


def test_context_runnable_feeds_a_model_what_the_principal_may_read(seeded: ContextFS) -> None:
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_core.runnables import RunnableLambda

    from agentfs.integrations.langchain import AgentFSContextRunnable

    seen: list = []
    model = RunnableLambda(lambda messages: seen.append(messages) or "answer")  # stands in for a chat model
    chain = AgentFSContextRunnable(fs=seeded.as_principal(AGENT), budget=600) | model
    assert chain.invoke("What coffee does Ana drink, and what is her salary?") == "answer"
    [messages] = seen
    assert [type(m) for m in messages] == [SystemMessage, HumanMessage]
    text = "".join(str(m.content) for m in messages)
    assert "oat-milk flat whites" in text and "confidential" not in text
    assert text.rstrip().endswith("What coffee does Ana drink, and what is her salary?")

    built = AgentFSContextRunnable(fs=seeded.as_principal(AGENT), output="context").invoke(
        {"task": "coffee", "budget": 300})
    assert built.manifest.principal == AGENT and built.manifest.tokens <= 300
    assert seeded.exists(f"/context/{built.id}/manifest.json")  # every build is recorded
    as_json = AgentFSContextRunnable(fs=seeded.as_principal(AGENT), output="json", budget=300).invoke("coffee")
    assert as_json["items"] and all(item["path"].startswith("/memory/") for item in as_json["items"])
    assert as_json["tokens"] <= as_json["budget"] == 300
    assert AgentFSContextRunnable(fs=seeded, output="text", budget=300).invoke("coffee").endswith("coffee\n")
    with pytest.raises(ValidationError, match="unknown context options"):
        AgentFSContextRunnable(fs=seeded).invoke({"task": "coffee", "bugdet": 10})
    with pytest.raises(ValidationError, match="the input is the task"):
        AgentFSContextRunnable(fs=seeded).invoke(42)


def test_max_marginal_relevance_prefers_variety(seeded: ContextFS) -> None:
    from agentfs.index.embeddings import HashEmbeddings

    store = AgentFSVectorStore(seeded, "/knowledge/mmr", embedding=HashEmbeddings())
    store.add_texts(["coffee beans", "coffee beans roasted", "coffee shop by the station"], ids=["a", "b", "c"])
    plain = [d.id for d in store.similarity_search("coffee beans", k=2)]
    varied = [d.id for d in store.max_marginal_relevance_search("coffee beans", k=2, fetch_k=3, lambda_mult=0.3)]
    assert plain == ["a", "b"]
    assert varied[0] == "a" and varied[1] == "c"
