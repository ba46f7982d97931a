"""LangChain adapters over an agentfs store.

- :class:`AgentFSByteStore`: ``BaseStore[str, bytes]``, one file per key in a folder.
- :class:`AgentFSVectorStore`: ``VectorStore``, one Markdown file per document.
- :class:`AgentFSRetriever`: ``BaseRetriever`` over the store's search, documents carry path and version.
- :func:`agentfs_tools` / :class:`AgentFSToolkit`: ls, read, write, search and grep as ``BaseTool`` s.
- :class:`AgentFSContextRunnable`: a ``Runnable`` that builds the context for a task.

Every adapter acts as the principal of the ``ContextFS`` handle it is given.
"""

try:
    import langchain_core  # noqa: F401  (checked first, so a missing extra is named below)
except ImportError as _exc:
    from agentfs.integrations._requires import missing

    raise missing(_exc, "langchain", what="agentfs.integrations.langchain") from _exc

from agentfs.integrations.langchain.context import AgentFSContextRunnable
from agentfs.integrations.langchain.retriever import AgentFSRetriever
from agentfs.integrations.langchain.store import AgentFSByteStore
from agentfs.integrations.langchain.tools import (
    AgentFSGrepTool,
    AgentFSListTool,
    AgentFSReadTool,
    AgentFSSearchTool,
    AgentFSToolkit,
    AgentFSWriteTool,
    agentfs_tools,
)
from agentfs.integrations.langchain.vectorstore import AgentFSVectorStore

__all__ = [
    "AgentFSByteStore",
    "AgentFSContextRunnable",
    "AgentFSGrepTool",
    "AgentFSListTool",
    "AgentFSReadTool",
    "AgentFSRetriever",
    "AgentFSSearchTool",
    "AgentFSToolkit",
    "AgentFSVectorStore",
    "AgentFSWriteTool",
    "agentfs_tools",
]
