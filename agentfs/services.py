"""Services behind ContextFS, registered by name.

``ContextFS.search`` and ``ContextFS.exec`` delegate to the ``search`` and ``tools`` services. A
service module exposes ``for_store(fs) -> service`` (an object with the service's methods and a
``close()``); it is built once per open store, on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from agentfs.fs import SERVICE_FACTORIES, ContextFS

# name -> module that defines for_store(fs)
SERVICE_MODULES = {
    "search": "agentfs.index.service",
    "tools": "agentfs.runtime.tools",
}


def _factory(module_name: str):  # type: ignore[no-untyped-def]
    def build(fs: ContextFS) -> Any:
        module = importlib.import_module(module_name)
        return module.for_store(fs)

    return build


def register_default_services() -> None:
    for name, module_name in SERVICE_MODULES.items():
        if importlib.util.find_spec(module_name) is not None:
            SERVICE_FACTORIES.setdefault(name, _factory(module_name))
