"""A writer process for tests/core/test_crash.py: commits in a loop, acknowledging each commit.

    python tests/core/crash_writer.py STORE TAG MODE [COUNT]   # starts on a line on stdin

After every call that returned, it prints (and flushes) one line per committed version:
``ack <path> <version> <sha256 or -> <op>``. The parent kills it at random moments and later
checks that every acknowledged version is in the store. Modes:

- ``mixed``   writes with front matter, history appends, batches, renames, deletes and restores;
- ``race``    plain writes to three shared paths (last writer wins, every version kept);
- ``cas``     read-modify-write increments of a shared counter with ``if_version``;
- ``append``  appends of unique lines to one shared history file.
"""

from __future__ import annotations

import hashlib
import os
import sys

import agentfs
from agentfs.errors import ConflictError
from agentfs.tokenizer import count_tokens

ADMIN = "user:admin"


def ack(path: str, version: int, data: bytes | None, op: str) -> None:
    digest = hashlib.sha256(data).hexdigest() if data is not None else "-"
    print(f"ack {path} {version} {digest} {op}", flush=True)


def mixed(fs: agentfs.ContextFS, tag: str, count: int) -> None:
    for i in range(count):
        step = i % 6
        if step == 0:
            path = f"/memory/semantic/note-{i % 7}.md"
            data = f"---\ntags: [crash, run-{tag}]\nimportance: 0.5\n---\nrun {tag} step {i}\n".encode()
            ack(path, fs.write(path, data).version, data, "write")
        elif step == 1:
            path = f"/history/{tag}/turns.md"
            info = fs.append(path, f"turn {i}\n")
            ack(path, info.version, fs.read(path, version=info.version), "append")
        elif step == 2:
            items = [(f"/knowledge/batch/b{j}.txt", f"batch {tag} {i} {j}\n".encode()) for j in range(3)]
            for (path, data), info in zip(items, fs.write_many(items), strict=True):
                ack(path, info.version, data, "write")
        elif step == 3:
            src, dst = "/knowledge/mv/a.txt", "/knowledge/mv/b.txt"
            if not fs.exists(src):
                src, dst = dst, src
            if not fs.exists(src):
                data = f"moving {tag} {i}\n".encode()
                ack(src, fs.write(src, data).version, data, "write")
            info = fs.mv(src, dst)
            ack(dst, info.version, fs.read(dst), "rename")
        elif step == 4:
            path = f"/scratchpad/{tag}/tmp-{i % 3}.txt"
            data = f"scratch {i}\n".encode()
            ack(path, fs.write(path, data).version, data, "write")
            (removed,) = fs.rm(path)
            ack(removed, fs.log(path)[-1].version, None, "delete")
        else:
            path = f"/scratchpad/{tag}/tmp-{(i - 1) % 3}.txt"
            info = fs.restore(path, 1)
            ack(path, info.version, fs.read(path), "restore")


def race(fs: agentfs.ContextFS, tag: str, count: int) -> None:
    for i in range(count):
        path = f"/knowledge/race/shared-{i % 3}.txt"
        data = f"writer {tag} write {i}\n".encode()
        ack(path, fs.write(path, data).version, data, "write")


def cas(fs: agentfs.ContextFS, tag: str, count: int) -> None:
    path = "/knowledge/counter.txt"
    done = conflicts = 0
    while done < count:
        try:
            info = fs.stat(path)
            current, version = int(fs.read(path)), info.version
        except agentfs.NotFoundError:
            current, version = 0, 0
        data = f"{current + 1}\n".encode()
        try:
            new = fs.write(path, data, if_version=version)
        except ConflictError:
            conflicts += 1
            continue
        done += 1
        ack(path, new.version, data, "write")
    print(f"conflicts {conflicts}", flush=True)


def append(fs: agentfs.ContextFS, tag: str, count: int) -> None:
    path = "/history/shared/turns.md"
    for i in range(count):
        info = fs.append(path, f"writer {tag} line {i}\n")
        ack(path, info.version, None, "append")


def run(root: str, tag: str, mode: str, count: int, *, wait: bool = False) -> None:
    fs = agentfs.open(root, principal=ADMIN)
    print(f"ready {tag} {os.getpid()}", flush=True)
    if wait:  # a start line on stdin, so writers started one after another really overlap
        sys.stdin.readline()
    {"mixed": mixed, "race": race, "cas": cas, "append": append}[mode](fs, tag, count)
    fs.close()


def main() -> None:
    count_tokens("warm up")  # load the encoding now, so kills land in the commit loop, not in setup
    root, tag, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    run(root, tag, mode, int(sys.argv[4]) if len(sys.argv) > 4 else 10**9, wait=True)


if __name__ == "__main__":
    main()
