"""Catalog-backed providers: governed files, append-only history, read-only contexts."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, BinaryIO

from agentfs.errors import IsADirectoryError_, NotFoundError, OperationNotPermittedError, ReadOnlyError
from agentfs.governance.policy import EXTERNAL, SYSTEM
from agentfs.mounts.base import Capabilities, Provider
from agentfs.store.records import Node
from agentfs.types import FileInfo

if TYPE_CHECKING:
    from agentfs.fs import ContextFS


class CatalogProvider(Provider):
    """Governed files in the store: versioned, with metadata, ACL-checked by ContextFS."""

    name = "files"
    capabilities = Capabilities()

    def info(self, node: Node) -> FileInfo:
        return FileInfo(
            path=node.path,
            kind=node.kind,
            size=node.size,
            version=node.version,
            mode=node.mode,
            owner=node.owner,
            author=node.author,
            created_ns=node.created_ns,
            modified_ns=node.modified_ns,
            ino=node.id,
            hash=node.hash,
            tokens=node.tokens,
            meta=node.meta,
            provenance=node.provenance,
            mount=self.spec.path,
            provider=self.name,
            read_only=self.capabilities.read_only,
            append_only=self.capabilities.append_only,
            executable=self.capabilities.executable,
            deleted=bool(node.deleted),
        )

    def stat(self, path: str, fs: ContextFS) -> FileInfo:
        node = self.store.node(path)
        if node is None:
            raise NotFoundError(f"{path} does not exist", path=path)
        return self.info(node)

    def list(self, path: str, fs: ContextFS) -> list[FileInfo]:
        return [self.info(n) for n in self.store.children(path)]

    def open(self, path: str, fs: ContextFS, version: int | None = None) -> BinaryIO:
        if version is None:
            head = self.store.head(path)  # the hot path of every read: two columns, no Node
            if head is None:
                raise NotFoundError(f"{path} does not exist", path=path)
            kind, digest = head
            if kind == "dir":
                raise IsADirectoryError_(f"{path} is a directory", path=path)
            return self.store.objects.open(digest) if digest is not None else io.BytesIO(b"")
        node = self.store.node(path) or self.store.tombstone(path)
        if node is None:
            raise NotFoundError(f"{path} does not exist", path=path)
        row = self.store.version(node.id, version)
        if row is None or row.hash is None:
            raise NotFoundError(f"{path} has no content at version {version} (see `agentfs log`)", path=path)
        return self.store.objects.open(row.hash)


class HistoryProvider(CatalogProvider):
    """The interaction log: entries can be created and appended to, never rewritten or removed.

    Only an administrator may overwrite, truncate, delete or rename history (to redact it); for
    everyone else those give EPERM, on the API and on the mount alike.
    """

    name = "history"
    capabilities = Capabilities(append_only=True)

    def check_change(self, op: str, path: str, *, exists: bool, admin: bool, principal: str) -> None:
        # `external` (edits found in the plain files) passes every ACL, but a text editor
        # rewriting history is exactly what append-only must stop: it gets no redaction right.
        if admin and principal != EXTERNAL:
            return
        if op in ("create", "append", "mkdir") or (op == "write" and not exists):
            return
        raise OperationNotPermittedError(
            f"{path}: {self.spec.path} is append-only; '{op}' is not allowed (entries can only be added)",
            path=path,
            rule="history_append_only",
        )


class ContextProvider(CatalogProvider):
    """Assembled contexts: written by the pipeline (principal ``system``), read-only to everyone."""

    name = "context"
    capabilities = Capabilities(read_only=True, default_search=False)

    def check_change(self, op: str, path: str, *, exists: bool, admin: bool, principal: str) -> None:
        if principal == SYSTEM:
            return
        raise ReadOnlyError(
            f"{path}: {self.spec.path} is read-only; contexts are written by `agentfs context build`",
            path=path,
        )
