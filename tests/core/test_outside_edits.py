"""Edits made to the plain tree behind agentfs' back: status finds them, sync commits them as
``external`` through the same validation as every other write, and refuses what a write would."""

from __future__ import annotations

import os
import shutil

from agentfs.fs import ContextFS
from agentfs.types import Change


def _changes(changes: list[Change]) -> dict[str, tuple[str, str | None]]:
    return {c.path: (c.change, c.problem) for c in changes}


def test_status_and_sync_of_added_modified_deleted(store: ContextFS) -> None:
    store.write("/knowledge/keep.txt", "v1\n")
    store.write("/knowledge/gone.txt", "bye\n")
    root = store.root
    (root / "knowledge/new.txt").write_text("from my editor\n")
    (root / "knowledge/dir/sub").mkdir(parents=True)
    (root / "knowledge/dir/sub/deep.md").write_text("---\ntags: [x]\n---\ndeep\n")
    (root / "knowledge/keep.txt").write_text("v2, edited outside\n")
    (root / "knowledge/gone.txt").unlink()
    assert _changes(store.status()) == {
        "/knowledge/new.txt": ("added", None),
        "/knowledge/dir": ("added", None),
        "/knowledge/dir/sub": ("added", None),
        "/knowledge/dir/sub/deep.md": ("added", None),
        "/knowledge/keep.txt": ("modified", None),
        "/knowledge/gone.txt": ("deleted", None),
    }
    results = store.sync()
    assert all(c.problem is None for c in results)
    assert store.status() == []
    assert store.read("/knowledge/new.txt") == b"from my editor\n"
    assert store.read("/knowledge/keep.txt") == b"v2, edited outside\n"
    assert store.stat("/knowledge/dir/sub/deep.md").meta == {"tags": ["x"]}
    assert not store.exists("/knowledge/gone.txt")
    # committed as principal `external`, with versions and audit rows
    keep = store.log("/knowledge/keep.txt")
    assert [(v.version, v.author) for v in keep] == [(1, "user:admin"), (2, "external")]
    rows = {(r.action, r.path) for r in store.audit(principal="external", limit=1000)}
    assert {("create", "/knowledge/new.txt"), ("write", "/knowledge/keep.txt"),
            ("delete", "/knowledge/gone.txt"), ("mkdir", "/knowledge/dir")} <= rows
    assert store.verify()["ok"]
    # a deleted-outside file comes back with restore
    store.restore("/knowledge/gone.txt", 1)
    assert (root / "knowledge/gone.txt").read_text() == "bye\n"


def test_touch_without_change_is_not_an_edit(store: ContextFS) -> None:
    store.write("/knowledge/a.txt", "same\n")
    plain = store.root / "knowledge/a.txt"
    os.utime(plain, ns=(1, 1))
    assert store.status() == []
    shutil.copyfile(plain, plain.with_suffix(".tmp"))
    os.replace(plain.with_suffix(".tmp"), plain)
    assert store.status() == []


def test_broken_front_matter_is_refused_and_reported(store: ContextFS) -> None:
    good = "---\nimportance: 0.5\n---\nfine\n"
    store.write("/memory/semantic/note.md", good)
    plain = store.root / "memory/semantic/note.md"
    plain.write_text("---\nimportance: 9\n---\nbroken by hand\n")
    results = _changes(store.sync())
    change, problem = results["/memory/semantic/note.md"]
    assert change == "modified"
    assert problem and "line 2" in problem and "importance" in problem
    # the catalog keeps its last good version; the user's file is left as they wrote it
    assert store.stat("/memory/semantic/note.md").version == 1
    assert store.read("/memory/semantic/note.md") == good.encode()
    assert plain.read_text() == "---\nimportance: 9\n---\nbroken by hand\n"
    assert [c.path for c in store.status()] == ["/memory/semantic/note.md"]
    # once fixed outside, the next sync commits it
    plain.write_text("---\nimportance: 0.9\n---\nfixed\n")
    assert all(c.problem is None for c in store.sync())
    assert store.stat("/memory/semantic/note.md").meta == {"importance": 0.9}


def test_history_rewrite_is_refused_and_append_accepted(store: ContextFS) -> None:
    store.write("/history/s1/turns.md", "user: hi\n")
    plain = store.root / "history/s1/turns.md"
    plain.write_text("user: I never said that\n")
    (_, problem), = _changes(store.sync()).values()
    assert problem and "append-only" in problem
    assert store.read("/history/s1/turns.md") == b"user: hi\n"
    plain.write_text("user: hi\nassistant: hello\n")
    assert all(c.problem is None for c in store.sync())
    log = store.log("/history/s1/turns.md")
    assert [(v.op, v.author) for v in log] == [("create", "user:admin"), ("append", "external")]
    assert store.read("/history/s1/turns.md") == b"user: hi\nassistant: hello\n"


def test_deleting_history_outside_is_refused(store: ContextFS) -> None:
    store.write("/history/s1/turns.md", "user: hi\n")
    (store.root / "history/s1/turns.md").unlink()
    (_, problem), = _changes(store.sync()).values()
    assert problem and "append-only" in problem
    assert store.read("/history/s1/turns.md") == b"user: hi\n"


def test_bad_names_are_reported_not_committed(store: ContextFS) -> None:
    (store.root / "knowledge/bad\x07name.txt").write_text("x")
    changes = store.status()
    assert len(changes) == 1 and changes[0].problem and "control character" in changes[0].problem
    results = store.sync()
    assert results[0].problem
    assert store.ls("/knowledge") == []


def test_deleting_a_mount_folder_outside_is_refused(store: ContextFS) -> None:
    shutil.rmtree(store.root / "scratchpad")
    (change,) = store.status()
    assert change.path == "/scratchpad" and change.problem
    store.sync()
    assert store.stat("/scratchpad").kind == "dir"
