"""The store's file operations as LangChain tools: ls, read, write, search and grep.

Each tool acts as the principal of its ``ContextFS`` handle. A refused or failed operation
(denied, not found, invalid front matter...) is returned to the model as one line naming the path
and the reason, so an agent can correct itself; nothing is half done.
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, BaseToolkit, ToolException
from pydantic import BaseModel, ConfigDict, Field

from agentfs.errors import AgentFSError
from agentfs.fs import ContextFS
from agentfs.integrations import _ops


class _AgentFSTool(BaseTool):
    """Shared fields: the store handle, and errors handed back to the model as text."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    fs: ContextFS
    handle_tool_error: bool = True

    def _run(self, *args: Any, **kwargs: Any) -> str:
        kwargs.pop("run_manager", None)
        try:
            return self._call(**kwargs)
        except AgentFSError as exc:
            raise ToolException(f"agentfs: {exc.message}") from exc

    def _call(self, *args: Any, **kwargs: Any) -> str:
        raise NotImplementedError


class ListInput(BaseModel):
    path: str = Field("/", description="Folder to list, e.g. /memory/semantic.")
    recursive: bool = Field(False, description="Also list everything below sub-folders.")


class AgentFSListTool(_AgentFSTool):
    """List a folder of the agent's file system."""

    name: str = "agentfs_ls"
    description: str = ("List the files and folders in a folder of the agent's memory file system "
                        "(path, size, version, tokens). Start at / to see the namespace.")
    args_schema: type[BaseModel] = ListInput

    def _call(self, path: str = "/", recursive: bool = False) -> str:
        return _ops.format_listing(_ops.list_entries(self.fs, path, recursive=recursive))


class ReadInput(BaseModel):
    path: str = Field(..., description="File to read, e.g. /memory/semantic/coffee.md.")
    version: int | None = Field(None, description="An older version number; omit for the current one.")


class AgentFSReadTool(_AgentFSTool):
    """Read a file."""

    name: str = "agentfs_read"
    description: str = "Read a text file from the agent's memory file system (optionally an older version)."
    args_schema: type[BaseModel] = ReadInput

    def _call(self, path: str, version: int | None = None) -> str:
        return self.fs.read_text(path, version=version)


class WriteInput(BaseModel):
    path: str = Field(..., description="File to write, e.g. /memory/semantic/ana-coffee.md.")
    content: str = Field(..., description="The whole new content (Markdown; may start with YAML front matter).")
    metadata: dict[str, Any] | None = Field(None, description="Front-matter fields to set, e.g. {\"tags\": [\"prefs\"]}.")
    if_version: int | None = Field(None, description="Only write if the file is still at this version (0: must not exist).")


class AgentFSWriteTool(_AgentFSTool):
    """Write a file (a new version; older versions stay in the history)."""

    name: str = "agentfs_write"
    description: str = ("Create or overwrite a file in the agent's memory file system. Every write is a new "
                        "version; nothing is lost. Use if_version to avoid overwriting someone else's change.")
    args_schema: type[BaseModel] = WriteInput

    def _call(self, path: str, content: str, metadata: dict[str, Any] | None = None,
              if_version: int | None = None) -> str:
        info = self.fs.write(path, content, meta=metadata, if_version=if_version)
        return f"wrote {info.path}: version {info.version}, {info.size} bytes, {info.tokens} tokens"


class SearchInput(BaseModel):
    query: str = Field(..., description="What to look for, in natural language.")
    k: int = Field(5, ge=1, le=50, description="How many results.")
    path: str | None = Field(None, description="Only search below this folder.")


class AgentFSSearchTool(_AgentFSTool):
    """Semantic and keyword search over the files the agent may read."""

    name: str = "agentfs_search"
    description: str = ("Search the agent's memory file system by meaning and keywords. Returns ranked file "
                        "paths with versions, scores and a snippet; read a path for the whole file.")
    args_schema: type[BaseModel] = SearchInput

    def _call(self, query: str, k: int = 5, path: str | None = None) -> str:
        return _ops.format_hits(_ops.search(self.fs, query, k=k, path=path))


class GrepInput(BaseModel):
    pattern: str = Field(..., description="A regular expression (Python syntax).")
    path: str = Field("/", description="File or folder to search in.")
    ignore_case: bool = Field(False, description="Match regardless of case.")
    max_matches: int = Field(50, ge=1, le=1000, description="Stop after this many matching lines.")


class AgentFSGrepTool(_AgentFSTool):
    """Find lines matching a regular expression, like ``grep -rn``."""

    name: str = "agentfs_grep"
    description: str = ("Find lines matching a regular expression in the text files below a folder "
                        "(like grep -rn). Returns path:line:text.")
    args_schema: type[BaseModel] = GrepInput

    def _call(self, pattern: str, path: str = "/", ignore_case: bool = False, max_matches: int = 50) -> str:
        return _ops.format_grep(_ops.grep(self.fs, pattern, path=path, ignore_case=ignore_case,
                                          max_matches=max_matches))


READ_TOOLS = (AgentFSListTool, AgentFSReadTool, AgentFSSearchTool, AgentFSGrepTool)


def agentfs_tools(fs: ContextFS, *, read_only: bool = False) -> list[BaseTool]:
    """The file tools bound to ``fs`` (without ``agentfs_write`` when ``read_only``)."""
    classes: tuple[type[Any], ...] = READ_TOOLS if read_only else (*READ_TOOLS, AgentFSWriteTool)
    return [cls(fs=fs) for cls in classes]


class AgentFSToolkit(BaseToolkit):
    """The file tools as a LangChain toolkit: ``AgentFSToolkit(fs=fs).get_tools()``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    fs: ContextFS
    read_only: bool = False

    def get_tools(self) -> list[BaseTool]:
        return agentfs_tools(self.fs, read_only=self.read_only)
