"""Per-vector filter attributes as compact arrays, and :class:`VectorFilter` as a vectorised mask.

An access filter must run *inside* the index (before ranking) so it cannot empty the top-k, and
it must cost a few numpy passes, not a Python call per vector. Each vector keeps:

- ``path_hash``: a 64-bit hash of its whole path;
- ``prefix_hash[level]``: a 64-bit hash of ``path[:i]`` for the ``level``-th ``/`` at position
  ``i`` (0 when the path has fewer slashes). "``path`` is within ``P``" is exactly
  ``path == P or path.startswith(P.rstrip("/") + "/")`` (see :func:`~agentfs.index.backend.path_within`),
  which becomes ``path_hash == h(P) or prefix_hash[level(P')] == h(P')`` with
  ``P' = P.rstrip("/")`` and ``level(P') = P'.count("/")``;
- ``owner`` and ``kind``: small integers into per-file string tables (-1: missing).

Hash collisions (about one in 2**64 per pair of strings) could only widen the mask; the index
re-checks the final hits with :meth:`VectorFilter.matches`, so a filter never leaks.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agentfs.index.backend import VectorFilter

MISSING = -1
# Paths whose hashes an encoder remembers (the chunks of one file arrive together).
_PATH_MEMO = 1 << 16


@functools.lru_cache(maxsize=1 << 16)
def string_hash(text: str) -> int:
    """A stable, non-zero 64-bit hash (0 marks "no prefix at this level")."""
    value = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
    return value or 1


def prefix_hashes(path: str) -> list[int]:
    """Hashes of ``path[:i]`` for every ``i`` where ``path[i] == "/"``, shallowest first."""
    return [string_hash(path[:i]) for i, char in enumerate(path) if char == "/"]


@dataclass
class Attributes:
    """Filter attributes of ``n`` vectors (rows), plus the string tables the ids point into.

    Attributes:
        path_hash: ``uint64 (n,)``.
        prefix_hash: ``uint64 (levels, n)``: row ``l`` holds the prefix ending at the l-th slash.
        owner: ``int32 (n,)`` index into ``owners`` or -1.
        kind: ``int32 (n,)`` index into ``kinds`` or -1.
        owners: Owner names.
        kinds: Kind names.
    """

    path_hash: np.ndarray
    prefix_hash: np.ndarray
    owner: np.ndarray
    kind: np.ndarray
    owners: list[str]
    kinds: list[str]

    def __post_init__(self) -> None:
        self._owner_ids = {name: i for i, name in enumerate(self.owners)}
        self._kind_ids = {name: i for i, name in enumerate(self.kinds)}

    @property
    def rows(self) -> int:
        return len(self.path_hash)

    @classmethod
    def from_metadatas(cls, metadatas: Sequence[dict[str, Any]]) -> Attributes:
        """Compute the attributes of vectors from their metadata (``path``, ``owner``, ``kind``)."""
        encoder = AttributeEncoder()
        for meta in metadatas:
            encoder.append(meta)
        return encoder.finish()

    def mask(self, where: VectorFilter) -> np.ndarray:
        """Boolean ``(n,)``: which rows ``where`` allows (same semantics as ``where.matches``)."""
        n = self.rows
        allowed = np.ones(n, dtype=bool)
        for prefix in where.exclude_prefixes:
            allowed &= ~self._within(prefix)
        if where.include_prefixes is not None:
            inside = np.zeros(n, dtype=bool)
            for prefix in where.include_prefixes:
                inside |= self._within(prefix)
            owner_ids = [self._owner_ids[o] for o in where.owners if o in self._owner_ids]
            if owner_ids:
                inside |= np.isin(self.owner, owner_ids)
            allowed &= inside
        if where.kinds is not None:
            kind_ids = [self._kind_ids[k] for k in where.kinds if k in self._kind_ids]
            allowed &= np.isin(self.kind, kind_ids) if kind_ids else False
        return allowed

    def _within(self, prefix: str) -> np.ndarray:
        if prefix in ("", "/"):
            return np.ones(self.rows, dtype=bool)
        inside = self.path_hash == np.uint64(string_hash(prefix))
        stem = prefix.rstrip("/")
        level = stem.count("/")
        if level < len(self.prefix_hash):
            inside |= self.prefix_hash[level] == np.uint64(string_hash(stem))
        return inside

    def take(self, rows: np.ndarray) -> Attributes:
        """The attributes of a subset of rows (same string tables)."""
        return Attributes(self.path_hash[rows], self.prefix_hash[:, rows], self.owner[rows],
                          self.kind[rows], self.owners, self.kinds)


class AttributeEncoder:
    """Accumulates attributes row by row (the delta buffer grows this way) or all at once."""

    def __init__(self, owners: Sequence[str] = (), kinds: Sequence[str] = ()) -> None:
        self.owners: list[str] = list(owners)
        self.kinds: list[str] = list(kinds)
        self._owner_ids = {name: i for i, name in enumerate(self.owners)}
        self._kind_ids = {name: i for i, name in enumerate(self.kinds)}
        self._paths: dict[str, tuple[int, list[int]]] = {}
        self._path_hash: list[int] = []
        self._prefixes: list[list[int]] = []
        self._owner: list[int] = []
        self._kind: list[int] = []

    def encode(self, meta: dict[str, Any]) -> tuple[int, list[int], int, int]:
        """The attribute tuple of one vector, interning its owner and kind."""
        path = str(meta.get("path", ""))
        hashed = self._paths.get(path)
        if hashed is None:
            # The chunks of one file share its path: hash each path once per encoder.
            if len(self._paths) >= _PATH_MEMO:
                self._paths.clear()
            hashed = self._paths[path] = (string_hash(path), prefix_hashes(path))
        return hashed[0], hashed[1], self.owner_id(meta.get("owner")), self.kind_id(meta.get("kind"))

    def owner_id(self, value: Any) -> int:
        """The table index of an owner, adding it when new (-1 for a non-string)."""
        return self._intern(value, self.owners, self._owner_ids)

    def kind_id(self, value: Any) -> int:
        """The table index of a kind, adding it when new (-1 for a non-string)."""
        return self._intern(value, self.kinds, self._kind_ids)

    @staticmethod
    def _intern(value: Any, names: list[str], ids: dict[str, int]) -> int:
        # VectorFilter compares owners and kinds as given (strings); a non-string value can
        # never equal a filter entry, so it is stored as missing.
        if not isinstance(value, str):
            return MISSING
        index = ids.get(value)
        if index is None:
            index = ids[value] = len(names)
            names.append(value)
        return index

    def append(self, meta: dict[str, Any]) -> None:
        self.append_encoded(self.encode(meta))

    def append_encoded(self, encoded: tuple[int, list[int], int, int]) -> None:
        path_hash, prefixes, owner, kind = encoded
        self._path_hash.append(path_hash)
        self._prefixes.append(prefixes)
        self._owner.append(owner)
        self._kind.append(kind)

    def finish(self) -> Attributes:
        n = len(self._path_hash)
        levels = max((len(p) for p in self._prefixes), default=0)
        prefix_hash = np.zeros((levels, n), dtype=np.uint64)
        for row, prefixes in enumerate(self._prefixes):
            prefix_hash[: len(prefixes), row] = prefixes
        return Attributes(
            np.array(self._path_hash, dtype=np.uint64).reshape(n), prefix_hash,
            np.array(self._owner, dtype=np.int32).reshape(n), np.array(self._kind, dtype=np.int32).reshape(n),
            list(self.owners), list(self.kinds),
        )
