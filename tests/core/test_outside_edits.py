"""Edits made to the plain tree behind agentfs' back: status finds them, sync commits them as
``external`` through the same validation as every other write, and refuses what a write would."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

from agentfs.fs import ContextFS
from agentfs.store import store as store_module
from agentfs.types import Change
from agentfs.watch import Watcher


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


def _other_process(store: ContextFS) -> ContextFS:
    """A second handle with a Store of its own: its commits' pending rows stay (they are cleared
    lazily, at its next commit), as a live writer in another process leaves them."""
    other = ContextFS.open(store.root, principal=store.principal)
    assert other._core.store is not store._core.store
    return other


def test_an_edit_right_after_another_processs_commit_is_seen(store: ContextFS) -> None:
    other = _other_process(store)
    try:
        other.write("/knowledge/fresh.txt", "AAAA original\n")
        version = store.stat("/knowledge/fresh.txt")
        plain = store.root / "knowledge/fresh.txt"
        plain.write_text("BBBB original\n")
        # The kernel stamps files with a clock that lags by up to a tick: an edit made within a
        # tick of the commit may look older than it. It is an edit all the same.
        os.utime(plain, ns=(version.modified_ns - 1_000, version.modified_ns - 1_000))
        assert _changes(store.status(only=["/knowledge/fresh.txt"])) == {"/knowledge/fresh.txt": ("modified", None)}
        other.write("/knowledge/made.txt", "made\n")
        (store.root / "knowledge/made.txt").unlink()  # deleted outside; the writer lives on
        assert _changes(store.status(only=["/knowledge/made.txt"])) == {"/knowledge/made.txt": ("deleted", None)}
    finally:
        other.close()


def test_a_commit_cut_short_by_a_crash_is_left_to_recovery(store: ContextFS) -> None:
    writer, mover = _other_process(store), _other_process(store)
    plain = store.root / "knowledge/torn.txt"
    try:
        writer.write("/knowledge/torn.txt", "version one\n")
        one = plain.read_bytes(), os.stat(plain).st_mtime_ns
        mover.write("/knowledge/moved-from.txt", "moving\n")
        written = os.stat(store.root / "knowledge/moved-from.txt").st_mtime_ns
        mover.mv("/knowledge/moved-from.txt", "/knowledge/moved-to.txt")
        writer.write("/knowledge/torn.txt", "version two\n")
        # As if both writers died between their last commit and its plain-tree update: the file
        # is still exactly version one (mtime to the nanosecond), the move never happened, and
        # neither writer confirmed its commit.
        plain.write_bytes(one[0])
        os.utime(plain, ns=(one[1], one[1]))
        os.replace(store.root / "knowledge/moved-to.txt", store.root / "knowledge/moved-from.txt")
        os.utime(store.root / "knowledge/moved-from.txt", ns=(written, written))
        writer._core.store._confirmed.clear()
        mover._core.store._confirmed.clear()
        assert store.status(only=["/knowledge/torn.txt", "/knowledge/moved-to.txt"]) == []
    finally:
        writer.close()
        mover.close()
    reopened = ContextFS.open(store.root, principal=store.principal)  # recovery re-applies the heads
    try:
        assert plain.read_bytes() == b"version two\n"
        assert (store.root / "knowledge/moved-to.txt").read_text() == "moving\n"
        assert not (store.root / "knowledge/moved-from.txt").exists()
        assert reopened.status() == []
    finally:
        reopened.close()


def test_committing_an_outside_edit_never_undoes_a_newer_one(store: ContextFS) -> None:
    external = store.as_principal("external")
    plain = store.root / "knowledge/raced.txt"
    plain.write_text("newer edit\n")
    # The outside edit read a moment ago ("older edit") commits after the file changed again:
    # the plain file keeps the newer bytes, and status reports them for the next commit.
    external.write("/knowledge/raced.txt", "older edit\n")
    assert plain.read_text() == "newer edit\n"
    assert _changes(store.status()) == {"/knowledge/raced.txt": ("modified", None)}
    store.sync()
    assert store.read("/knowledge/raced.txt") == b"newer edit\n"
    # Deleted again before the commit of its creation: it stays deleted.
    external.write("/knowledge/brief.txt", "here for a moment\n")
    assert not (store.root / "knowledge/brief.txt").exists()
    assert _changes(store.status()) == {"/knowledge/brief.txt": ("deleted", None)}
    # Recreated before the commit of its deletion: the new file stays.
    store.write("/knowledge/back.txt", "first\n")
    (store.root / "knowledge/back.txt").unlink()
    changes = store.status()
    (store.root / "knowledge/back.txt").write_text("second\n")
    store.commit_external(changes)
    assert (store.root / "knowledge/back.txt").read_text() == "second\n"
    # An outside edit committed as it is gets the version's time, so status is clean after it.
    (store.root / "knowledge/clean.txt").write_text("as edited\n")
    store.sync()
    assert store.status() == []


def test_opening_the_store_never_undoes_an_outside_deletion(store: ContextFS) -> None:
    """A file created by a store still open elsewhere and deleted outside since stays deleted
    when another process opens the store (a mount's indexer did, and resurrected it: the mount's
    watcher then took the file for its version and never committed the deletion). The same file
    of a writer that is gone is a creation cut short, and recovery re-applies it."""
    live, gone = _other_process(store), _other_process(store)
    try:
        live.write("/knowledge/deleted.txt", "created by a live process\n")
        gone.write("/knowledge/cut.txt", "created by a process that died\n")
        (store.root / "knowledge/deleted.txt").unlink()
        (store.root / "knowledge/cut.txt").unlink()  # as if it died before its plain-tree update
        gone._core.store._confirmed.clear()
        gone.close()
        opened = ContextFS.open(store.root, principal=store.principal)  # runs recovery
        try:
            assert not (store.root / "knowledge/deleted.txt").exists()
            assert (store.root / "knowledge/cut.txt").read_text() == "created by a process that died\n"
            assert _changes(opened.status()) == {"/knowledge/deleted.txt": ("deleted", None)}
            opened.sync()
            assert not opened.exists("/knowledge/deleted.txt")
            assert opened.log("/knowledge/deleted.txt")[-1].author == "external"
        finally:
            opened.close()
    finally:
        live.close()
    assert not [p for p in (store.root / ".agentfs/writers").iterdir() if p.name != store._core.store.token]


def test_an_edit_during_the_adoption_of_the_previous_one_is_seen(store: ContextFS, monkeypatch: Any) -> None:
    """Committing an outside edit gives its plain file the version's time, after checking the
    bytes. A writer rewriting the file (same size) between that check and the utime must not end
    up with the version's time on bytes that are not the version: nothing would ever look again."""
    plain = store.root / "knowledge/adopted.txt"
    plain.write_text("held open\n")
    real_hash = store_module.hash_file
    edits: list[str] = []

    def hash_then_write(path: Any) -> str:
        digest = real_hash(path)
        if os.fspath(path) == os.fspath(plain) and not edits:
            edits.append("now")
            plain.write_text("HELD OPEN\n")  # right after the check, before the utime
        return digest

    monkeypatch.setattr(store_module, "hash_file", hash_then_write)
    store.sync()
    assert edits and store.read("/knowledge/adopted.txt") == b"held open\n"
    assert os.stat(plain).st_mtime_ns != store.stat("/knowledge/adopted.txt").modified_ns
    assert _changes(store.status()) == {"/knowledge/adopted.txt": ("modified", None)}
    store.sync()
    assert store.read("/knowledge/adopted.txt") == b"HELD OPEN\n"
    assert store.status() == []


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_the_watcher_commits_a_file_rewritten_in_place_once_it_is_closed(store: ContextFS) -> None:
    store.write("/knowledge/notes.txt", "first version\n")
    with Watcher(store, interval=0.05):
        with open(store.root / "knowledge/notes.txt", "wb") as handle:  # truncated, not closed
            handle.write(b"second ")
            handle.flush()
            time.sleep(0.5)  # several rounds of the watcher
            assert store.read("/knowledge/notes.txt") == b"first version\n"
            handle.write(b"version\n")
        assert _wait(lambda: store.read("/knowledge/notes.txt") == b"second version\n")
        assert [v.author for v in store.log("/knowledge/notes.txt")] == ["user:admin", "external"]
        # A writer that keeps the file open is committed after a quiet second, as the file stands.
        with open(store.root / "knowledge/open.txt", "wb") as handle:
            handle.write(b"held open\n")
            handle.flush()
            assert _wait(lambda: store.exists("/knowledge/open.txt"))
            handle.write(b"still open\n")
            handle.flush()
            assert _wait(lambda: store.read("/knowledge/open.txt") == b"held open\nstill open\n", timeout=5)


def test_opening_the_store_never_undoes_an_outside_edit(store: ContextFS) -> None:
    """Opening a store re-applies pending commits (a writer may have died before its plain-tree
    update). A live writer's rows are pending too, long applied; an edit made since stays."""
    writer = _other_process(store)
    plain = store.root / "knowledge/kept.txt"
    try:
        writer.write("/knowledge/kept.txt", "written by a live process\n")
        plain.write_text("edited outside since\n")
        torn = store.root / "knowledge/torn.txt"
        writer2 = _other_process(store)
        writer2.write("/knowledge/torn.txt", "whole content\n")
        head = os.stat(torn).st_mtime_ns
        torn.write_bytes(b"")  # a power cut: the rename and the time persisted, not the bytes
        os.utime(torn, ns=(head, head))
        writer2._core.store._confirmed.clear()
        writer2.close()
        opened = ContextFS.open(store.root, principal=store.principal)  # runs recovery
        try:
            assert plain.read_text() == "edited outside since\n"
            assert torn.read_text() == "whole content\n"
            assert _changes(opened.status()) == {"/knowledge/kept.txt": ("modified", None)}
        finally:
            opened.close()
    finally:
        writer.close()


def test_reading_the_plain_tree_costs_the_watcher_nothing(store: ContextFS) -> None:
    """Opens and reads of plain files are no news: the watcher does not ask inotify for them. Asked,
    a `grep -r` over a big store queued two events per file for watchdog's threads to carry (and
    could overflow the kernel's queue of 16,384 events, losing what came with them)."""
    store.write("/knowledge/read.txt", "read me\n")
    kinds: list[str] = []
    with Watcher(store, interval=0.05) as watcher:
        dispatch = watcher._handler.dispatch

        def recording(event: Any) -> None:
            kinds.append(event.event_type)
            dispatch(event)

        watcher._handler.dispatch = recording  # type: ignore[method-assign]
        plain = store.root / "knowledge/read.txt"
        for _ in range(5_000):
            with open(plain, "rb") as handle:
                handle.read()
        (store.root / "knowledge/edited.txt").write_text("written outside while reading\n")
        assert _wait(lambda: store.exists("/knowledge/edited.txt"), timeout=10), kinds[-5:]
    assert "opened" not in kinds and "closed_no_write" not in kinds, (len(kinds), kinds[:5])
    assert [v.author for v in store.log("/knowledge/edited.txt")] == ["external"]


def test_after_inotify_lost_events_the_watcher_compares_the_whole_tree(store: ContextFS) -> None:
    """The kernel's inotify queue overflowed (a burst of changes): the events in it are gone.
    watchdog says so in its log only; the watcher then finds the edits by comparing everything."""
    store.write("/knowledge/kept.txt", "v1\n")
    with Watcher(store, interval=0.05) as watcher:
        saw = watcher._saw
        watcher._saw = lambda *args, **kwargs: None  # type: ignore[method-assign]  # the events are lost
        (store.root / "knowledge/kept.txt").write_text("v2, edited outside\n")
        (store.root / "knowledge/new.txt").write_text("created outside\n")
        time.sleep(0.5)  # the lost events are dispatched (to nothing) and the rounds go by
        assert store.read("/knowledge/kept.txt") == b"v1\n" and not store.exists("/knowledge/new.txt")
        watcher._saw = saw  # type: ignore[method-assign]
        logging.getLogger("watchdog.observers.inotify_c").warning(
            "Inotify queue overflowed; filesystem events were lost")  # what watchdog logs then
        assert _wait(lambda: store.read("/knowledge/kept.txt") == b"v2, edited outside\n")
        assert _wait(lambda: store.exists("/knowledge/new.txt"))
    assert [v.author for v in store.log("/knowledge/kept.txt")] == ["user:admin", "external"]


def test_watchdog_still_reports_an_overflow_the_way_the_watcher_listens_for() -> None:
    """The rescan hangs on watchdog's log line about an overflow: a release that rewords it (or
    logs it elsewhere) must fail here, not lose edits silently on a real overflow."""
    import inspect

    from watchdog.observers import inotify_c

    from agentfs import watch

    assert inotify_c.logger.name == watch._OVERFLOW_LOGGER
    assert f'logger.warning("{watch._OVERFLOW_MESSAGE}' in inspect.getsource(inotify_c)
