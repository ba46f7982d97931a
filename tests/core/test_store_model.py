"""A Hypothesis state machine: the store against a plain dict model.

Rules write, append, delete, rename (files and folders), restore, set and remove metadata, and
make folders below ``/knowledge``; the model predicts every outcome, errors included, down to
the version numbers. After every step the store must equal the model (tree, bytes, metadata,
versions, the plain files on disk), every log must count up 1..n, ``verify()`` must pass,
``status()`` must be empty, and a second handle opened from disk must see the same state.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import agentfs
from agentfs import frontmatter, paths
from agentfs.errors import (
    AgentFSError,
    AlreadyExistsError,
    DirectoryNotEmptyError,
    NotFoundError,
)
from tests.helpers import ADMIN, plain_tree

ROOT = "/knowledge"
DIRS = [f"{ROOT}/x", f"{ROOT}/y", f"{ROOT}/x/z", f"{ROOT}/w"]
NAMES = ["a.md", "b.md", "c.txt", "d.txt"]
FILES = [f"{d}/{n}" for d in [ROOT, *DIRS[:3]] for n in NAMES]
CONTENTS = [
    "",
    "plain body\n",
    "---\ntags: [alpha]\n---\nbody one\n",
    "---\nimportance: 0.5\ndescription: a note\n---\n# title\n\ntext\n",
    "---\nnot: front matter in a .txt\n---\n",
]
APPENDS = ["more\n", "and more: ünïcode\n"]
METAS = [None, {"tags": ["t1", "t2"]}, {"importance": 0.9}]


@dataclass
class Model:
    """One node's history: ``versions[i]`` is version i+1 — (bytes, meta) for file content,
    None for a folder version or a deletion."""

    kind: str
    path: str
    versions: list[tuple[bytes, dict[str, Any]] | None] = field(default_factory=list)

    @property
    def head(self) -> tuple[bytes, dict[str, Any]]:
        value = self.versions[-1]
        assert value is not None
        return value


def _suffix(path: str) -> str:
    return path.rsplit(".", 1)[-1] if "." in paths.name(path) else ""


class StoreMachine(RuleBasedStateMachine):
    """The store under /knowledge against dicts of :class:`Model` nodes."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="agentfs-model-"))
        self.fs = agentfs.init(self.tmp / "ctx", admin=ADMIN)
        self.live: dict[str, Model] = {ROOT: Model("dir", ROOT, [None])}
        self.tombs: dict[str, list[Model]] = {}  # path -> deleted nodes, most recent last
        self.last_version_seen: dict[int, int] = {}

    def teardown(self) -> None:
        self.fs.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- model helpers --------------------------------------------------------------------------

    def _bump(self, node: Model, value: tuple[bytes, dict[str, Any]] | None) -> None:
        node.versions.append(value)

    def _bury(self, node: Model) -> None:
        self._bump(node, None)
        del self.live[node.path]
        self.tombs.setdefault(node.path, []).append(node)

    def _revive(self, path: str, kind: str, value: tuple[bytes, dict[str, Any]] | None) -> Model:
        """A new live node at ``path``: the most recent tombstone there comes back, else a new node.

        Folders only revive folder tombstones (``Transaction.mkdir``); files revive any."""
        stack = self.tombs.get(path, [])
        if stack and (kind == "file" or stack[-1].kind == "dir"):
            node = stack.pop()
            node.kind = kind
            self._bump(node, value)
        else:
            node = Model(kind, path, [value])
        self.live[path] = node
        return node

    def _ensure_dirs(self, path: str) -> None:
        for ancestor in paths.ancestors(paths.parent(path)):
            if paths.is_within(ancestor, ROOT) and ancestor not in self.live:
                self._revive(ancestor, "dir", None)

    def _subtree(self, path: str) -> list[str]:
        return sorted(p for p in self.live if paths.is_within(p, path))

    def _written(self, path: str, raw: bytes, meta: dict[str, Any] | None, old_meta: dict[str, Any]):
        if path.endswith(".md"):
            text = raw.decode()
            if meta:
                doc = frontmatter.split(text)
                text = frontmatter.render({**doc.meta, **meta}, doc.body)
            return text.encode(), frontmatter.split(text).meta
        return raw, {**old_meta, **(meta or {})}

    # --- rules ----------------------------------------------------------------------------------

    @rule(path=st.sampled_from(FILES), content=st.sampled_from(CONTENTS), meta=st.sampled_from(METAS))
    def write(self, path: str, content: str, meta: dict[str, Any] | None) -> None:
        info = self.fs.write(path, content, meta=meta)
        existing = self.live.get(path)
        value = self._written(path, content.encode(), meta, existing.head[1] if existing else {})
        if existing is not None:
            self._bump(existing, value)
        else:
            self._ensure_dirs(path)
            self._revive(path, "file", value)
        assert info.version == len(self.live[path].versions)

    @rule(path=st.sampled_from(FILES), text=st.sampled_from(APPENDS))
    def append(self, path: str, text: str) -> None:
        info = self.fs.append(path, text)
        existing = self.live.get(path)
        if existing is None:
            self._ensure_dirs(path)
            self._revive(path, "file", self._written(path, text.encode(), None, {}))
        else:
            raw = existing.head[0] + text.encode()
            meta = frontmatter.split(raw.decode()).meta if path.endswith(".md") else existing.head[1]
            self._bump(existing, (raw, meta))
        assert info.version == len(self.live[path].versions)

    @rule(path=st.sampled_from([*FILES, *DIRS]))
    def delete(self, path: str) -> None:
        if path not in self.live:
            with pytest.raises(NotFoundError):
                self.fs.rm(path, recursive=True)
            return
        removed = self.fs.rm(path, recursive=True)
        doomed = self._subtree(path)
        assert sorted(removed) == doomed
        for p in sorted(doomed, reverse=True):  # children first, like the store
            self._bury(self.live[p])

    @rule(src=st.sampled_from(FILES), dst=st.sampled_from(FILES))
    def rename_file(self, src: str, dst: str) -> None:
        # Keep the extension: a .md file's metadata is its front matter, a .txt's is a sidecar.
        assume(_suffix(src) == _suffix(dst))
        self._rename(src, dst)

    @rule(src=st.sampled_from(DIRS), dst=st.sampled_from(DIRS))
    def rename_dir(self, src: str, dst: str) -> None:
        self._rename(src, dst)

    def _rename(self, src: str, dst: str) -> None:
        expected_error: type[AgentFSError] | None = None
        if src not in self.live:
            expected_error = NotFoundError
        elif src != dst and paths.is_within(dst, src):
            expected_error = AlreadyExistsError
        elif src != dst and dst in self.live and self.live[dst].kind == "dir" and len(self._subtree(dst)) > 1:
            expected_error = DirectoryNotEmptyError
        if expected_error is not None:
            with pytest.raises(expected_error):
                self.fs.mv(src, dst)
            return
        self.fs.mv(src, dst)
        if src == dst:
            return
        if dst in self.live:
            self._bury(self.live[dst])
        self._ensure_dirs(dst)
        for old in self._subtree(src):
            node = self.live.pop(old)
            node.path = paths.rebase(old, src, dst)
            self._bump(node, node.versions[-1])
            self.live[node.path] = node

    @rule(path=st.sampled_from(FILES), version=st.integers(1, 6))
    def restore(self, path: str, version: int) -> None:
        node = self.live.get(path) or (self.tombs.get(path) or [None])[-1]
        if node is None or version > len(node.versions) or node.versions[version - 1] is None:
            with pytest.raises(NotFoundError):
                self.fs.restore(path, version)
            return
        info = self.fs.restore(path, version)
        value = node.versions[version - 1]
        if path in self.live:
            self._bump(node, value)
        else:
            self._ensure_dirs(path)
            revived = self._revive(path, "file", value)
            assert revived is node
        assert info.version == len(node.versions)

    @rule(path=st.sampled_from(FILES), updates=st.sampled_from([{"tags": ["m"]}, {"importance": 0.1}, {}]),
          remove=st.sampled_from([[], ["tags"], ["importance", "description"]]))
    def set_meta(self, path: str, updates: dict[str, Any], remove: list[str]) -> None:
        if path not in self.live:
            with pytest.raises(NotFoundError):
                self.fs.set_meta(path, updates, remove=remove)
            return
        self.fs.set_meta(path, updates, remove=remove)
        node = self.live[path]
        raw, meta = node.head
        if path.endswith(".md"):
            doc = frontmatter.split(raw.decode())
            merged = {**doc.meta, **updates}
            for key in remove:
                merged.pop(key, None)
            self._bump(node, (frontmatter.render(merged, doc.body).encode(), merged))
        else:
            merged = {**meta, **updates}
            for key in remove:
                merged.pop(key, None)
            self._bump(node, (raw, merged))

    @rule(path=st.sampled_from(DIRS))
    def mkdir(self, path: str) -> None:
        if path in self.live:
            with pytest.raises(AlreadyExistsError):
                self.fs.mkdir(path)
            return
        self.fs.mkdir(path)
        self._ensure_dirs(path)
        self._revive(path, "dir", None)

    # --- invariants -----------------------------------------------------------------------------

    def _snapshot(self, fs: agentfs.ContextFS) -> dict[str, tuple[Any, ...]]:
        entries = [fs.stat(ROOT), *fs.ls(ROOT, recursive=True)]
        return {e.path: (e.kind, e.version, e.hash, e.meta, e.ino) for e in entries}

    @invariant()
    def store_equals_model(self) -> None:
        snapshot = self._snapshot(self.fs)
        assert {p: s[0] for p, s in snapshot.items()} == {p: n.kind for p, n in self.live.items()}
        for path, node in self.live.items():
            kind, version, _, meta, _ = snapshot[path]
            assert version == len(node.versions), path
            if kind == "file":
                raw, expected_meta = node.head
                assert self.fs.read(path) == raw, path
                assert meta == expected_meta, path
        # the plain tree on disk shows exactly the same thing
        plain = {p: v for p, v in plain_tree(self.fs.root).items() if paths.is_within(p, ROOT)}
        model = {p: (n.head[0] if n.kind == "file" else None) for p, n in self.live.items()}
        assert plain == model

    @invariant()
    def logs_count_up(self) -> None:
        for path, node in self.live.items():
            numbers = [v.version for v in self.fs.log(path)]
            assert numbers == list(range(1, len(node.versions) + 1)), path

    @invariant()
    def store_is_consistent(self) -> None:
        report = self.fs.verify()
        assert report["ok"], report["problems"]
        assert self.fs.status() == []

    @invariant()
    def reopening_gives_the_same_state(self) -> None:
        again = agentfs.open(self.fs.root, principal=ADMIN)
        try:
            assert self._snapshot(again) == self._snapshot(self.fs)
        finally:
            again.close()

    @initialize()
    def nothing(self) -> None:
        """Hypothesis wants at least one rule or initialize; the store is made in __init__."""


StoreMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("AGENTFS_MODEL_EXAMPLES", "25")), stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestStoreModel = StoreMachine.TestCase
