"""Public value types returned by :class:`agentfs.ContextFS`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from agentfs.timefmt import iso


@dataclass(frozen=True)
class FileInfo:
    """System and user metadata of one namespace entry, as seen by one principal.

    ``meta`` holds the user fields (front matter, or the sidecar of a non-Markdown file);
    everything else is a system field kept in the catalog. ``permissions`` lists the actions the
    asking principal may perform on this entry (the mount turns them into mode bits).
    """

    path: str
    kind: str  # file | dir | symlink
    size: int
    version: int
    mode: int
    owner: str
    author: str
    created_ns: int
    modified_ns: int
    ino: int
    hash: str | None = None
    tokens: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    provenance: list[dict[str, Any]] = field(default_factory=list)
    mount: str = "/"
    provider: str = "files"
    read_only: bool = False
    append_only: bool = False
    executable: bool = False
    virtual: bool = False
    permissions: tuple[str, ...] = ()
    deleted: bool = False

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1] or "/"

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"

    def with_permissions(self, permissions: tuple[str, ...]) -> FileInfo:
        return replace(self, permissions=permissions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "kind": self.kind,
            "size": self.size,
            "version": self.version,
            "tokens": self.tokens,
            "hash": self.hash,
            "mode": oct(self.mode),
            "owner": self.owner,
            "author": self.author,
            "created": iso(self.created_ns),
            "modified": iso(self.modified_ns),
            "ino": self.ino,
            "mount": self.mount,
            "provider": self.provider,
            "read_only": self.read_only,
            "append_only": self.append_only,
            "meta": self.meta,
            "provenance": self.provenance,
            "permissions": list(self.permissions),
            "deleted": self.deleted,
        }


@dataclass(frozen=True)
class Change:
    """One difference between the plain tree and the catalog (``agentfs status``)."""

    path: str
    change: str  # added | modified | deleted
    kind: str
    problem: str | None = None  # why sync would refuse it (bad front matter, append-only, ...)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "change": self.change, "kind": self.kind, "problem": self.problem}


@dataclass(frozen=True)
class SearchHit:
    """One search result: a file (and the chunk of it that matched), with its fused score."""

    path: str
    version: int
    score: float
    kind: str = "file"
    snippet: str = ""
    span: tuple[int, int] | None = None  # character span of the matching chunk in the file
    lexical_rank: int | None = None
    dense_rank: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "version": self.version,
            "score": round(self.score, 6),
            "kind": self.kind,
            "snippet": self.snippet,
            "span": list(self.span) if self.span else None,
            "lexical_rank": self.lexical_rank,
            "dense_rank": self.dense_rank,
            "meta": self.meta,
        }
