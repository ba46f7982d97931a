"""Views: how a context shows a file, as a pure function of the file's bytes and a small recipe.

A manifest item records ``(path, version, view)``. The text the model saw is ``apply(view, ...)``
on the bytes of that version, so replay needs nothing but the store. The recipes:

- ``{"mode": "body"}``: the file without its front matter;
- ``{"mode": "describe"}``: a tool's or skill's one-line description (front matter ``description``,
  else the first paragraph of a README, else ``description`` of a ``schema.json``);
- ``{"mode": "extract", "units": [0, 3, 4]}``: those sentences of the body, in order (extractive
  compression); gaps are marked ``[…]``;
- ``{"mode": "head", "tokens": N}`` / ``{"mode": "tail", "tokens": N}``: the first / last N tokens;
- ``{"mode": "summary", "text": "..."}``: a summariser's output, kept in the manifest itself
  because a model's summary cannot be recomputed byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

from agentfs import frontmatter
from agentfs.context.text import sentences, shorten
from agentfs.context.tokens import Tokens
from agentfs.errors import ValidationError

DESCRIPTION_CHARS = 300
GAP = " […] "

View = dict[str, Any]
BODY: View = {"mode": "body"}
DESCRIBE: View = {"mode": "describe"}


def body(path: str, raw: str) -> str:
    """The content without front matter, trimmed.

    The front matter is cut where :func:`agentfs.frontmatter.split` cuts it, without parsing the
    YAML (the catalog holds the parsed fields already, and parsing costs milliseconds per file).
    An unclosed block is kept as text, as ``split`` would refuse it.
    """
    if path.endswith(".md") and (raw.startswith("---\n") or raw.startswith("---\r\n")):
        start = raw.index("\n") + 1
        while start < len(raw):
            end = raw.find("\n", start)
            line_end = len(raw) if end < 0 else end + 1
            if raw[start:line_end].rstrip("\r\n") in ("---", "..."):
                return raw[line_end:].strip()
            start = line_end
    return raw.strip()


def meta_of(path: str, raw: str) -> dict[str, Any]:
    if not path.endswith(".md"):
        return {}
    try:
        return frontmatter.split(raw, path=path).meta
    except ValidationError:
        return {}


def describe(path: str, raw: str) -> str:
    """A one-paragraph description of a tool or skill file (empty when it has none)."""
    if path.endswith(".json"):
        try:
            data = json.loads(raw)
        except ValueError:
            return ""
        text = ""
        if isinstance(data, dict):
            text = str(data.get("description") or data.get("title") or "")
        return shorten(text, DESCRIPTION_CHARS)
    meta = meta_of(path, raw)
    if isinstance(meta.get("description"), str) and meta["description"].strip():
        return shorten(meta["description"], DESCRIPTION_CHARS)
    for paragraph in body(path, raw).split("\n\n"):
        paragraph = paragraph.strip()
        if paragraph and not paragraph.startswith(("#", "```", "---")):
            return shorten(paragraph, DESCRIPTION_CHARS)
    return ""


def extract(text: str, units: list[int]) -> str:
    """The chosen sentences of ``text`` in order, with ``[…]`` where some were left out."""
    parts = sentences(text)
    out = ""
    previous = None
    for index in sorted(set(units)):
        if not 0 <= index < len(parts):
            continue
        if previous is not None:
            out += " " if index == previous + 1 else GAP
        elif index > 0:
            out += GAP.lstrip()
        out += parts[index]
        previous = index
    if previous is not None and previous < len(parts) - 1:
        out += GAP.rstrip()
    return out


def apply(view: View, path: str, raw: str, tokens: Tokens) -> str:
    """The text a view shows of ``raw`` (the bytes of one version of ``path``, decoded).

    Raises:
        ValidationError: an unknown view mode (a manifest from a newer agentfs).
    """
    mode = view.get("mode")
    if mode == "body":
        return body(path, raw)
    if mode == "describe":
        return describe(path, raw)
    if mode == "extract":
        return extract(body(path, raw), [int(i) for i in view.get("units", [])])
    if mode == "head":
        return tokens.head(body(path, raw), int(view["tokens"])).rstrip() + GAP.rstrip()
    if mode == "tail":
        return GAP.lstrip() + tokens.tail(body(path, raw), int(view["tokens"])).lstrip()
    if mode == "summary":
        return str(view.get("text", ""))
    raise ValidationError(f"unknown view mode {mode!r} for {path} (manifest from a newer agentfs?)",
                          path=path, rule="view")
