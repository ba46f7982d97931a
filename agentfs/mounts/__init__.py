"""Mount tables and the providers that serve them.

Providers are registered by name in :data:`PROVIDERS`; a mount table names one per mount.
Later capabilities register theirs here too (tools, skills, host directories).
"""

from __future__ import annotations

from agentfs.mounts.base import Capabilities, Provider
from agentfs.mounts.files import CatalogProvider, ContextProvider, HistoryProvider
from agentfs.mounts.search import SearchProvider
from agentfs.mounts.skills import SkillsProvider
from agentfs.mounts.table import MountSpec, MountTable, load_table
from agentfs.mounts.tools import ToolsProvider

PROVIDERS: dict[str, type[Provider]] = {
    "files": CatalogProvider,
    "history": HistoryProvider,
    "context": ContextProvider,
    "tools": ToolsProvider,
    "skills": SkillsProvider,
    "search": SearchProvider,
}

__all__ = [
    "PROVIDERS",
    "Capabilities",
    "CatalogProvider",
    "ContextProvider",
    "HistoryProvider",
    "MountSpec",
    "MountTable",
    "Provider",
    "SearchProvider",
    "load_table",
]
