"""What the index stores about each vector besides the vector: id, metadata and filter attributes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agentfs.index.ann.attributes import AttributeEncoder, Attributes
from agentfs.index.ann.strings import encode_metadata


@dataclass
class Records:
    """Ids, encoded metadata and filter attributes of ``n`` vectors, in row order."""

    ids: list[str]
    metadata: list[bytes]
    attributes: Attributes

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_metadatas(cls, ids: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> Records:
        """Validate and encode what a caller passed to ``build`` or ``upsert``.

        Raises:
            ValueError: ids repeat, are not strings, or the metadata is not JSON-able.
        """
        ids = [check_id(i) for i in ids]
        if len(set(ids)) != len(ids):
            raise ValueError("ids must be unique within one build")
        encoder = AttributeEncoder()
        blobs = []
        for meta in metadatas:
            blobs.append(encode_metadata(check_metadata(meta)))
            encoder.append(meta)
        return cls(ids, blobs, encoder.finish())

    def take(self, rows: np.ndarray) -> Records:
        picked = rows.tolist()
        return Records([self.ids[r] for r in picked], [self.metadata[r] for r in picked], self.attributes.take(rows))

    @staticmethod
    def concat(first: Records, second: Records) -> Records:
        """Rows of ``first`` then ``second``; owner and kind ids of ``second`` are re-interned."""
        encoder = AttributeEncoder(first.attributes.owners, first.attributes.kinds)
        # The trailing -1 maps "missing" (-1) to itself through negative indexing.
        owner_map = np.array([encoder.owner_id(o) for o in second.attributes.owners] + [-1], dtype=np.int32)
        kind_map = np.array([encoder.kind_id(k) for k in second.attributes.kinds] + [-1], dtype=np.int32)
        a, b = first.attributes, second.attributes
        levels = max(len(a.prefix_hash), len(b.prefix_hash))
        prefix = np.zeros((levels, len(first) + len(second)), dtype=np.uint64)
        prefix[: len(a.prefix_hash), : len(first)] = a.prefix_hash
        prefix[: len(b.prefix_hash), len(first):] = b.prefix_hash
        attributes = Attributes(
            np.concatenate([a.path_hash, b.path_hash]), prefix,
            np.concatenate([a.owner, owner_map[b.owner]]).astype(np.int32),
            np.concatenate([a.kind, kind_map[b.kind]]).astype(np.int32),
            encoder.owners, encoder.kinds,
        )
        return Records(first.ids + second.ids, first.metadata + second.metadata, attributes)


def check_id(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"ids must be strings, got {type(value).__name__}")
    return value


def check_metadata(meta: Any) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise ValueError(f"metadata must be a dict, got {type(meta).__name__}")
    return meta
