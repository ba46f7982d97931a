"""The Loader: turns a context into what a model takes, refreshes it across turns, pages bodies in.

Formats:

- text: the rendered bytes (what ``/context/<id>/context.txt`` holds);
- langchain-core messages: a ``SystemMessage`` with the stable prefix (instructions, profile,
  tools, skills) and a ``HumanMessage`` with the rest (conversation, evidence, task). Providers
  cache prompts by prefix, so keeping the system message byte-identical across turns keeps the
  cache hitting;
- JSON: the same content by section and item, for programs.

:func:`refresh` builds the next turn's context from the previous manifest: new history comes in,
evidence is chosen again for the new task (items whose file changed are re-read at their head),
and the prefix is reused byte for byte as long as none of its files changed. :func:`page_in`
adds a tool's or skill's full body (README.md and schema.json, or SKILL.md) on request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentfs import paths
from agentfs.context import views
from agentfs.context.constructor import Context, build
from agentfs.context.manifest import Manifest, read_manifest, text_path
from agentfs.context.render import PREFIX_SECTIONS, TITLE
from agentfs.context.tokens import Tokens
from agentfs.errors import AgentFSError

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from agentfs.fs import ContextFS


def to_text(context: Context) -> str:
    return context.text


def to_messages(context: Context) -> list[BaseMessage]:
    """``[SystemMessage(prefix), HumanMessage(rest)]`` (no system message when the prefix is empty)."""
    from langchain_core.messages import HumanMessage, SystemMessage

    messages: list[BaseMessage] = []
    if context.prefix:
        messages.append(SystemMessage(content=context.prefix))
    messages.append(HumanMessage(content=context.rest))
    return messages


def to_json(context: Context) -> dict[str, Any]:
    """The context as data: sections with their items (label, path, version, kind, text)."""
    manifest = context.manifest
    sections: dict[str, list[dict[str, Any]]] = {}
    texts = context.item_texts or ("",) * len(manifest.items)
    for item, text in zip(manifest.items, texts, strict=True):
        sections.setdefault(item.section, []).append(
            {"label": item.label, "path": item.path, "version": item.version, "kind": item.kind,
             "tokens": item.tokens, "text": text}
        )
    return {
        "id": manifest.id,
        "task": manifest.task,
        "instructions": manifest.policy.get("instructions", ""),
        "tokens": manifest.tokens,
        "budget": manifest.budget,
        "encoding": manifest.encoding,
        "evidence": manifest.evidence,
        "sections": [{"section": s, "title": TITLE[s], "prefix": s in PREFIX_SECTIONS, "items": items}
                     for s, items in sections.items()],
        "prefix": context.prefix,
        "text": context.text,
    }


def load(fs: ContextFS, context_id: str, *, principal: str | None = None) -> Context:
    """A stored context, as ``principal`` (its items are re-read to recover their texts).

    Raises:
        NotFoundError, PermissionDeniedError: no such context, or it may not be read.
    """
    reader = fs.as_principal(principal) if principal else fs
    manifest = read_manifest(reader, context_id)
    text = reader.read_text(text_path(context_id))
    return Context(manifest, text, text[: manifest.prefix_chars], tuple(_item_texts(reader, manifest)))


def _item_texts(reader: ContextFS, manifest: Manifest) -> list[str]:
    tokens = Tokens(encoding=manifest.encoding)
    out = []
    for item in manifest.items:
        try:
            raw = reader.read(item.path, version=item.version).decode("utf-8")
            out.append(views.apply(item.view, item.path, raw, tokens))
        except (AgentFSError, UnicodeDecodeError):
            out.append("")
    return out


def refresh(
    fs: ContextFS,
    context: Context,
    *,
    task: str | None = None,
    principal: str | None = None,
    budget: int | None = None,
    session: str | None = None,
    pages: Sequence[str] = (),
    **options: Any,
) -> Context:
    """The next turn's context: same principal, policy, model and budget unless given.

    The prefix of ``context`` is kept byte for byte when its files are unchanged (check
    ``result.manifest.prefix_reused``; ``notes`` say why it was rebuilt otherwise). Pages paged in
    before stay paged in. ``options`` go to :func:`agentfs.context.build`.
    """
    manifest = context.manifest
    earlier_pages = [item.path for item in manifest.items if item.source == "page"]
    return build(
        fs,
        task if task is not None else manifest.task,
        principal=principal or manifest.principal,
        budget=budget or manifest.budget,
        session=session or manifest.session,
        pages=list(dict.fromkeys([*earlier_pages, *pages])),
        previous=manifest,
        **options,
    )


def page_in(fs: ContextFS, context: Context, path: str, **options: Any) -> Context:
    """``context`` refreshed with the full body of a tool or skill folder (or a file) added.

    Raises:
        NotFoundError, PermissionDeniedError: the body cannot be read by the context's principal.
        InvalidPathError: a folder that is neither a tool nor a skill.
    """
    return refresh(fs, context, pages=[paths.normalize(path)], **options)


@dataclass(frozen=True)
class Page:
    """A body paged in outside a context: the text and what it costs."""

    path: str
    version: int
    text: str
    tokens: int


def read_page(fs: ContextFS, path: str, *, principal: str | None = None, model: str | None = None) -> Page:
    """The body of one file (front matter removed), read as ``principal``, with its token count."""
    reader = fs.as_principal(principal) if principal else fs
    info = reader.stat(path, permissions=False)
    text = views.body(info.path, reader.read(info.path, version=info.version).decode("utf-8"))
    return Page(info.path, info.version, text, Tokens(model).count(text))
