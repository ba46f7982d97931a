"""A process for test_crash.py to kill: builds, compacts or appends to an ANN index.

    python tests/index/ann/crash_worker.py FOLDER build|compact|append [die-at]

``die-at`` makes the process SIGKILL itself at an exact point instead of being killed from
outside: ``after-main`` (the new main file is in place, the delta log not yet replaced).
"""

from __future__ import annotations

import os
import signal
import sys

from agentfs.index.ann import AnnIndex, BuildParams
from agentfs.index.ann import index as index_module
from tests.index.ann.conftest import dataset


def _die(*_args: object, **_kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    folder, action = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3 and sys.argv[3] == "after-main":
        index_module.DeltaLog.create = _die  # type: ignore[method-assign]
    print("started", flush=True)
    if action == "build":
        # Large enough to take seconds, so the parent can kill it while the file is written.
        ids, vectors, metas = dataset(30000, dim=64, seed=3)
        AnnIndex.build(folder, ids, vectors, metas, params=BuildParams(flat_below=256, kmeans_iterations=3))
    elif action == "compact":
        index = AnnIndex.open(folder)
        index.compact(retrain=True)
        index.close()
    elif action == "append":
        index = AnnIndex.open(folder)
        ids, vectors, metas = dataset(200, seed=9)
        for i in range(0, 200, 10):
            index.upsert(ids[i:i + 10], vectors[i:i + 10], metas[i:i + 10])
            print(f"ack {i + 10}", flush=True)
        index.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
