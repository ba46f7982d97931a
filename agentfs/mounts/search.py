"""``/.search/<query>/``: a read-only virtual view of ranked search results.

``ls /.search/how does Ana take her coffee/`` lists the hits, best first, as ``01-coffee.md``,
``02-...``; reading one returns the hit's content (read as the asking principal, so a result the
principal may not read never appears). ``results.json`` holds paths, versions and scores.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, BinaryIO

from agentfs import paths
from agentfs.errors import NotFoundError
from agentfs.mounts.base import Capabilities, Provider
from agentfs.types import FileInfo

if TYPE_CHECKING:
    from agentfs.fs import ContextFS

DEFAULT_K = 10
_ROOT_MODE = 0o555
_FILE_MODE = 0o444


class SearchProvider(Provider):
    name = "search"
    capabilities = Capabilities(read_only=True, versioned=False, virtual=True, supports_xattr=False)

    def _dir_info(self, path: str) -> FileInfo:
        return FileInfo(path=path, kind="dir", size=0, version=1, mode=_ROOT_MODE, owner="system",
                        author="system", created_ns=0, modified_ns=0, ino=_ino(path), mount=self.spec.path,
                        provider=self.name, read_only=True, virtual=True)

    def _results(self, query: str, fs: ContextFS) -> list[tuple[str, FileInfo, dict]]:
        hits = fs.search(query, k=DEFAULT_K)
        out = []
        for rank, hit in enumerate(hits, start=1):
            name = f"{rank:02d}-{paths.name(hit.path)}"
            info = fs.stat(hit.path)
            out.append((name, info, hit.to_dict()))
        return out

    def _split(self, path: str) -> tuple[str | None, str | None]:
        rest = paths.relative_to(path, self.spec.path)
        if not rest:
            return None, None
        query, _, entry = rest.partition("/")
        return query, (entry or None)

    def stat(self, path: str, fs: ContextFS) -> FileInfo:
        query, entry = self._split(path)
        if query is None or entry is None:
            return self._dir_info(path)
        results = self._results(query, fs)
        if entry == "results.json":
            body = self._json(results)
            return self._file_info(path, len(body))
        for name, info, _ in results:
            if name == entry:
                return self._file_info(path, info.size)
        raise NotFoundError(f"{path}: no such search result", path=path)

    def _file_info(self, path: str, size: int) -> FileInfo:
        return FileInfo(path=path, kind="file", size=size, version=1, mode=_FILE_MODE, owner="system",
                        author="system", created_ns=0, modified_ns=0, ino=_ino(path), mount=self.spec.path,
                        provider=self.name, read_only=True, virtual=True)

    def _json(self, results: list[tuple[str, FileInfo, dict]]) -> bytes:
        return json.dumps([{"entry": name, **hit} for name, _, hit in results], indent=2).encode() + b"\n"

    def list(self, path: str, fs: ContextFS) -> list[FileInfo]:
        query, entry = self._split(path)
        if query is None:
            return []
        if entry is not None:
            raise NotFoundError(f"{path} is not a directory", path=path)
        results = self._results(query, fs)
        infos = [self._file_info(paths.join(path, name), info.size) for name, info, _ in results]
        infos.append(self._file_info(paths.join(path, "results.json"), len(self._json(results))))
        return infos

    def open(self, path: str, fs: ContextFS, version: int | None = None) -> BinaryIO:
        query, entry = self._split(path)
        if query is None or entry is None:
            raise NotFoundError(f"{path} is a directory", path=path)
        results = self._results(query, fs)
        if entry == "results.json":
            return io.BytesIO(self._json(results))
        for name, info, _ in results:
            if name == entry:
                return io.BytesIO(fs.read(info.path))
        raise NotFoundError(f"{path}: no such search result", path=path)


def _ino(path: str) -> int:
    # Virtual entries get stable inode numbers far above catalog ids.
    import zlib

    return (1 << 40) + zlib.crc32(path.encode())
