"""One access rule, every adapter: an agent sees nothing it was not granted, whichever door it uses.

The store holds a secret word in three kinds of places: a folder the agent has no rule for, a
folder inside its grant that a deny rule takes back whole, and a file inside its grant that it may
list but not read. Every read path of every adapter (LangChain byte store, vector store with its own
embeddings and over the index, retriever, the five tools, the context runnable; the LangGraph store
with and without an index configuration; the MCP server's tools and resources) is driven as the
agent, and nothing any of them returns may contain the word. The same calls must return what the
agent *was* granted, so a test that sees nothing at all cannot pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from mcp import Client
from mcp.shared.exceptions import MCPError

import agentfs
from agentfs.errors import NotFoundError, PermissionDeniedError
from agentfs.fs import ContextFS
from agentfs.integrations.langchain import (
    AgentFSByteStore,
    AgentFSContextRunnable,
    AgentFSRetriever,
    AgentFSVectorStore,
    agentfs_tools,
)
from agentfs.integrations.langgraph import AgentFSStore
from agentfs.integrations.mcp_server import AgentFSMCPServer
from tests.helpers import ADMIN

AGENT = "agent:curious"
SECRET = "zanzibar"
GRANTED = "flat whites"  # what the agent may read, so every door is shown to open
# A task asking for the secret without naming it (a context's task is stored in /context, where the
# agent may read it back, so a task holding the word would find itself).
HIDDEN = (f"/memory/private/{SECRET}.md", f"/knowledge/{SECRET}/salary.md", "/memory/semantic/listed-only.md")
TASK = f"Which code opens the safe? What does Ana drink, {GRANTED}?"


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContextFS]:
    fs = agentfs.init(tmp_path_factory.mktemp("acl") / "ctx", admin=ADMIN)
    fs.write_many([
        ("/memory/semantic/coffee.md", f"Ana drinks oat-milk {GRANTED}.\n"),
        ("/memory/semantic/listed-only.md", f"The {SECRET} code opens the safe.\n"),
        (f"/memory/private/{SECRET}.md", f"Ana's {SECRET} diary.\n"),
        (f"/knowledge/{SECRET}/salary.md", f"Ana's salary, {SECRET} money.\n"),
        ("/memory/kv/coffee", GRANTED.encode()),
        ("/memory/kv/listed-only", SECRET.encode()),
        ("/memory/docs/coffee.md", f"---\nsource: chat\n---\nAna drinks {GRANTED}.\n"),
        # Listing shows a file's front matter (user fields are metadata, like its size), so the
        # secret of a list-only file is in its body.
        ("/memory/docs/listed-only.md", f"---\nsource: vault\n---\nThe {SECRET} code.\n"),
        ("/memory/lg/users/ana/coffee.json", f'{{"fact": "drinks {GRANTED}"}}\n'),
        ("/memory/lg/users/ana/listed-only.json", f'{{"fact": "knows the {SECRET} code"}}\n'),
        (f"/memory/private/lg/{SECRET}/k.json", f'{{"fact": "{SECRET}"}}\n'),
    ])
    fs.grant(AGENT, "read,list", "/memory")
    fs.deny(AGENT, "read,list", "/memory/private")
    for path in ("/memory/semantic/listed-only.md", "/memory/kv/listed-only", "/memory/docs/listed-only.md",
                 "/memory/lg/users/ana/listed-only.json"):
        fs.deny(AGENT, "read", path)
    yield fs
    fs.close()


@pytest.fixture
def agent(admin: ContextFS) -> ContextFS:
    return admin.as_principal(AGENT)


def _attempt(call: Callable[[], Any]) -> Any:
    """The call's result; a refusal is the agent seeing nothing, which is fine here."""
    try:
        return call()
    except (PermissionDeniedError, NotFoundError) as exc:
        return f"refused: {exc.code}"


def _assert_private(results: list[Any]) -> None:
    text = repr(results)
    assert SECRET not in text, text
    assert GRANTED in text, f"the granted memory never showed either, so this checked nothing: {text}"


def test_byte_store(agent: ContextFS) -> None:
    store = AgentFSByteStore(agent, "/memory/kv")
    keys = list(store.yield_keys())
    assert "coffee" in keys and "listed-only" in keys  # listing is granted; reading is not
    results: list[Any] = [keys, store.mget(["coffee"])]
    results += [_attempt(lambda k=key: store.mget([k])) for key in keys]
    assert results[-1] == "refused: permission_denied"  # a denied read raises, never reads as missing
    results.append(_attempt(lambda: list(AgentFSByteStore(agent, "/memory/private").yield_keys())))
    results.append(_attempt(lambda: list(AgentFSByteStore(agent, f"/knowledge/{SECRET}").yield_keys())))
    _assert_private(results)


@pytest.mark.parametrize("embedding", [DeterministicFakeEmbedding(size=32), None], ids=["own-embeddings", "index"])
def test_vector_store(agent: ContextFS, embedding: Any) -> None:
    results: list[Any] = []
    for folder in ("/memory/docs", "/memory", "/memory/private", f"/knowledge/{SECRET}"):
        store = AgentFSVectorStore(agent, folder, embedding=embedding, search_mode="lexical")
        for query in (SECRET, GRANTED, "code"):
            results.append(_attempt(lambda s=store, q=query: s.similarity_search_with_score(q, k=10)))
        results.append(_attempt(lambda s=store: s.get_by_ids(["coffee"])))
    store = AgentFSVectorStore(agent, "/memory/docs", embedding=embedding)
    assert _attempt(lambda: store.get_by_ids(["listed-only"])) == "refused: permission_denied"
    if embedding is not None:
        results.append(store.max_marginal_relevance_search(SECRET, k=5, fetch_k=10))
    _assert_private(results)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_retriever(agent: ContextFS, mode: str) -> None:
    results = [AgentFSRetriever(fs=agent, k=20, mode=mode, path=path).invoke(query)
               for path in (None, "/memory", "/knowledge") for query in (SECRET, GRANTED, "Ana")]
    _assert_private(results)


def test_tools(agent: ContextFS) -> None:
    tools = {tool.name: tool for tool in agentfs_tools(agent)}
    listing = tools["agentfs_ls"].invoke({"path": "/", "recursive": True})
    results: list[Any] = [listing]
    for line in listing.splitlines():
        path = line.split("  ")[0]
        if not path.endswith("/"):
            results.append(tools["agentfs_read"].invoke({"path": path}))
    for path in HIDDEN:  # asked for by name (so the reply may echo the name): refused
        assert tools["agentfs_read"].invoke({"path": path}).startswith(f"agentfs: {AGENT} may not read {path}:")
    results.append(tools["agentfs_search"].invoke({"query": SECRET, "k": 50}))
    results.append(tools["agentfs_search"].invoke({"query": GRANTED, "k": 50}))
    results.append(tools["agentfs_grep"].invoke({"pattern": f"{SECRET}|{GRANTED}", "path": "/"}))
    results.append(tools["agentfs_grep"].invoke({"pattern": ".", "path": "/memory/semantic/listed-only.md"}))
    _assert_private(results)


def test_context_runnable(agent: ContextFS) -> None:
    runnable = AgentFSContextRunnable(fs=agent, output="json", budget=2000)
    _assert_private([runnable.invoke(TASK)])


@pytest.mark.parametrize("index", [None, {"embed": DeterministicFakeEmbedding(size=16), "dims": 16, "fields": ["fact"]}],
                         ids=["store-index", "own-embeddings"])
def test_langgraph_store(agent: ContextFS, index: Any) -> None:
    results: list[Any] = []
    for root in ("/memory/lg", "/memory", "/memory/private", "/knowledge"):
        store = AgentFSStore(agent, root, index=index)
        results.append(_attempt(lambda s=store: s.list_namespaces()))
        for query in (None, SECRET, GRANTED):
            results.append(_attempt(lambda s=store, q=query: [(i.key, i.value) for i in s.search((), query=q, limit=50)]))
    store = AgentFSStore(agent, "/memory/lg", index=index)
    results.append(store.get(("users", "ana"), "coffee").value)
    assert _attempt(lambda: store.get(("users", "ana"), "listed-only")) == "refused: permission_denied"
    _assert_private(results)


async def test_mcp_server(agent: ContextFS) -> None:
    results: list[Any] = []
    async with Client(AgentFSMCPServer(agent)) as client:
        listing = await client.call_tool("list", {"path": "/", "recursive": True})
        results.append(listing.structured_content)
        for entry in listing.structured_content["entries"]:
            if entry["kind"] == "file":
                for tool in ("read", "stat"):
                    results.append((await client.call_tool(tool, {"path": entry["path"]})).content)
        for path in HIDDEN:  # asked for by name (so the reply may echo the name): refused
            refused = await client.call_tool("read", {"path": path})
            assert refused.is_error and "permission_denied" in refused.content[0].text
        for query in (SECRET, GRANTED):
            results.append((await client.call_tool("search", {"query": query, "k": 50})).content)
        results.append((await client.call_tool("grep", {"pattern": f"{SECRET}|{GRANTED}"})).content)
        built = await client.call_tool("build_context", {"task": TASK, "budget": 2000})
        assert not built.is_error, built.content
        results.append(built.structured_content)
        resources = (await client.list_resources()).resources
        results.append([str(r.uri) for r in resources])
        for resource in resources:
            try:
                results.append((await client.read_resource(str(resource.uri))).contents)
            except MCPError as exc:
                results.append(str(exc))
        for path in HIDDEN:
            with pytest.raises(MCPError, match="permission_denied"):
                await client.read_resource(f"agentfs://{path}")
    _assert_private(results)


def test_every_adapter_is_covered() -> None:
    """A new adapter module must join this file."""
    package = Path(agentfs.__file__).parent / "integrations"
    modules = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    modules |= {f"langchain.{p.stem}" for p in (package / "langchain").glob("*.py") if not p.stem.startswith("_")}
    assert modules == {"langgraph", "mcp_server", "langchain.store", "langchain.vectorstore", "langchain.retriever",
                       "langchain.tools", "langchain.context"}
