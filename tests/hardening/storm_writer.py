"""A write storm for tests/hardening/test_crash_storm.py: several principals, acknowledged writes.

    python tests/hardening/storm_writer.py STORE SEED

Prints ``ready`` once open, then after every API call that returned one line
``ack <principal> <path> <version> <sha256>`` (flushed), until it is killed.
"""

from __future__ import annotations

import hashlib
import random
import sys

import agentfs
from agentfs.tokenizer import count_tokens

PRINCIPALS = ("agent:a", "agent:b", "agent:c")


def main() -> None:
    root, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    admin = agentfs.open(root, principal="user:admin")
    handles = [admin.as_principal(p) for p in PRINCIPALS]
    count_tokens("warm up")  # loading the encoding takes ~0.5 s: kills must land in writes, not in that
    print("ready", flush=True)
    for i in range(100_000):
        fs = rng.choice(handles)
        name = fs.principal.split(":")[1]
        path = f"/memory/semantic/{name}-{rng.randrange(6)}.md"
        body = f"---\ntags: [storm, s{seed}]\n---\nseed {seed} step {i} {'x' * rng.randrange(2000)}\n"
        if rng.random() < 0.2:  # a batch: both versions are acknowledged together
            other = f"/memory/episodic/{name}-{i}.md"
            infos = fs.write_many([(path, body), (other, body)])
        else:
            infos = [fs.write(path, body)]
        digest = hashlib.sha256(body.encode()).hexdigest()
        for info in infos:
            print(f"ack {fs.principal} {info.path} {info.version} {digest}", flush=True)


if __name__ == "__main__":
    main()
