"""Front-ends for the agent ecosystem: LangChain, LangGraph and the Model Context Protocol.

Each adapter is a thin layer over :class:`agentfs.ContextFS`: it acts as one principal, so the
store's access rules, versions and audit apply to everything an adapter does.

- :mod:`agentfs.integrations.langchain`: a key-value ``BaseStore``, a ``VectorStore``, a
  retriever, file tools and a context ``Runnable``.
- :mod:`agentfs.integrations.langgraph`: a LangGraph ``BaseStore`` (long-term memory).
- :mod:`agentfs.integrations.mcp_server`: an MCP server (``agentfs mcp``).

The submodules import their libraries on import; this package imports nothing heavy.
"""
