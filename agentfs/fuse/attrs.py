"""What the kernel sees of a :class:`~agentfs.types.FileInfo`: stat fields and extended attributes.

Mode bits say what *the mount's principal* may do, not what the file's stored mode says: no write
bit where it may not write, no execute bit on a file it may not ``exec``. The owner bits carry
that; group and other get the same without write (the mount is one principal, whoever the local
user is). Ownership is the mounting user's: agentfs governs by principal, not by uid.

Extended attributes (``getfattr -d``) come in two kinds:

- ``user.agentfs.<field>``: system fields from the catalog (read-only);
- ``user.agentfs.meta.<key>``: user metadata (front matter of Markdown files, a sidecar otherwise),
  settable with ``setfattr``; values are text, or JSON for numbers, lists and mappings.
"""

from __future__ import annotations

import json
import math
import stat
from typing import Any

from agentfs import frontmatter
from agentfs.errors import ValidationError
from agentfs.timefmt import iso
from agentfs.types import FileInfo

PREFIX = "user.agentfs."
META_PREFIX = PREFIX + "meta."
BLOCK_SIZE = 128 * 1024  # st_blksize: tools size their reads by it; matches max_read
ALL_PERMISSIONS = ("list", "read", "write", "append", "delete", "exec", "admin")


class Attr:
    """A ``struct stat`` for fuse-python, which reads these fields by name."""

    __slots__ = ("st_atime", "st_blksize", "st_blocks", "st_ctime", "st_dev", "st_gid", "st_ino", "st_mode",
                 "st_mtime", "st_nlink", "st_rdev", "st_size", "st_uid")

    def __init__(self, mode: int, ino: int, size: int, mtime: float, uid: int, gid: int, nlink: int = 1) -> None:
        self.st_mode = mode
        self.st_ino = ino
        self.st_dev = 0
        self.st_nlink = nlink
        self.st_uid = uid
        self.st_gid = gid
        self.st_size = size
        self.st_atime = self.st_mtime = self.st_ctime = mtime
        self.st_blksize = BLOCK_SIZE
        self.st_blocks = (size + 511) // 512
        self.st_rdev = 0

    def resized(self, size: int, mtime: float) -> Attr:
        """The same entry with another size and modification time (a file being written)."""
        return Attr(self.st_mode, self.st_ino, size, mtime, self.st_uid, self.st_gid, self.st_nlink)


def permission_bits(info: FileInfo, permissions: tuple[str, ...] | frozenset[str], *, read_only: bool) -> int:
    """rwx for the owner from this principal's permissions; group and other without write."""
    if info.kind == "dir":
        readable, executable = True, True  # visible folders can be listed and entered
    else:
        readable = "read" in permissions
        executable = bool(info.mode & 0o100) and "exec" in permissions
    writable = not (read_only or info.read_only) and (
        "write" in permissions or (info.kind != "dir" and "append" in permissions)
    )
    bits = (4 if readable else 0) | (2 if writable else 0) | (1 if executable else 0)
    return (bits << 6) | ((bits & 5) << 3) | (bits & 5)


def attr_of(info: FileInfo, permissions: tuple[str, ...] | frozenset[str], *, uid: int, gid: int,
            read_only: bool) -> Attr:
    """The stat of one entry as this principal sees it."""
    mtime = info.modified_ns / 1e9
    if info.kind == "symlink":
        return Attr(stat.S_IFLNK | 0o777, info.ino, info.size, mtime, uid, gid)
    bits = permission_bits(info, permissions, read_only=read_only)
    if info.kind == "dir":
        return Attr(stat.S_IFDIR | bits, info.ino, 0, mtime, uid, gid, nlink=2)
    return Attr(stat.S_IFREG | bits, info.ino, info.size, mtime, uid, gid)


def file_type(info: FileInfo) -> int:
    """The ``d_type`` of a directory entry, as stat type bits."""
    return {"dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}.get(info.kind, stat.S_IFREG)


# --- extended attributes ------------------------------------------------------------------------

def system_fields(info: FileInfo) -> dict[str, str]:
    """The catalog's fields of an entry as xattr values (read-only)."""
    fields: dict[str, Any] = {
        "id": info.ino,
        "kind": info.kind,
        "version": info.version,
        "owner": info.owner,
        "author": info.author,
        "created": iso(info.created_ns),
        "modified": iso(info.modified_ns),
        "mount": info.mount,
        "provider": info.provider,
        "permissions": ",".join(info.permissions),
    }
    if info.kind == "file":
        fields.update(size=info.size, hash=info.hash, tokens=info.tokens)
        if info.provenance:
            fields["provenance"] = info.provenance
    return {key: encode(value) for key, value in fields.items() if value is not None and value != ""}


def encode(value: Any) -> str:
    """Text as it is; anything else as JSON (so lists and numbers round-trip through setfattr)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def decode(raw: bytes, *, path: str, key: str) -> Any:
    """Parse a value given to ``setfattr``: JSON numbers/booleans/lists/mappings, else text.

    Raises:
        ValidationError: not UTF-8, or a list/mapping that does not parse.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{path}: value of {key!r} is not UTF-8 text", path=path, rule="xattr_value") from None
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):  # RecursionError: JSON nested a few thousand deep
            # YAML flow style ([a, b]) is what people type for front matter lists.
            if "\n" in stripped:
                raise ValidationError(f"{path}: value of {key!r} is neither JSON nor a YAML list/mapping",
                                      path=path, rule="xattr_value") from None
            return frontmatter.parse_yaml(f"v: {stripped}", path=path)["v"]
    try:
        value = json.loads(stripped)
    except ValueError:
        return text
    if value is None or isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return text


def xattr_names(info: FileInfo) -> list[str]:
    return [PREFIX + key for key in system_fields(info)] + [META_PREFIX + key for key in info.meta]


def xattr_value(info: FileInfo, name: str) -> str | None:
    """The value of one attribute, or None when the entry does not have it."""
    if name.startswith(META_PREFIX):
        key = name[len(META_PREFIX):]
        return encode(info.meta[key]) if key in info.meta else None
    if name.startswith(PREFIX):
        return system_fields(info).get(name[len(PREFIX):])
    return None
