"""Pure path algebra for the agentfs namespace.

Every path that enters agentfs goes through :func:`normalize` exactly once. Namespace paths are
absolute, ``/``-separated, Unicode NFC, with no empty, ``.`` or ``..`` segments left after
normalisation. ``..`` may never climb above ``/``: that is an error, not a silent clamp, because a
caller who writes ``/memory/../../etc`` meant something we must not do.

Containment is segment-wise: ``/doc`` contains ``/doc/a`` but never ``/docs/a`` (the AIGNE AFS bug).
"""

from __future__ import annotations

import re
import unicodedata

from agentfs.errors import InvalidPathError, NameTooLongError

MAX_NAME_BYTES = 255  # what ext4 and most POSIX file systems accept for one segment
MAX_PATH_BYTES = 4096  # PATH_MAX on Linux
RESERVED_NAMES = frozenset({".agentfs"})  # the store's own folder is never part of the namespace
_FORBIDDEN_CHARS = frozenset("\x00")
_CONTROL = re.compile("[\x00-\x1f\x7f]")  # one C-speed scan instead of a per-character loop


def normalize(path: str | bytes) -> str:
    """Return the canonical form of a namespace path or raise :class:`InvalidPathError`.

    Args:
        path: an absolute or relative (taken from ``/``) path, ``str`` or UTF-8 ``bytes``.

    Returns:
        The canonical absolute path, e.g. ``"/memory/semantic/coffee.md"``; the root is ``"/"``.

    Raises:
        InvalidPathError: NUL byte, invalid UTF-8, control characters, a ``..`` that escapes the
            root, or a reserved name such as ``.agentfs``.
        NameTooLongError: a segment over 255 bytes or a path over 4096 bytes.
    """
    if isinstance(path, bytes):
        try:
            path = path.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidPathError(f"path is not valid UTF-8: {path!r}") from exc
    if not isinstance(path, str):
        raise InvalidPathError(f"path must be a string, got {type(path).__name__}")
    if "\x00" in path:
        raise InvalidPathError(f"path contains a NUL byte: {path!r}")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates, e.g. from os.fsdecode of bad bytes
        raise InvalidPathError(f"path is not valid UTF-8: {path!r}") from exc
    if _CONTROL.search(path):
        raise InvalidPathError(f"path contains a control character: {path!r}")
    # NFC so that "é" typed two ways names one file (macOS clients send NFD).
    if not path.isascii():
        path = unicodedata.normalize("NFC", path)
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        raise NameTooLongError(f"path is longer than {MAX_PATH_BYTES} bytes", path=path[:80] + "...")
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise InvalidPathError(f"path escapes the namespace root with '..': {path!r}", path=path)
            parts.pop()
            continue
        if len(segment.encode("utf-8")) > MAX_NAME_BYTES:
            raise NameTooLongError(
                f"path segment is longer than {MAX_NAME_BYTES} bytes: {segment[:40]!r}...", path=path
            )
        if segment in RESERVED_NAMES:
            raise InvalidPathError(f"'{segment}' is reserved for the store itself: {path!r}", path=path)
        parts.append(segment)
    return "/" + "/".join(parts)


def join(base: str, *more: str) -> str:
    """Join segments onto a namespace path and normalise the result."""
    return normalize("/".join([base, *more]))


def split(path: str) -> tuple[str, str]:
    """``"/a/b/c"`` -> ``("/a/b", "c")``; the root splits to ``("/", "")``."""
    if path == "/":
        return "/", ""
    parent, _, name = path.rpartition("/")
    return (parent or "/"), name


def parent(path: str) -> str:
    """The parent of a normalised path (the root is its own parent)."""
    return split(path)[0]


def name(path: str) -> str:
    """The last segment of a normalised path."""
    return split(path)[1]


def segments(path: str) -> list[str]:
    """The segments of a normalised path; ``[]`` for the root."""
    return [s for s in path.split("/") if s]


def is_within(path: str, prefix: str) -> bool:
    """True when ``path`` equals ``prefix`` or lies below it, segment-wise.

    >>> is_within("/docs/a", "/doc")
    False
    >>> is_within("/doc/a", "/doc")
    True
    """
    if prefix == "/":
        return True
    return path == prefix or path.startswith(prefix + "/")


def ancestors(path: str) -> list[str]:
    """Every prefix of ``path`` from the root down to ``path`` itself: ``/``, ``/a``, ``/a/b``."""
    out = ["/"]
    acc = ""
    for segment in segments(path):
        acc += "/" + segment
        out.append(acc)
    return out


def relative_to(path: str, prefix: str) -> str:
    """The part of ``path`` below ``prefix`` (no leading slash); ``""`` when equal."""
    if not is_within(path, prefix):
        raise InvalidPathError(f"{path!r} is not within {prefix!r}")
    if prefix == "/":
        return path.lstrip("/")
    return path[len(prefix) + 1 :]


def rebase(path: str, old_prefix: str, new_prefix: str) -> str:
    """Move ``path`` from below ``old_prefix`` to the same place below ``new_prefix``."""
    rest = relative_to(path, old_prefix)
    if not rest:
        return new_prefix
    return (new_prefix.rstrip("/") + "/" + rest) if new_prefix != "/" else "/" + rest


def subtree_range(prefix: str) -> tuple[str, str]:
    """Half-open string range ``[lo, hi)`` that holds exactly the paths strictly below ``prefix``.

    ``'0'`` is the character after ``'/'``, so ``prefix + '/' <= p < prefix + '0'`` selects the
    subtree with an index range scan (no ``LIKE``, so no escaping of ``%`` and ``_`` in names).
    """
    base = "" if prefix == "/" else prefix
    return base + "/", base + "0"
