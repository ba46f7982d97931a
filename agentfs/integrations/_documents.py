"""A LangChain ``Document`` as an agentfs Markdown file, and back, exactly.

``<folder>/<id>.md`` holds the document: its metadata as YAML front matter (so it shows in
``agentfs stat``, in search hits and as extended attributes on the mount) and its ``page_content``
as the body, byte for byte. Reading the file gives back an equal ``Document``: same text, same
metadata (ints stay ints), id from the file name.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
from langchain_core.documents import Document

from agentfs import frontmatter
from agentfs.errors import ValidationError
from agentfs.integrations._names import decode_name, encode_name

SUFFIX = ".md"


class _ExactDumper(yaml.SafeDumper):
    """Never emits anchors (front matter refuses them) and never folds long strings."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def file_name(doc_id: str) -> str:
    """``"a/b"`` -> ``"a%2Fb.md"``."""
    return encode_name(doc_id) + SUFFIX


def doc_id(name: str) -> str | None:
    """The document id of a file name, or None when the file is not a document."""
    if not name.endswith(SUFFIX) or name == SUFFIX:
        return None
    return decode_name(name[: -len(SUFFIX)])


def check_metadata(metadata: dict[str, Any], *, where: str) -> None:
    """Refuse metadata that would not come back equal (it must be plain JSON data).

    Raises:
        ValidationError: a non-string key or a value that is not str, int, float, bool, None,
            list or dict (``where`` names the document).
    """
    def walk(value: Any, key: str) -> None:
        if value is None or isinstance(value, str | bool | int):
            return
        if isinstance(value, float):
            if math.isnan(value):
                raise ValidationError(f"{where}: metadata {key!r} is NaN, which never compares equal",
                                      rule="metadata_value", key=key)
            return
        if isinstance(value, list):
            for item in value:
                walk(item, key)
            return
        if isinstance(value, dict):
            for inner, item in value.items():
                if not isinstance(inner, str):
                    raise ValidationError(f"{where}: metadata {key!r} has a non-string key {inner!r}",
                                          rule="metadata_key", key=key)
                walk(item, f"{key}.{inner}")
            return
        raise ValidationError(
            f"{where}: metadata {key!r} is a {type(value).__name__}; store plain JSON values "
            "(str, int, float, bool, None, list, dict)", rule="metadata_value", key=key)

    for key, value in metadata.items():
        if not isinstance(key, str):
            raise ValidationError(f"{where}: metadata keys must be strings, got {key!r}", rule="metadata_key")
        walk(value, key)


def render(page_content: str, metadata: dict[str, Any]) -> str:
    """The file text for a document (front matter only when needed to keep the body exact)."""
    starts_like_front_matter = page_content.startswith(("---\n", "---\r\n"))
    if not metadata and not starts_like_front_matter:
        return page_content
    if not metadata:
        return f"---\n---\n{page_content}"
    for readable in (True, False):
        block = yaml.dump(dict(metadata), Dumper=_ExactDumper, sort_keys=False, allow_unicode=readable,
                          default_flow_style=False, width=math.inf)
        # PyYAML writes a few characters (NEL, LS, PS) raw that its reader then takes for line
        # breaks; when the readable form does not read back equal, escape everything non-ASCII.
        if readable and frontmatter.parse_yaml(block) != metadata:
            continue
        break
    return f"---\n{block}---\n{page_content}"


def parse(text: str, *, path: str, doc_id_: str | None) -> Document:
    """The document a file holds (front matter -> metadata, body -> page_content)."""
    document = frontmatter.split(text, path=path)
    return Document(page_content=document.body, metadata=dict(document.meta), id=doc_id_)
