"""A LangGraph agent whose long-term memory is an agentfs store (runs offline).

The graph remembers what a user tells it about themselves in one conversation (thread) and uses it
in another: the memories live in ``AgentFSStore``, so each one is a JSON file under
``/memory/users/<user>/``, versioned, audited and readable by a person with ``agentfs cat``. The
graph acts as ``agent:assistant``, which may only touch ``/memory/users``.

The "model" is a few lines of scripted logic (the one fake here); swap in any LangChain chat model.

    python examples/langgraph_memory.py [STORE_DIR]
"""

from __future__ import annotations

import re
import sys
import tempfile
import uuid
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.store.base import BaseStore

import agentfs
from agentfs.integrations.langgraph import AgentFSStore

FACT = re.compile(r"\b(?:I like|I love|I drink|I am|I'm|my name is)\s+(?P<fact>[^.!?]+)", re.IGNORECASE)


def remember(state: MessagesState, config: RunnableConfig, *, store: BaseStore) -> dict:
    """Write each fact the user states about themselves as one memory item."""
    user = config["configurable"]["user_id"]
    text = str(state["messages"][-1].content)
    for match in FACT.finditer(text):
        store.put(("users", user), uuid.uuid4().hex[:8], {"fact": match.group(0).strip(), "source": "chat"})
    return {}


def respond(state: MessagesState, config: RunnableConfig, *, store: BaseStore) -> dict:
    """Answer from what the store remembers about this user (a scripted stand-in for a model)."""
    user = config["configurable"]["user_id"]
    question = str(state["messages"][-1].content)
    memories = store.search(("users", user), query=question, limit=1)
    if FACT.search(question):
        reply = "Noted, I will remember that."
    elif memories:
        reply = "From what you told me: " + "; ".join(item.value["fact"] for item in memories) + "."
    else:
        reply = "I don't know that yet."
    return {"messages": [AIMessage(reply)]}


def build_graph(store: BaseStore):  # type: ignore[no-untyped-def]
    builder = StateGraph(MessagesState)
    builder.add_node("remember", remember)
    builder.add_node("respond", respond)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", "respond")
    return builder.compile(checkpointer=InMemorySaver(), store=store)


def main(root: Path) -> None:
    admin = agentfs.init(root)
    admin.grant("agent:assistant", "read,list,write,delete", "/memory/users")
    assistant = admin.as_principal("agent:assistant")
    graph = build_graph(AgentFSStore(assistant, "/memory"))

    def chat(thread: str, text: str) -> str:
        config = {"configurable": {"thread_id": thread, "user_id": "ana"}}
        result = graph.invoke({"messages": [HumanMessage(text)]}, config)
        return str(result["messages"][-1].content)

    print("thread 1:", chat("t1", "Hi! I drink oat-milk flat whites. I love night trains."))
    answer = chat("t2", "What coffee do I drink?")
    print("thread 2:", answer)
    assert "oat-milk flat whites" in answer, answer  # a new thread, recalled from the store

    # The memories are files: a person can list, read and audit them.
    files = admin.ls("/memory/users/ana")
    for info in files:
        print(info.path, "by", info.author, "->", admin.read_text(info.path).replace("\n", " "))
    assert len(files) == 2 and {info.author for info in files} == {"agent:assistant"}
    # The assistant's grant stops at /memory/users.
    try:
        assistant.read("/human/notes")
        raise AssertionError("the assistant read outside its grant")
    except agentfs.PermissionDeniedError as error:
        print("refused:", error.message)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "ctx")
