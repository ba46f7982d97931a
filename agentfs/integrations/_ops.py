"""File operations every front-end in this package offers, as JSON-able results.

The LangChain tools and the MCP server both call these, so ``ls``, ``grep`` and ``search`` mean
the same thing wherever an agent meets them. Everything goes through ``ContextFS`` as the caller.
"""

from __future__ import annotations

import re
from typing import Any

from agentfs import paths
from agentfs.errors import (
    IsADirectoryError_,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from agentfs.fs import ContextFS
from agentfs.types import FileInfo

GREP_MAX_FILE_BYTES = 2 * 1024 * 1024  # larger files are not scanned (they are rarely text)
GREP_MAX_LINE_CHARS = 400  # a matching line is cut to this length in results


def entry(info: FileInfo) -> dict[str, Any]:
    """The short form of one entry an agent needs: path, kind, size, version, tokens, user fields."""
    out: dict[str, Any] = {"path": info.path, "kind": info.kind}
    if info.kind == "file":
        out.update(size=info.size, version=info.version, tokens=info.tokens)
    if info.meta:
        out["meta"] = info.meta
    if info.read_only or info.virtual:
        out["read_only"] = True
    return out


def list_entries(fs: ContextFS, path: str = "/", *, recursive: bool = False, limit: int = 1000) -> dict[str, Any]:
    """Entries below ``path`` that the caller may see, at most ``limit`` of them."""
    entries = fs.ls(path, recursive=recursive)
    return {
        "path": paths.normalize(path),
        "entries": [entry(e) for e in entries[:limit]],
        "truncated": len(entries) > limit,
    }


def format_listing(listing: dict[str, Any]) -> str:
    """``ls -l``-like text of :func:`list_entries` for a model to read."""
    lines = []
    for item in listing["entries"]:
        if item["kind"] == "dir":
            lines.append(f"{item['path']}/")
        else:
            tokens = item.get("tokens")
            lines.append(f"{item['path']}  ({item.get('size', 0)} bytes, version {item.get('version')}"
                         + (f", {tokens} tokens" if tokens is not None else "") + ")")
    if listing["truncated"]:
        lines.append("... (more entries; list a sub-folder)")
    return "\n".join(lines) if lines else f"{listing['path']} is empty"


def search(fs: ContextFS, query: str, *, k: int = 5, path: str | None = None, mode: str = "hybrid") -> list[dict]:
    """Ranked hits for ``query`` among files the caller may read."""
    return [hit.to_dict() for hit in fs.search(query, k=k, path=path, mode=mode)]


def format_hits(hits: list[dict]) -> str:
    if not hits:
        return "no results"
    lines = []
    for rank, hit in enumerate(hits, start=1):
        snippet = " ".join(str(hit.get("snippet") or "").split())
        lines.append(f"{rank}. {hit['path']} (version {hit['version']}, score {hit['score']:.3f})"
                     + (f": {snippet[:300]}" if snippet else ""))
    return "\n".join(lines)


def grep(
    fs: ContextFS,
    pattern: str,
    *,
    path: str = "/",
    ignore_case: bool = False,
    max_matches: int = 100,
) -> dict[str, Any]:
    """Lines matching a regular expression in the text files below ``path`` that the caller may read.

    Files the caller may list but not read, binary files and files over 2 MiB are skipped; virtual
    views (``/.search``) are not descended into.

    Raises:
        ValidationError: ``pattern`` is not a valid regular expression.
    """
    try:
        regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ValidationError(f"not a valid regular expression: {pattern!r} ({exc})", rule="regex") from None
    root = paths.normalize(path)
    info = fs.stat(root, permissions=False)
    candidates = [info] if info.kind == "file" else [e for e in fs.walk(root) if e.kind == "file"]
    matches: list[dict[str, Any]] = []
    scanned = 0
    for item in candidates:
        if item.virtual or item.size > GREP_MAX_FILE_BYTES:
            continue
        try:
            text = fs.read(item.path).decode("utf-8")
        except (PermissionDeniedError, NotFoundError, IsADirectoryError_, UnicodeDecodeError):
            continue
        scanned += 1
        for number, line in enumerate(text.splitlines(), start=1):
            if regex.search(line):
                matches.append({"path": item.path, "line": number, "text": line[:GREP_MAX_LINE_CHARS]})
                if len(matches) >= max_matches:
                    return {"matches": matches, "files_scanned": scanned, "truncated": True}
    return {"matches": matches, "files_scanned": scanned, "truncated": False}


def format_grep(result: dict[str, Any]) -> str:
    lines = [f"{m['path']}:{m['line']}:{m['text']}" for m in result["matches"]]
    if result["truncated"]:
        lines.append("... (more matches; narrow the path or the pattern)")
    return "\n".join(lines) if lines else "no matches"
