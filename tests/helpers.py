"""Helpers for tests of every area (import from ``tests.helpers``)."""

from __future__ import annotations

import os
from pathlib import Path

from agentfs.fs import ContextFS

ADMIN = "user:admin"  # the administrator of every store the ``store`` fixture makes


def as_agent(fs: ContextFS, principal: str, actions: str | None = None, path: str = "/") -> ContextFS:
    """A handle for ``principal``; with ``actions``, the admin grants them on ``path`` first."""
    if actions:
        fs.as_principal(ADMIN).grant(principal, actions, path)
    return fs.as_principal(principal)


def plain_tree(root: Path) -> dict[str, bytes | None]:
    """The plain tree of a store without ``.agentfs``: namespace path -> bytes (None for dirs)."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d != ".agentfs"]
        rel = "/" + os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel = "" if rel == "/." else rel
        for name in dirnames:
            out[f"{rel}/{name}"] = None
        for name in filenames:
            out[f"{rel}/{name}"] = (Path(dirpath) / name).read_bytes()
    return out


def denials(fs: ContextFS, principal: str, path: str | None = None) -> list:
    """Audit rows of denials for ``principal`` (read through the admin's handle)."""
    rows = fs.as_principal(ADMIN).audit(principal=principal, decision="deny", limit=100_000)
    return [r for r in rows if path is None or r.path == path]
