"""The append-only delta log: every upsert and delete since the main file was written.

Layout::

    header  32 bytes: magic "AGFS-LOG", version u16, 0 u16, dim u32, generation u64,
            CRC-32 of the previous 24 bytes u32, 0 u32
    record  payload length u32, CRC-32 of the payload u32, payload
    payload op u8 (1 upsert, 2 delete), count u32, then for upserts count * dim float32,
            then UTF-8 JSON: {"ids": [...]} plus "metadatas": [...] for upserts

One record is one ``upsert`` or ``delete`` call, so a batch is all-or-nothing. A process killed
mid-append leaves a torn last record; replay stops at the first record whose length or checksum
does not hold, and the next append cuts the file back to the last good record first. The log is
only ever appended to, or replaced whole (written to a temporary file and renamed) when a
compaction folds it into a new main file.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agentfs.index.ann.errors import AnnFormatError
from agentfs.index.ann.fileformat import fsync_directory, temporary_name

LOG_MAGIC = b"AGFS-LOG"
LOG_VERSION = 1
_HEADER = struct.Struct("<8sHHIQI")  # magic, version, 0, dim, generation, crc
HEADER_SIZE = 32
_RECORD = struct.Struct("<II")  # payload length, payload crc
_OP = struct.Struct("<BI")  # op, count
UPSERT, DELETE = 1, 2
# A record longer than this is corruption, not data (a batch of 1M 4096-d vectors is 16 GiB).
_MAX_RECORD = 1 << 34


@dataclass
class Operation:
    """One logged call: ``op`` is UPSERT or DELETE; ``end`` is the log offset just after it."""

    op: int
    ids: list[str]
    vectors: np.ndarray | None
    metadatas: list[dict[str, Any]] | None
    end: int


def _header(dim: int, generation: int) -> bytes:
    head = _HEADER.pack(LOG_MAGIC, LOG_VERSION, 0, dim, generation, 0)
    crc = zlib.crc32(head[: _HEADER.size - 4])
    return _HEADER.pack(LOG_MAGIC, LOG_VERSION, 0, dim, generation, crc).ljust(HEADER_SIZE, b"\0")


def encode_upsert(ids: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]]) -> bytes:
    body = json.dumps({"ids": ids, "metadatas": metadatas}, separators=(",", ":"), ensure_ascii=False)
    return _OP.pack(UPSERT, len(ids)) + np.ascontiguousarray(vectors, dtype="<f4").tobytes() + body.encode()


def encode_delete(ids: list[str]) -> bytes:
    return _OP.pack(DELETE, len(ids)) + json.dumps({"ids": ids}, ensure_ascii=False).encode()


class DeltaLog:
    """An open delta log. Create one with :meth:`create` or open one with :meth:`open`.

    Attributes:
        dim: Vector dimension.
        generation: Which main-file generation this log continues.
        valid_end: Offset just after the last intact record.
    """

    def __init__(self, path: Path, dim: int, generation: int, valid_end: int) -> None:
        self.path = Path(path)
        self.dim = dim
        self.generation = generation
        self.valid_end = valid_end
        self._handle: Any = None

    @classmethod
    def create(cls, path: Path, dim: int, generation: int, records: bytes = b"") -> DeltaLog:
        """Write a new log (header plus ``records``) atomically over ``path``."""
        path = Path(path)
        temporary = temporary_name(path)
        with open(temporary, "wb") as handle:
            handle.write(_header(dim, generation))
            handle.write(records)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        fsync_directory(path.parent)
        return cls(path, dim, generation, HEADER_SIZE + len(records))

    @classmethod
    def read_header(cls, path: Path) -> tuple[int, int]:
        """``(dim, generation)`` of the log at ``path``.

        Raises:
            AnnFormatError: not a delta log, or a damaged header.
        """
        with open(path, "rb") as handle:
            head = handle.read(HEADER_SIZE)
        if len(head) < HEADER_SIZE or head[:8] != LOG_MAGIC:
            raise AnnFormatError(f"{path}: not an agentfs ANN delta log", path=str(path))
        _magic, version, _zero, dim, generation, crc = _HEADER.unpack_from(head)
        if version != LOG_VERSION:
            raise AnnFormatError(f"{path}: delta log version {version}; this agentfs reads {LOG_VERSION}",
                                 path=str(path))
        if zlib.crc32(head[: _HEADER.size - 4]) != crc or dim <= 0:
            raise AnnFormatError(f"{path}: delta log header checksum mismatch", path=str(path))
        return dim, generation

    @classmethod
    def open(cls, path: Path) -> tuple[DeltaLog, list[Operation]]:
        """Open a log and replay it: every intact operation, in order.

        Raises:
            AnnFormatError: the header is not a valid delta log header.
        """
        dim, generation = cls.read_header(path)
        log = cls(path, dim, generation, HEADER_SIZE)
        operations = list(log.replay(HEADER_SIZE))
        log.valid_end = operations[-1].end if operations else HEADER_SIZE
        return log, operations

    def replay(self, start: int) -> Iterator[Operation]:
        """Intact operations from ``start`` on (stops silently at a torn or damaged tail)."""
        with open(self.path, "rb") as handle:
            data = handle.read()
        position = max(start, HEADER_SIZE)
        while position + _RECORD.size <= len(data):
            length, crc = _RECORD.unpack_from(data, position)
            body_start = position + _RECORD.size
            if length > _MAX_RECORD or body_start + length > len(data):
                return
            payload = data[body_start : body_start + length]
            if zlib.crc32(payload) != crc:
                return
            operation = self._decode(payload, body_start + length)
            if operation is None:
                return
            yield operation
            position = body_start + length

    def _decode(self, payload: bytes, end: int) -> Operation | None:
        # The checksum held, so a payload that does not parse was written by something else:
        # treat it like a torn tail (stop) rather than failing the whole index.
        try:
            op, count = _OP.unpack_from(payload)
            offset = _OP.size
            vectors = None
            if op == UPSERT:
                size = count * self.dim * 4
                vectors = np.frombuffer(payload, dtype="<f4", count=count * self.dim, offset=offset)
                vectors = vectors.reshape(count, self.dim)
                offset += size
            elif op != DELETE:
                return None
            body = json.loads(payload[offset:].decode("utf-8"))
            ids = [str(i) for i in body["ids"]]
            metadatas = body.get("metadatas") if op == UPSERT else None
            if len(ids) != count or (op == UPSERT and (not isinstance(metadatas, list) or len(metadatas) != count)):
                return None
            return Operation(op, ids, vectors, metadatas, end)
        except (ValueError, KeyError, TypeError, struct.error):
            return None

    def append(self, payload: bytes, *, durable: bool = False) -> int:
        """Append one record; returns the offset after it.

        Args:
            payload: From :func:`encode_upsert` or :func:`encode_delete`.
            durable: fsync before returning (survives power loss, not only a killed process).
        """
        if self._handle is None:
            self._handle = open(self.path, "r+b")  # noqa: SIM115 - closed in close()
            # Cut a torn tail left by a crash, so the new record follows the last intact one.
            self._handle.truncate(self.valid_end)
        record = _RECORD.pack(len(payload), zlib.crc32(payload)) + payload
        self._handle.seek(self.valid_end)
        self._handle.write(record)
        self._handle.flush()
        if durable:
            os.fsync(self._handle.fileno())
        self.valid_end += len(record)
        return self.valid_end

    def tail_bytes(self, start: int) -> bytes:
        """The raw records from ``start`` to the last intact one (carried into a new log)."""
        with open(self.path, "rb") as handle:
            handle.seek(start)
            return handle.read(self.valid_end - start)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
