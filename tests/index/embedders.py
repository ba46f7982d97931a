"""Embedders the index tests name by ``module:attr`` (the store config form of ``get_embedder``)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from agentfs.index.embeddings import HashEmbeddings


class Hash64(HashEmbeddings):
    """Another model: 64 dimensions under another name (for the model-mismatch tests)."""

    def __init__(self) -> None:
        super().__init__(dimension=64)

    @property
    def model_name(self) -> str:
        return "tests/hash-64"


class SlowHash(HashEmbeddings):
    """The hash embedder at 4 ms a text: slow enough to SIGKILL an indexer in the middle."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(0.004 * len(texts))
        return super().embed(texts)
