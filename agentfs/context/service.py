"""The ``context`` service: what the pipeline keeps per open store (loaded embedders).

Loading an embedding model takes a second; a context is built in milliseconds. The service,
built once per open store by ``ContextFS.service("context")`` and closed with it, keeps each
embedder the policies name, so only the first build pays for loading it. It registers itself in
``SERVICE_FACTORIES`` when the pipeline first needs it (:func:`for_fs`), so ``import agentfs``
does not import the pipeline.
"""

from __future__ import annotations

import threading
from typing import Any

_UNAVAILABLE = object()


class ContextService:
    """Per-store state of the context pipeline."""

    def __init__(self) -> None:
        self._embedders: dict[str, Any] = {}
        self._lock = threading.Lock()

    def embedder(self, name: str) -> Any:
        """The embedder ``name`` resolves to (``minilm``, ``hash``, ``module:Class``), or None when
        it cannot be loaded here; resolved once and kept."""
        with self._lock:
            found = self._embedders.get(name)
            if found is None:
                found = _load(name)
                self._embedders[name] = found
        return None if found is _UNAVAILABLE else found

    def close(self) -> None:
        with self._lock:
            self._embedders.clear()


def _load(name: str) -> Any:
    try:
        from agentfs.index.embeddings import get_embedder

        return get_embedder(name)
    except (ImportError, RuntimeError, ValueError, OSError):
        return _UNAVAILABLE


def for_store(fs: Any) -> ContextService:
    """The service registry's factory (``agentfs.services``)."""
    return ContextService()


def for_fs(fs: Any) -> ContextService | None:
    """The store's context service, registering the factory on first use."""
    from agentfs.fs import SERVICE_FACTORIES

    SERVICE_FACTORIES.setdefault("context", for_store)
    return fs.service("context")  # type: ignore[no-any-return]
