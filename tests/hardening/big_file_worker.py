"""Write and read back one big file through the API in bounded memory, for test_big_files.py.

    python tests/hardening/big_file_worker.py STORE SIZE_MB

Prints one JSON object: the resident-set high-water mark (KiB) before and after, and the SHA-256 of
what was written and of what was read back. The data is generated on the fly, so the only copy of
the whole file is the one in the store.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys

import agentfs

BLOCK = 1024 * 1024


class Generated:
    """A read-only binary stream of ``size`` pseudo-random bytes, made block by block."""

    def __init__(self, size: int) -> None:
        self.size, self.offset = size, 0
        self.hasher = hashlib.sha256()
        self._seed = hashlib.sha256(b"agentfs big file").digest() * (BLOCK // 32)

    def read(self, n: int = -1) -> bytes:
        n = min(self.size - self.offset, BLOCK if n is None or n < 0 else n)
        if n <= 0:
            return b""
        stamp = self.offset.to_bytes(8, "little")
        out = (stamp + self._seed[8:n])[:n] if n >= 8 else stamp[:n]
        self.offset += n
        self.hasher.update(out)
        return out


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    root, size = sys.argv[1], int(sys.argv[2]) * BLOCK
    fs = agentfs.open(root, principal="user:admin")
    fs.write("/knowledge/warm.bin", b"warm up every code path once")
    fs.read("/knowledge/warm.bin")
    before = peak_kib()
    source = Generated(size)
    info = fs.write("/knowledge/big.bin", source)
    after_write = peak_kib()
    reader = hashlib.sha256()
    with fs.open_read("/knowledge/big.bin") as handle:
        while chunk := handle.read(BLOCK):
            reader.update(chunk)
    after_read = peak_kib()
    fs.close()
    print(json.dumps({"before_kib": before, "after_write_kib": after_write, "after_read_kib": after_read,
                      "size": info.size, "written": source.hasher.hexdigest(), "read": reader.hexdigest()}))


if __name__ == "__main__":
    main()
