"""``AgentFSByteStore``: LangChain's key-value ``BaseStore[str, bytes]`` over one folder.

Each key is one file in the folder (``<folder>/<key>``), so every value is versioned, governed
and audited like any other file, and a shell user sees the keys with ``ls``. Keys are file names:
characters a name cannot hold are percent-encoded (see ``agentfs.integrations._names``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from langchain_core.stores import BaseStore

from agentfs import paths
from agentfs.errors import NotFoundError
from agentfs.fs import ContextFS
from agentfs.integrations._names import decode_name, encode_name


class AgentFSByteStore(BaseStore[str, bytes]):
    """Key-value storage of bytes in a folder of an agentfs store.

    Args:
        fs: the store, as the principal the values are read and written as.
        folder: the namespace folder that holds one file per key (created on first write).

    Example:
        >>> store = AgentFSByteStore(agentfs.open("./ctx"), "/knowledge/cache")  # doctest: +SKIP
        >>> store.mset([("greeting", b"hello")])                                # doctest: +SKIP
    """

    def __init__(self, fs: ContextFS, folder: str) -> None:
        self.fs = fs
        self.folder = paths.normalize(folder)

    def _path(self, key: str) -> str:
        return paths.join(self.folder, encode_name(key))

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values of ``keys``; ``None`` for a key with no file. A denied read raises."""
        out: list[bytes | None] = []
        for key in keys:
            try:
                out.append(self.fs.read(self._path(key)))
            except NotFoundError:
                out.append(None)
        return out

    def mset(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> None:
        """Write every pair in one commit: all land or none do."""
        if not key_value_pairs:
            return
        self.fs.write_many([(self._path(key), bytes(value)) for key, value in key_value_pairs])

    def mdelete(self, keys: Sequence[str]) -> None:
        """Delete keys (restorable from history); missing keys are ignored."""
        for key in dict.fromkeys(keys):
            try:
                self.fs.rm(self._path(key))
            except NotFoundError:
                continue

    def yield_keys(self, *, prefix: str | None = None) -> Iterator[str]:
        """Every key in the folder (optionally only those starting with ``prefix``), sorted."""
        try:
            entries = self.fs.ls(self.folder)
        except NotFoundError:
            return
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.kind != "file":
                continue
            key = decode_name(entry.name)
            if prefix is None or key.startswith(prefix):
                yield key
