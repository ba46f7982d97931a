"""LangChain's own conformance suites (langchain-tests) against the agentfs adapters.

Every standard test runs; none is skipped. Each fixture makes a fresh store, so "empty" means
empty, and the adapters act as an agent the admin granted the folder to, so the ACL path is the
one exercised (not the administrator's shortcut).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from langchain_core.tools import BaseTool
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import (
    BaseStoreAsyncTests,
    BaseStoreSyncTests,
    RetrieversIntegrationTests,
    ToolsIntegrationTests,
    VectorStoreIntegrationTests,
)
from langchain_tests.unit_tests import ToolsUnitTests

import agentfs
from agentfs.fs import ContextFS
from agentfs.integrations.langchain import (
    AgentFSByteStore,
    AgentFSGrepTool,
    AgentFSListTool,
    AgentFSReadTool,
    AgentFSRetriever,
    AgentFSSearchTool,
    AgentFSVectorStore,
    AgentFSWriteTool,
)
from tests.helpers import ADMIN, as_agent
from tests.integrations.data import AGENT, seed


def _agent_store(root: Path, folder: str) -> ContextFS:
    fs = agentfs.init(root, admin=ADMIN)
    return as_agent(fs, "agent:lc", "read,list,write,delete", folder)


class TestByteStoreSync(BaseStoreSyncTests[bytes]):
    @pytest.fixture
    def kv_store(self, tmp_path: Path) -> Iterator[AgentFSByteStore]:
        fs = _agent_store(tmp_path / "ctx", "/knowledge/kv")
        yield AgentFSByteStore(fs, "/knowledge/kv")
        fs.close()

    @pytest.fixture
    def three_values(self) -> tuple[bytes, bytes, bytes]:
        return b"foo", b"\x00binary\xff", b"buzz"


class TestByteStoreAsync(BaseStoreAsyncTests[bytes]):
    @pytest.fixture
    async def kv_store(self, tmp_path: Path) -> AsyncIterator[AgentFSByteStore]:
        fs = _agent_store(tmp_path / "ctx", "/knowledge/kv")
        yield AgentFSByteStore(fs, "/knowledge/kv")
        fs.close()

    @pytest.fixture
    def three_values(self) -> tuple[bytes, bytes, bytes]:
        return b"foo", b"bar", b"\x00binary\xff"


class TestVectorStore(VectorStoreIntegrationTests):
    """With the embeddings the suite passes in: ranked exactly by that model."""

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[VectorStore]:
        fs = _agent_store(tmp_path / "ctx", "/knowledge/docs")
        yield AgentFSVectorStore(fs, "/knowledge/docs", embedding=self.get_embeddings())
        fs.close()


class TestVectorStoreOverTheIndex(VectorStoreIntegrationTests):
    """``embedding=None``: ranked by the store's own semantic index (hybrid search), same contract."""

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[VectorStore]:
        fs = _agent_store(tmp_path / "ctx", "/knowledge/docs")
        yield AgentFSVectorStore(fs, "/knowledge/docs")
        fs.close()


# --- retriever and tools: a class-scoped store seeded with MEMORIES, used as agent:helper ----------


@pytest.fixture(scope="class")
def helper_fs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContextFS]:
    fs = agentfs.init(tmp_path_factory.mktemp("lc") / "ctx", admin=ADMIN)
    seed(fs)
    yield fs.as_principal(AGENT)
    fs.close()


class _WithStore:
    """Standard suites read their parameters from properties; a class fixture provides the store."""

    fs: ContextFS

    @pytest.fixture(autouse=True, scope="class")
    def _bind_store(self, request: pytest.FixtureRequest, helper_fs: ContextFS) -> None:
        request.cls.fs = helper_fs


class TestRetriever(_WithStore, RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[AgentFSRetriever]:
        return AgentFSRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"fs": self.fs, "path": "/memory"}

    @property
    def retriever_query_example(self) -> str:
        return "coffee"


_TOOL_EXAMPLES: dict[type[BaseTool], dict] = {
    AgentFSListTool: {"path": "/memory", "recursive": True},
    AgentFSReadTool: {"path": "/memory/semantic/coffee.md"},
    AgentFSSearchTool: {"query": "coffee", "k": 2},
    AgentFSGrepTool: {"pattern": "coffee", "path": "/memory", "ignore_case": True},
    AgentFSWriteTool: {"path": "/scratchpad/helper/tea.md", "content": "Ana dislikes tea.\n"},
}


def _tool_suite(tool_class: type[BaseTool]) -> tuple[type, type]:
    """A ToolsUnitTests and a ToolsIntegrationTests subclass for one tool class."""

    class Params:
        @property
        def tool_constructor(self) -> type[BaseTool]:
            return tool_class

        @property
        def tool_constructor_params(self) -> dict:
            return {"fs": self.fs}

        @property
        def tool_invoke_params_example(self) -> dict:
            return _TOOL_EXAMPLES[tool_class]

    unit = type(f"Test{tool_class.__name__}Unit", (Params, _WithStore, ToolsUnitTests), {})
    integration = type(f"Test{tool_class.__name__}Integration", (Params, _WithStore, ToolsIntegrationTests), {})
    return unit, integration


for _cls in _TOOL_EXAMPLES:
    for _suite in _tool_suite(_cls):
        globals()[_suite.__name__] = _suite
