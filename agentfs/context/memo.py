"""Bounded memos of pure functions of content (descriptions, vectors), shared by the stages.

Keys always include what the value is a function of (a content hash, or the text and the model
name), so a memo can never return a stale answer; it only saves recomputation across builds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any


class LRU:
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
            return None

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


# (content hash, file name) -> one-line description of a tool or skill
DESCRIPTIONS = LRU(20_000)
# (embedder model name, text) -> unit vector
VECTORS = LRU(50_000)


def embed_cached(embedder: Any, texts: list[str]) -> Any:
    """Vectors of ``texts`` (an ``(n, d)`` float32 array), embedding only those not seen before."""
    import numpy as np

    name = getattr(embedder, "model_name", type(embedder).__name__)
    rows: list[Any] = [VECTORS.get((name, t)) for t in texts]
    missing = [i for i, row in enumerate(rows) if row is None]
    if missing:
        fresh = np.asarray(embedder.embed([texts[i] for i in missing]), dtype=np.float32)
        for i, row in zip(missing, fresh, strict=True):
            rows[i] = row
            VECTORS.put((name, texts[i]), row)
    if not rows:
        return np.zeros((0, 1), dtype=np.float32)
    return np.stack(rows)
