"""Row types the store hands upward. Plain frozen dataclasses, built straight from SQLite tuples."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

NODE_COLUMNS = (
    "id, path, parent, kind, version, hash, size, tokens, mode, owner, author, "
    "created_ns, modified_ns, meta, provenance, deleted"
)
VERSION_COLUMNS = (
    "node_id, version, op, path, old_path, kind, hash, size, tokens, mode, meta, provenance, "
    "author, time_ns, message"
)


@dataclass(frozen=True)
class Node:
    """A catalog entry (live or tombstoned)."""

    id: int
    path: str
    parent: str
    kind: str
    version: int
    hash: str | None
    size: int
    tokens: int | None
    mode: int
    owner: str
    author: str
    created_ns: int
    modified_ns: int
    meta_json: str
    provenance_json: str | None
    deleted: int

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Node:
        return cls(*row)

    @property
    def meta(self) -> dict[str, Any]:
        return json.loads(self.meta_json) if self.meta_json else {}

    @property
    def provenance(self) -> list[dict[str, Any]]:
        return json.loads(self.provenance_json) if self.provenance_json else []

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"


@dataclass(frozen=True)
class Version:
    """One immutable version of a node."""

    node_id: int
    version: int
    op: str
    path: str
    old_path: str | None
    kind: str
    hash: str | None
    size: int
    tokens: int | None
    mode: int
    meta_json: str
    provenance_json: str | None
    author: str
    time_ns: int
    message: str | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Version:
        return cls(*row)

    @property
    def meta(self) -> dict[str, Any]:
        return json.loads(self.meta_json) if self.meta_json else {}

    @property
    def provenance(self) -> list[dict[str, Any]]:
        return json.loads(self.provenance_json) if self.provenance_json else []

    def to_dict(self) -> dict[str, Any]:
        from agentfs.timefmt import iso

        return {
            "version": self.version,
            "op": self.op,
            "path": self.path,
            "old_path": self.old_path,
            "kind": self.kind,
            "hash": self.hash,
            "size": self.size,
            "tokens": self.tokens,
            "author": self.author,
            "time": iso(self.time_ns),
            "message": self.message,
            "meta": self.meta,
            "provenance": self.provenance,
        }


@dataclass(frozen=True)
class AuditEntry:
    id: int
    time_ns: int
    principal: str
    action: str
    path: str
    decision: str
    reason: str
    version: int | None
    detail: str | None
    chain: str

    def to_dict(self) -> dict[str, Any]:
        from agentfs.timefmt import iso

        return {
            "id": self.id,
            "time": iso(self.time_ns),
            "principal": self.principal,
            "action": self.action,
            "path": self.path,
            "decision": self.decision,
            "reason": self.reason,
            "version": self.version,
            "detail": json.loads(self.detail) if self.detail else None,
        }


@dataclass(frozen=True)
class Event:
    """An outbox event: something changed at ``path`` (op, version)."""

    seq: int
    time_ns: int
    op: str
    node_id: int
    path: str
    old_path: str | None
    version: int
    kind: str
