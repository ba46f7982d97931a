"""Mount tables: which provider serves which path prefix. Data (YAML), validated with pydantic."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from agentfs import paths
from agentfs.errors import ValidationError

_SIZE = re.compile(r"^(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$")
_SIZE_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "KB": 1000, "MB": 1000**2, "GB": 1000**3}


def parse_size(value: Any) -> int:
    """``"1MiB"`` -> 1048576; integers pass through."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value).strip())
    if not match:
        raise ValueError(f"not a size: {value!r} (use e.g. 512KiB, 1MiB, 2GiB)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


class MountOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_file_size: int | None = None
    text_only: bool = False
    ttl: str | None = None
    host_path: str | None = None  # for provider "hostdir"
    read_only: bool = False

    @field_validator("max_file_size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int | None:
        return None if value is None else parse_size(value)

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: str | None) -> str | None:
        if value is not None:
            from agentfs.frontmatter import parse_duration

            parse_duration(value)
        return value


class MountSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    provider: str
    description: str = ""
    layout: list[str] = Field(default_factory=list)
    options: MountOptions = Field(default_factory=MountOptions)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or value == "/":
            raise ValueError("a mount path is absolute and not the root, e.g. /memory")
        if value.startswith("/."):
            # /.search is virtual; normalize() refuses nothing here but the reserved store folder.
            return "/" + value.strip("/")
        return paths.normalize(value)


class MountTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    mounts: list[MountSpec]

    @field_validator("mounts")
    @classmethod
    def _unique(cls, mounts: list[MountSpec]) -> list[MountSpec]:
        seen: set[str] = set()
        for mount in mounts:
            if mount.path in seen:
                raise ValueError(f"mount path {mount.path} appears twice")
            seen.add(mount.path)
        for a in mounts:
            for b in mounts:
                if a is not b and paths.is_within(b.path, a.path):
                    raise ValueError(f"mount {b.path} is nested inside mount {a.path}")
        return mounts

    def route(self, path: str) -> MountSpec | None:
        """The mount serving ``path`` (segment-wise: /doc never matches /docs/x), or None."""
        for mount in self.mounts:
            if path == mount.path or path.startswith(mount.path + "/"):
                return mount
        return None


def load_table(source: str | Path | dict[str, Any] | None = None) -> MountTable:
    """Load and validate a mount table: a path, a dict, or None for the shipped default.

    Raises:
        ValidationError: the table is malformed; the message names the file and the field.
    """
    name = "default mount table"
    if source is None:
        text = resources.files("agentfs").joinpath("data", "default.yaml").read_text()
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # trusted file, C speed
    elif isinstance(source, dict):
        data = source
        name = "mount table"
    else:
        name = str(source)
        try:
            data = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValidationError(f"mount table {source} does not exist", path=str(source)) from None
        except yaml.YAMLError as exc:
            raise ValidationError(f"{source}: not valid YAML: {exc}", path=str(source)) from None
    try:
        return MountTable.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationError(f"{name}: {where}: {first['msg']}", path=name, rule="mount_table") from None
