"""The history of a session: one immutable entry per turn, and provenance traced back to it."""

from __future__ import annotations

import pytest

from agentfs.errors import OperationNotPermittedError, ValidationError
from agentfs.fs import ContextFS
from agentfs.runtime.history import HistoryLog, Ref, check_session, read_entry, trace
from tests.helpers import as_agent


def test_entries_are_numbered_files_written_as_system(store: ContextFS) -> None:
    log = HistoryLog(store.as_principal("agent:x"), "s1")
    first = log.append("user", text="Hi, I'm Ana.", principal="user:ana")
    second = log.append("tool", tool="/tools/t/x", args={"a": 1}, ok=True, result=[1, 2])
    assert first == Ref("/history/s1/000001-user.md", 1) and second.path == "/history/s1/000002-tool.json"
    assert store.stat(first.path).author == "system"
    user = read_entry(store, first.path)
    assert (user["type"], user["principal"], user["text"], user["session"]) == ("user", "user:ana", "Hi, I'm Ana.", "s1")
    tool = read_entry(store, second.path)
    assert tool["principal"] == "agent:x" and tool["result"] == [1, 2]
    assert [e["type"] for e in HistoryLog(store, "s1").entries()] == ["user", "tool"]
    assert HistoryLog(store, "s1").entries(types=("tool",), last=1)[0]["path"] == second.path


def test_agents_cannot_rewrite_an_entry(store: ContextFS) -> None:
    ref = HistoryLog(store, "s1").append("user", text="original")
    agent = as_agent(store, "agent:x", "all", "/history")
    with pytest.raises(OperationNotPermittedError):
        agent.write(ref.path, "forged")
    with pytest.raises(OperationNotPermittedError):
        agent.rm(ref.path)
    assert read_entry(store, ref.path)["text"] == "original"


def test_provenance_traces_a_file_to_the_entry_it_came_from(store: ContextFS) -> None:
    ref = HistoryLog(store, "monday").append("user", text="I drink oat-milk flat whites.")
    store.write("/memory/profile/drink.md", "The user drinks oat-milk flat whites.\n", provenance=[ref.to_dict()])
    [source] = trace(store, "/memory/profile/drink.md")
    assert source["path"] == ref.path and source["version"] == 1
    assert source["entry"]["text"] == "I drink oat-milk flat whites."


@pytest.mark.parametrize("bad", ["../x", "a/b", "", " space", "x" * 200])
def test_session_names_are_one_safe_segment(bad: str) -> None:
    if bad == "":
        assert check_session(bad) == "default"
        return
    with pytest.raises(ValidationError, match="session"):
        check_session(bad)


def test_numbers_stay_in_order_when_another_process_writes_too(store: ContextFS, store_root) -> None:  # type: ignore[no-untyped-def]
    import agentfs

    mine = HistoryLog(store, "shared")
    assert mine.append("note", text="one").path == "/history/shared/000001-note.md"
    other = agentfs.open(store_root)  # another open store: its own cache of entry numbers
    try:
        for _ in range(3):
            HistoryLog(other, "shared").append("note", text="theirs")
    finally:
        other.close()
    # the number this store kept is taken: one failed attempt, then the folder is listed again
    assert mine.append("note", text="two").path == "/history/shared/000005-note.md"
    assert HistoryLog(store, "shared").append("tool", ok=True).path == "/history/shared/000006-tool.json"
    assert [e["text"] for e in HistoryLog(store, "shared").entries(types=("note",))] == \
        ["one", "theirs", "theirs", "theirs", "two"]
