"""A write storm through a mount, for tests/hardening/test_mount_crash.py. Standard library only.

    python tests/hardening/mount_writer.py MOUNTPOINT TAG SEED

Writes Markdown files under MOUNTPOINT/memory (new files and rewrites), each with open, write and
close (every third one also fsync); after ``close`` returned it prints one line
``ack <path> <sha256>`` (flushed): the write is acknowledged. Prints ``ready`` first and ``dead
<errno>`` when the mount stops answering, then keeps trying until it is killed.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import time


def main() -> None:
    mountpoint, tag, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    print("ready", flush=True)
    for i in range(1_000_000):
        folder = rng.choice(["semantic", "episodic"])
        name = f"{tag}-{i}" if rng.random() < 0.7 else f"{tag}-shared-{rng.randrange(4)}"
        path = f"/memory/{folder}/{name}.md"
        body = f"---\ntags: [mount-storm]\n---\n{tag} write {i} {'m' * rng.randrange(3000)}\n".encode()
        try:
            fd = os.open(mountpoint + path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                for start in range(0, len(body), 1024):  # several write(2) calls per version
                    os.write(fd, body[start:start + 1024])
                if i % 3 == 0:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            print(f"dead {exc.errno}", flush=True)
            time.sleep(0.05)
            continue
        print(f"ack {path} {hashlib.sha256(body).hexdigest()}", flush=True)


if __name__ == "__main__":
    main()
