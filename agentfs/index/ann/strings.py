"""Variable-length records (ids, metadata) as an offsets array plus one byte blob.

A million Python strings cost over 100 MB of heap; the same ids packed into a memory-mapped blob
cost their bytes on disk and nothing in RAM until read. Lookups by id go through a sorted array of
64-bit hashes (``np.searchsorted``), confirmed against the stored string.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from agentfs.index.ann.attributes import string_hash


def pack(texts: Iterable[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets int64 (n+1,), blob uint8)`` holding the byte strings back to back."""
    items = list(texts)
    lengths = np.fromiter((len(t) for t in items), dtype=np.int64, count=len(items))
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    blob = np.frombuffer(b"".join(items), dtype=np.uint8)
    return offsets, blob


def unpack_one(offsets: np.ndarray, blob: np.ndarray, row: int) -> bytes:
    return blob[int(offsets[row]) : int(offsets[row + 1])].tobytes()


def encode_metadata(metadata: dict[str, Any]) -> bytes:
    """Metadata as compact JSON (scalar values are returned exactly as stored)."""
    return json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_metadata(raw: bytes) -> dict[str, Any]:
    return json.loads(raw.decode("utf-8"))


def id_hashes(ids: Sequence[str]) -> np.ndarray:
    return np.fromiter((string_hash(i) for i in ids), dtype=np.uint64, count=len(ids))


def hash_index(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted hashes uint64, rows int32)``: the lookup table of :func:`find_rows`."""
    hashes = id_hashes(ids)
    order = np.argsort(hashes, kind="stable")
    return hashes[order], order.astype(np.int32)


def find_rows(
    ids: Sequence[str], sorted_hashes: np.ndarray, hash_rows: np.ndarray, id_offsets: np.ndarray, id_blob: np.ndarray
) -> np.ndarray:
    """Row of each id in a packed table, -1 where absent (one ``searchsorted`` for the batch)."""
    out = np.full(len(ids), -1, dtype=np.int64)
    if not len(ids) or not len(sorted_hashes):
        return out
    wanted = id_hashes(ids)
    starts = np.searchsorted(sorted_hashes, wanted, side="left")
    for i, (name, start) in enumerate(zip(ids, starts.tolist(), strict=True)):
        encoded = name.encode("utf-8", "surrogatepass")
        # Equal hashes are adjacent; almost always there is exactly one candidate.
        position = start
        while position < len(sorted_hashes) and sorted_hashes[position] == wanted[i]:
            row = int(hash_rows[position])
            if unpack_one(id_offsets, id_blob, row) == encoded:
                out[i] = row
                break
            position += 1
    return out
