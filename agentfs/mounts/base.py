"""The provider interface: what serves one mount of the namespace.

A provider has a handful of required operations; everything else is derived once here, in the
base (the PyFilesystem2 shape). Providers declare their capabilities rather than being probed.

Catalog-backed providers (governed files, history, context, tools, skills) keep their bytes in the
store and differ only in the rules they add (:meth:`Provider.check_change`) and how they validate
content. Virtual providers (search results) compute entries on read and are always read-only.

Access control is *not* a provider's business: ``ContextFS`` decides before calling a provider.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from agentfs import frontmatter
from agentfs.errors import IsADirectoryError_, NotFoundError, ReadOnlyError, TooLargeError, ValidationError
from agentfs.mounts.table import MountSpec
from agentfs.types import FileInfo

if TYPE_CHECKING:
    from agentfs.fs import ContextFS
    from agentfs.store.store import Store


@dataclass(frozen=True)
class Capabilities:
    """What a provider supports; front-ends read these instead of trying and failing."""

    read_only: bool = False
    append_only: bool = False
    executable: bool = False
    supports_xattr: bool = True
    versioned: bool = True
    virtual: bool = False
    # Found by a search that names no path or kind. Assembled contexts are not: they quote the
    # files they were built from, and would crowd the originals out of every result list.
    default_search: bool = True

    def to_dict(self) -> dict[str, bool]:
        return dict(self.__dict__)


class Provider(ABC):
    """Serves the paths of one mount."""

    name: str = "provider"
    capabilities = Capabilities()

    def __init__(self, spec: MountSpec, store: Store) -> None:
        self.spec = spec
        self.store = store

    # --- required -------------------------------------------------------------------------------

    @abstractmethod
    def stat(self, path: str, fs: ContextFS) -> FileInfo:
        """Info of one entry; raise NotFoundError when absent."""

    @abstractmethod
    def list(self, path: str, fs: ContextFS) -> list[FileInfo]:
        """Entries directly below a directory."""

    @abstractmethod
    def open(self, path: str, fs: ContextFS, version: int | None = None) -> BinaryIO:
        """A binary file object positioned at 0 (a real file for catalog providers)."""

    # --- rules for changes (catalog-backed providers) -------------------------------------------

    def check_change(self, op: str, path: str, *, exists: bool, admin: bool, principal: str) -> None:
        """Raise when this provider forbids ``op`` (create, write, append, meta, delete, rename,
        mkdir, rmdir, mode) on ``path``. The default allows everything unless read-only."""
        if self.capabilities.read_only:
            raise ReadOnlyError(f"{self.spec.path} is read-only ({self.name} provider)", path=path)

    def validate(self, path: str, data: bytes) -> tuple[dict[str, Any], str | None]:
        """Check content before it commits. Returns (front matter, text or None for binary).

        Raises:
            TooLargeError: over the mount's ``max_file_size``.
            ValidationError: binary content where text is required, or bad front matter.
        """
        options = self.spec.options
        if options.max_file_size is not None and len(data) > options.max_file_size:
            raise TooLargeError(
                f"{path} is {len(data)} bytes; {self.spec.path} accepts at most {options.max_file_size} bytes",
                path=path,
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            if options.text_only or path.endswith(".md"):
                raise ValidationError(
                    f"{path}: not UTF-8 text (binary content?); {self.spec.path} holds text files",
                    path=path,
                    rule="text_only",
                ) from None
            return {}, None
        if "\x00" in text and options.text_only:
            raise ValidationError(f"{path}: contains NUL bytes; {self.spec.path} holds text files",
                                  path=path, rule="text_only")
        meta: dict[str, Any] = {}
        if path.endswith(".md"):
            document = frontmatter.split(text, path=path)
            meta = document.meta
            kind = frontmatter.kind_of(path)
            try:
                frontmatter.validate(meta, path=path, kind=kind)
            except ValidationError:
                # Again with the raw block, only now: it is what finds the line number to report.
                frontmatter.validate(meta, path=path, kind=kind, raw=frontmatter.raw_block(text))
                raise
        return meta, text

    # --- derived --------------------------------------------------------------------------------

    def read(self, path: str, fs: ContextFS, version: int | None = None) -> bytes:
        with self.open(path, fs, version) as handle:
            return handle.read()

    def exists(self, path: str, fs: ContextFS) -> bool:
        try:
            self.stat(path, fs)
        except NotFoundError:
            return False
        return True

    def walk(self, path: str, fs: ContextFS) -> Iterator[FileInfo]:
        for info in self.list(path, fs):
            yield info
            if info.kind == "dir":
                yield from self.walk(info.path, fs)

    def ensure_file(self, info: FileInfo) -> None:
        if info.kind == "dir":
            raise IsADirectoryError_(f"{info.path} is a directory", path=info.path)
