"""agentfs: everything an agent knows or can do is a governed file.

    >>> import agentfs
    >>> fs = agentfs.init("./ctx")                       # doctest: +SKIP
    >>> fs.write("/memory/semantic/coffee.md", "Ana drinks oat-milk flat whites\\n")  # doctest: +SKIP
    >>> agent = fs.as_principal("agent:planner")          # every call on `agent` is checked
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentfs.errors import (
    AgentFSError,
    AlreadyExistsError,
    ConflictError,
    DirectoryNotEmptyError,
    IndexMismatchError,
    InvalidPathError,
    NotFoundError,
    OperationNotPermittedError,
    PermissionDeniedError,
    ReadOnlyError,
    StoreError,
    TooLargeError,
    ValidationError,
)
from agentfs.fs import ContextFS, find_store, is_store
from agentfs.governance.policy import Decision
from agentfs.types import Change, FileInfo, SearchHit

__version__ = "0.1.0"

from agentfs.services import register_default_services

register_default_services()


def init(root: str | Path, *, admin: str | None = None, mounts: Any = None, sync: str = "normal") -> ContextFS:
    """Create a store at ``root`` and return a handle acting as its administrator."""
    return ContextFS.init(root, admin=admin, mounts=mounts, sync=sync)


def open(root: str | Path, *, principal: str | None = None, sync: str | None = None) -> ContextFS:
    """Open the store at ``root`` as ``principal`` (default: ``$AGENTFS_PRINCIPAL`` or the local user)."""
    return ContextFS.open(root, principal=principal, sync=sync)


__all__ = [
    "AgentFSError",
    "AlreadyExistsError",
    "Change",
    "ConflictError",
    "ContextFS",
    "Decision",
    "DirectoryNotEmptyError",
    "FileInfo",
    "IndexMismatchError",
    "InvalidPathError",
    "NotFoundError",
    "OperationNotPermittedError",
    "PermissionDeniedError",
    "ReadOnlyError",
    "SearchHit",
    "StoreError",
    "TooLargeError",
    "ValidationError",
    "__version__",
    "find_store",
    "init",
    "is_store",
    "open",
]
