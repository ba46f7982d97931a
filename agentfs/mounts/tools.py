"""``/tools``: tools as folders, each with a virtual ``call`` file.

A tool is a folder holding ``entry.json`` (see :mod:`agentfs.runtime.tooldefs`); its files are
ordinary governed files. Next to them the provider shows one virtual file, ``call``:

- reading it returns the result of the asking principal's last call made through it (empty before
  the first one); results are kept per principal, in the process that serves the mount;
- writing JSON arguments to it *on the mount* runs the tool: opening it for writing takes ``exec``
  on the tool; the FUSE adapter hands the bytes written to
  ``fs.service("tools").write_call(fs, path, data)`` as soon as they form a whole JSON value (so
  ``write(2)`` itself fails with the call's error), or at flush/close otherwise. That goes through
  ``ContextFS.exec`` (exec permission, argument schema, audit, history); nothing is committed.

Through the API and the CLI, ``call`` cannot be written (EROFS): run a tool with ``fs.exec`` or
``agentfs exec``.
"""

from __future__ import annotations

import io
import zlib
from typing import TYPE_CHECKING, BinaryIO

from agentfs import paths
from agentfs.errors import ReadOnlyError
from agentfs.mounts.base import Capabilities
from agentfs.mounts.files import CatalogProvider
from agentfs.types import FileInfo

if TYPE_CHECKING:
    from agentfs.fs import ContextFS

CALL = "call"
ENTRY = "entry.json"
CALL_MODE = 0o100660


class ToolsProvider(CatalogProvider):
    """Tools as folders (schema.json, README.md, entry.json) plus a virtual ``call`` file each."""

    name = "tools"
    capabilities = Capabilities(executable=True)

    def is_tool(self, path: str) -> bool:
        node = self.store.node(paths.join(path, ENTRY)) if path != "/" else None
        return node is not None and node.kind == "file"

    def is_call(self, path: str) -> bool:
        """True for ``<tool>/call`` when no real file of that name exists."""
        return paths.name(path) == CALL and self.is_tool(paths.parent(path)) and self.store.node(path) is None

    def _call_info(self, path: str, fs: ContextFS) -> FileInfo:
        size = len(fs.service("tools").read_call(fs, path))
        return FileInfo(path=path, kind="file", size=size, version=1, mode=CALL_MODE, owner="system",
                        author="system", created_ns=0, modified_ns=0, ino=(1 << 41) + zlib.crc32(path.encode()),
                        mount=self.spec.path, provider=self.name, executable=True, virtual=True)

    def stat(self, path: str, fs: ContextFS) -> FileInfo:
        if self.is_call(path):
            return self._call_info(path, fs)
        return super().stat(path, fs)

    def list(self, path: str, fs: ContextFS) -> list[FileInfo]:
        entries = super().list(path, fs)
        if self.is_tool(path) and not any(e.name == CALL for e in entries):
            entries.append(self._call_info(paths.join(path, CALL), fs))
        return entries

    def open(self, path: str, fs: ContextFS, version: int | None = None) -> BinaryIO:
        if self.is_call(path):
            return io.BytesIO(fs.service("tools").read_call(fs, path))
        return super().open(path, fs, version)

    def check_change(self, op: str, path: str, *, exists: bool, admin: bool, principal: str) -> None:
        if paths.name(path) == CALL and self.is_tool(paths.parent(path)):
            raise ReadOnlyError(
                f"{path} is a tool's virtual call file: run the tool with `agentfs exec` or fs.exec "
                "(on the mount, write JSON arguments to it and read the result back)",
                path=path,
            )
        super().check_change(op, path, exists=exists, admin=admin, principal=principal)
