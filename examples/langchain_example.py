"""LangChain over an agentfs store, offline: a vector store, a retriever chain and the file tools.

An agent (``agent:helper``) may read ``/memory`` and write its scratchpad, nothing else. The same
rules hold whichever LangChain piece it uses. The chat model is scripted (the one fake here);
swap in any LangChain chat model.

    python examples/langchain_example.py [STORE_DIR]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

import agentfs
from agentfs.index.embeddings import MiniLMEmbeddings
from agentfs.integrations.langchain import AgentFSRetriever, AgentFSVectorStore, agentfs_tools


def main(root: Path) -> None:
    admin = agentfs.init(root)
    admin.write_many([
        ("/memory/semantic/coffee.md", "---\ntags: [prefs]\n---\nAna drinks oat-milk flat whites.\n"),
        ("/memory/semantic/trains.md", "Ana commutes by train on Tuesdays.\n"),
        ("/memory/episodic/2024-05-02.md", "Ana spilled her coffee on the train and laughed.\n"),
        ("/knowledge/hr/salary.md", "Ana's salary is confidential.\n"),
    ])
    admin.grant("agent:helper", "read,list", "/memory")
    admin.grant("agent:helper", "read,list,write,delete", "/scratchpad/helper")
    helper = admin.as_principal("agent:helper")

    # 1. A vector store: documents are Markdown files (metadata in the front matter).
    notes = AgentFSVectorStore(helper, "/scratchpad/helper/notes", embedding=MiniLMEmbeddings())
    notes.add_documents([
        Document("Book the 7:40 train for Tuesday.", metadata={"priority": 1}, id="train"),
        Document("Buy oat milk.", metadata={"priority": 2}, id="milk"),
    ])
    found = notes.similarity_search("what should I get at the shop?", k=1)
    print("vector store:", found)
    assert found == [Document("Buy oat milk.", metadata={"priority": 2}, id="milk")]  # exactly as stored
    print("stored as:", [e.path for e in helper.ls("/scratchpad/helper/notes")])

    # 2. A retriever over the store's search, inside a chain. Hits carry path and version.
    retriever = AgentFSRetriever(fs=helper, k=2)
    prompt = ChatPromptTemplate.from_messages([
        ("system", "Answer from these notes:\n{context}"),
        ("human", "{question}"),
    ])
    model = FakeListChatModel(responses=["Ana takes an oat-milk flat white."])

    def cite(documents: list[Document]) -> str:
        return "\n".join(f"[{d.metadata['path']} v{d.metadata['version']}] {d.page_content.strip()}"
                         for d in documents)

    chain = {"context": retriever | cite, "question": RunnablePassthrough()} | prompt | model | StrOutputParser()
    context = cite(retriever.invoke("coffee"))
    print("context:", context)
    assert "[/memory/semantic/coffee.md v1]" in context and "salary" not in context
    print("answer:", chain.invoke("coffee"))

    # 3. The file tools, as a model would call them (errors come back as text it can act on).
    tools = {tool.name: tool for tool in agentfs_tools(helper)}
    print(tools["agentfs_grep"].invoke({"pattern": "train", "path": "/memory"}))
    print(tools["agentfs_write"].invoke({"path": "/scratchpad/helper/todo.md", "content": "ask about trains\n"}))
    assert admin.stat("/scratchpad/helper/todo.md").author == "agent:helper"
    refused = tools["agentfs_read"].invoke({"path": "/knowledge/hr/salary.md"})
    print(refused)
    assert refused.startswith("agentfs: agent:helper may not read")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "ctx")
