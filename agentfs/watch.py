"""Live sync: keep a long-running process (a mount) in step with changes it did not make.

A :class:`Watcher` follows three sources:

- **Edits to the store's plain files** made behind agentfs' back (an editor, ``git pull``, a
  script): watchdog reports the paths, :meth:`ContextFS.status` (``only=`` those paths) says what
  really differs, and :meth:`ContextFS.commit_external` commits it as principal ``external``,
  through the same validation as any write. A refused edit (broken front matter, a rewrite of
  history) is logged and left in the plain tree, as ``agentfs sync`` does. Typically ~0.1 s.
- **Commits by other processes** (the Python API, the CLI, another mount): read from the outbox;
  ``on_foreign`` gets them so caches can be dropped.
- **ACL changes** (rules, groups, administrators): ``on_rules`` is called.

When the kernel's inotify queue overflows, the events in it are lost: the watcher then compares
the whole plain tree with the catalog (one :meth:`ContextFS.status`) and commits what differs.

Commits of this process are recognised (by outbox sequence number and by the plain file's
mtime, which the store sets to the version's time) and never taken for outside edits. When
several processes watch one store, one of them (holding ``.agentfs/watch.lock``) commits outside
edits; all of them follow the outbox.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import stat
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentfs.errors import AgentFSError
from agentfs.fs import ContextFS
from agentfs.governance.policy import EXTERNAL
from agentfs.store.records import Event
from agentfs.store.store import META_DIR

log = logging.getLogger("agentfs.watch")

DEBOUNCE_S = 0.05  # an editor's save is several file system events in a few milliseconds
# A file written in place (truncated, then written) is committed once it is closed; one held open
# without a close is committed after this long without events, as it stands then.
WRITING_S = 1.0
EXPECT_S = 30.0  # how long a commit of ours explains later events on its path
_ABSENT = object()
# When the kernel's inotify queue overflows (16,384 events by default: a `git checkout` of many
# files), the events in it are lost. watchdog rebuilds its watches and says so only in its log,
# with this message; the watchers of this process then compare the whole plain tree instead.
_OVERFLOW_LOGGER = "watchdog.observers.inotify_c"
_OVERFLOW_MESSAGE = "Inotify queue overflowed"
_listening: weakref.WeakSet[Watcher] = weakref.WeakSet()
_listening_lock = threading.Lock()  # watchers start and stop while watchdog's thread reports


class _OverflowSignal(logging.Filter):
    """Turns watchdog's log line about a queue overflow into a rescan of every live watcher."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith(_OVERFLOW_MESSAGE):
            with _listening_lock:
                watchers = list(_listening)
            for watcher in watchers:
                watcher._lost_events()
        return True


def _listen_for_overflows(watcher: Watcher) -> None:
    logger = logging.getLogger(_OVERFLOW_LOGGER)
    with _listening_lock:
        if not any(isinstance(f, _OverflowSignal) for f in logger.filters):
            logger.addFilter(_OverflowSignal())
        if not logger.isEnabledFor(logging.WARNING):  # the line must be made for the filter to see it
            logger.setLevel(logging.WARNING)
        _listening.add(watcher)


class Watcher:
    """Follow outside edits, other processes' commits and ACL changes of one store.

    Args:
        fs: a handle on the store (any principal; the watcher acts as ``external``).
        on_foreign: called with the events of commits made by other processes.
        on_rules: called when rules, group memberships or administrators changed.
        commit_outside_edits: commit plain-tree edits (else only follow the outbox).
        interval: seconds between polls of the outbox and the rules.
    """

    def __init__(
        self,
        fs: ContextFS,
        *,
        on_foreign: Callable[[list[Event]], None] | None = None,
        on_rules: Callable[[], None] | None = None,
        commit_outside_edits: bool = True,
        interval: float = 0.25,
    ) -> None:
        self._fs = fs.as_principal(EXTERNAL)
        self._root = Path(fs.root)
        self._on_foreign = on_foreign
        self._on_rules = on_rules
        self._commit_edits = commit_outside_edits
        self._interval = interval
        self._lock = threading.Lock()
        self._dirty: set[str] = set()
        self._writing: dict[str, float] = {}  # path -> last event of a write not closed yet
        self._expected: dict[str, tuple[object, float]] = {}  # path -> (mtime_ns | _ABSENT, when)
        self._own: set[int] = set()  # outbox seqs of this process's commits
        self._cursor = 0
        self._rules = ""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer: Any = None
        self._watched: set[str] = set()
        self._commit_lock_fd: int | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._handler = _Handler(self)
        self._rescan = False  # inotify lost events: compare the whole plain tree next round

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Watcher:
        from watchdog.observers import Observer

        self._cursor = self._last_seq()
        self._rules = self._rules_digest()
        self._unsubscribe = self._fs.subscribe(self._on_own_event)
        _listen_for_overflows(self)
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.schedule(self._handler, str(self._root), recursive=False, event_filter=_watched_events())
        for child in self._root.iterdir():
            self._watch_top(child)
        self._observer.start()
        self._thread = threading.Thread(target=self._run, name="agentfs-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with _listening_lock:
            _listening.discard(self)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._observer is not None:
            with contextlib.suppress(Exception):
                self._observer.stop()
                self._observer.join(timeout=5)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._commit_lock_fd is not None:
            os.close(self._commit_lock_fd)
            self._commit_lock_fd = None

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _watch_top(self, child: Path) -> None:
        """Watch one top-level folder recursively. ``.agentfs`` is never watched: the catalog
        and objects change on every commit and are none of the watcher's business."""
        if child.name == META_DIR or not child.is_dir() or child.is_symlink() or str(child) in self._watched:
            return
        self._watched.add(str(child))
        with contextlib.suppress(OSError):
            self._observer.schedule(self._handler, str(child), recursive=True, event_filter=_watched_events())

    # --- inputs ---------------------------------------------------------------------------------

    def _saw(self, full_path: str, *, writing: bool = False) -> None:
        """A file system event on ``full_path`` (a plain path under the store root). ``writing``:
        the event was a regular file's modification, so a close should follow."""
        try:
            rel = os.path.relpath(full_path, self._root)
        except ValueError:
            return
        if rel.startswith("..") or rel == "." or rel.split(os.sep, 1)[0] == META_DIR:
            return
        if os.sep not in rel:
            self._watch_top(Path(full_path))  # a new top-level folder
        if writing:
            try:
                writing = stat.S_ISREG(os.lstat(full_path).st_mode)
            except OSError:
                writing = False
        path = "/" + rel.replace(os.sep, "/")
        with self._lock:
            self._dirty.add(path)
            if writing:
                self._writing[path] = time.monotonic()
            else:
                self._writing.pop(path, None)
        self._wake.set()

    def _settled(self, dirty: set[str]) -> set[str]:
        """The dirty paths not being written right now; the others wait for their close."""
        now = time.monotonic()
        with self._lock:
            busy = {p for p in dirty if p in self._writing and now - self._writing[p] < WRITING_S}
            for path in dirty - busy:
                self._writing.pop(path, None)
            self._dirty |= busy  # looked at again by the next rounds (every `interval`)
        return dirty - busy

    def _lost_events(self) -> None:
        with self._lock:
            self._rescan = True
        self._wake.set()

    def _on_own_event(self, event: Event) -> None:
        now = time.monotonic()
        with self._lock:
            self._own.add(event.seq)
            self._expect(event, now)

    def _expect(self, event: Event, now: float) -> None:
        self._expected[event.path] = (_ABSENT if event.op == "delete" else event.time_ns, now)
        if event.old_path:
            self._expected[event.old_path] = (_ABSENT, now)

    # --- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            woke = self._wake.wait(self._interval)
            if self._stop.is_set():
                return
            if woke:
                time.sleep(DEBOUNCE_S)
                self._wake.clear()
            try:
                self.tick()
            except Exception:  # the watcher must outlive any one bad tick
                log.exception("watcher tick failed")

    def tick(self) -> None:
        """One round: follow the outbox, commit outside edits, check the rules."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            rescan, self._rescan = self._rescan, False
        foreign = self._follow_outbox()
        if foreign and self._on_foreign is not None:
            self._on_foreign(foreign)
        if (dirty or rescan) and self._commit_edits and self._may_commit():
            if rescan:
                dirty |= self._changed_paths()
            settled = self._settled(dirty)
            explained = {p for p in settled if self._explained(p)}
            if log.isEnabledFor(logging.DEBUG):
                log.debug("outside events on %s: %s wait for their close, %s explained by commits",
                          sorted(dirty), sorted(dirty - settled), sorted(explained))
            self._commit(sorted(settled - explained))
        digest = self._rules_digest()
        if digest != self._rules:
            self._rules = digest
            if self._on_rules is not None:
                self._on_rules()

    def _changed_paths(self) -> set[str]:
        """Every path where the plain tree differs from the catalog (after lost events)."""
        log.warning("inotify lost events (its queue overflowed): comparing the whole plain tree")
        try:
            return {change.path for change in self._fs.status()}
        except AgentFSError as exc:
            log.warning("plain tree not compared: %s", exc.message)
            return set()

    def _last_seq(self) -> int:
        seq = 0
        while True:
            batch = self._fs.events_since(seq, limit=10_000)
            if not batch:
                return seq
            seq = batch[-1].seq

    def _follow_outbox(self) -> list[Event]:
        foreign: list[Event] = []
        now = time.monotonic()
        while True:
            batch = self._fs.events_since(self._cursor, limit=1000)
            if not batch:
                break
            with self._lock:
                for event in batch:
                    if event.seq in self._own:
                        self._own.discard(event.seq)
                    else:
                        foreign.append(event)
                        self._expect(event, now)
            self._cursor = batch[-1].seq
        with self._lock:
            self._own = {seq for seq in self._own if seq > self._cursor}
            stale = [p for p, (_, when) in self._expected.items() if now - when > EXPECT_S]
            for path in stale:
                del self._expected[path]
        return foreign

    def _explained(self, path: str) -> bool:
        """True when a known commit already accounts for the plain file's current state."""
        with self._lock:
            expected = self._expected.get(path)
        if expected is None:
            return False
        try:
            st = os.lstat(self._root / path.lstrip("/"))
        except FileNotFoundError:
            return expected[0] is _ABSENT
        if expected[0] is _ABSENT:
            return False
        return os.path.isdir(self._root / path.lstrip("/")) or st.st_mtime_ns == expected[0]

    def _may_commit(self) -> bool:
        """One watcher per store commits outside edits (the holder of .agentfs/watch.lock)."""
        if self._commit_lock_fd is not None:
            return True
        fd = os.open(self._root / META_DIR / "watch.lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._commit_lock_fd = fd
        return True

    def _commit(self, candidates: list[str]) -> None:
        if not candidates:
            return
        try:
            changes = self._fs.status(only=candidates)
            log.debug("outside edits of %s: %s", candidates, [(c.change, c.path) for c in changes])
            results = self._fs.commit_external(changes) if changes else []
        except AgentFSError as exc:
            log.warning("outside edits not committed: %s", exc.message)
            return
        for change in results:
            if change.problem:
                log.warning("outside edit refused: %s %s: %s", change.change, change.path, change.problem)
            else:
                log.info("outside edit committed as %s: %s %s", EXTERNAL, change.change, change.path)

    def _rules_digest(self) -> str:
        return hashlib.sha256(json.dumps(self._fs.acl_summary(), sort_keys=True).encode()).hexdigest()


@functools.cache
def _watched_events() -> list[type]:
    """The watchdog events the watcher acts on. Opens, closes without a write and folders'
    mtime changes carry no news: left out, inotify is not even asked for them, so reading the
    plain files (``grep -r`` over the store, a scan) costs the watcher nothing, and a commit's
    rename into place is one event, not two."""
    from watchdog.events import (
        DirCreatedEvent,
        DirDeletedEvent,
        DirMovedEvent,
        FileClosedEvent,
        FileCreatedEvent,
        FileDeletedEvent,
        FileModifiedEvent,
        FileMovedEvent,
    )

    return [FileCreatedEvent, DirCreatedEvent, FileDeletedEvent, DirDeletedEvent, FileModifiedEvent,
            FileMovedEvent, DirMovedEvent, FileClosedEvent]


class _Handler:
    """watchdog callbacks -> :meth:`Watcher._saw` (only the events of :func:`_watched_events`)."""

    def __init__(self, watcher: Watcher) -> None:
        self._watcher = watcher

    def dispatch(self, event: Any) -> None:
        # A modification (a truncation, a write) is followed by a close when the writer is done.
        # A creation is not waited for: it may have been moved in whole, with no close to come,
        # and committing a new file before its first write only adds a version.
        writing = not event.is_directory and event.event_type == "modified"
        self._watcher._saw(os.fsdecode(event.src_path), writing=writing)
        dest = getattr(event, "dest_path", "")
        if dest:
            self._watcher._saw(os.fsdecode(dest))
