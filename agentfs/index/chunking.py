"""Split a file's text into chunks for the dense index: token-aware and Markdown-aware.

A chunk is a contiguous character span of the file. Chunks never cross a Markdown heading (each
section is embedded on its own, so a long note about several things yields one vector per thing),
paragraphs are packed together up to ``max_tokens`` tokens (counted with tiktoken), and only a
paragraph longer than that is cut, at sentence ends first and at word boundaries last. Fenced code
blocks are kept whole when they fit (a ``#`` inside them is not a heading).

Front matter is not chunked: its ``title``/``description`` becomes the *context line* prepended to
the text each chunk is embedded with (see :meth:`Chunk.embed_text`), together with the heading
trail of the chunk's section, so a chunk deep in a file still says what the file is about.

Every chunk keeps ``(path, version, span)``: ``span`` indexes the file's full text (front matter
included), so ``text[start:end]`` is exactly the chunk.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from agentfs import frontmatter
from agentfs.errors import ValidationError
from agentfs.tokenizer import TokenCounter

# all-MiniLM-L6-v2 reads at most 256 word pieces; o200k tokens are ~15% fewer than word pieces on
# English prose, and the context line takes a few more, so 200 keeps a chunk whole inside the model.
DEFAULT_MAX_TOKENS = 200
# Changing how chunks are cut changes what the index holds: bump this so `index verify` asks for a
# rebuild instead of silently mixing two chunkings.
CHUNKER_VERSION = "md1"

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^(```|~~~)")
_BLANK = re.compile(r"^[ \t]*$")
# A sentence ends at . ! ? followed by space and a capital, digit or bracket, or at a missing space
# as in "cells.The" (common in scraped abstracts).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'])|(?<=[a-z0-9)\]][.!?])(?=[A-Z][a-z])")
_WORD_SPAN = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class Chunk:
    """One piece of a file, as the dense index stores it.

    Attributes:
        path: Namespace path of the file.
        version: File version the chunk was cut from.
        index: Position of the chunk in the file (0-based).
        start: Character offset of the chunk in the file's text (inclusive).
        end: Character offset where the chunk ends (exclusive).
        text: ``file_text[start:end]``.
        context: What the chunk is about beyond its own words: the file's title or description and
            the heading trail of its section (``"Guide > Install"``); may be empty.
        tokens: tiktoken count of ``text``.
    """

    path: str
    version: int
    index: int
    start: int
    end: int
    text: str
    context: str
    tokens: int

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)

    def embed_text(self) -> str:
        """The text handed to the embedder: the context line, then the chunk itself.

        The last heading of the context is left out when the chunk begins with it (a section's
        first chunk starts with its own heading line), so no words are counted twice.
        """
        body = self.text.strip()
        trail = self.context.split(" > ") if self.context else []
        if trail and body.lstrip("#").lstrip().startswith(trail[-1]):
            trail.pop()
        return "\n".join([" > ".join(trail), body]) if trail else body


@dataclass(frozen=True)
class _Block:
    start: int
    end: int
    heading: tuple[str, ...]  # the heading trail this block lives under
    is_heading: bool


def _lines(text: str, offset: int) -> Iterator[tuple[int, str]]:
    position = offset
    for line in text[offset:].splitlines(keepends=True):
        yield position, line
        position += len(line)


def _blocks(text: str, offset: int, markdown: bool) -> list[_Block]:
    """Headings, fenced code blocks and blank-line separated paragraphs, with their spans."""
    blocks: list[_Block] = []
    trail: list[tuple[int, str]] = []  # (level, title)
    start: int | None = None
    end = offset
    fence: str | None = None

    def close() -> None:
        nonlocal start
        if start is not None and text[start:end].strip():
            blocks.append(_Block(start, end, tuple(t for _, t in trail), False))
        start = None

    for position, line in _lines(text, offset):
        stripped = line.rstrip("\r\n")
        if fence is not None:
            end = position + len(line)
            if stripped.strip().startswith(fence):
                fence = None
                close()
            continue
        if markdown and _FENCE.match(stripped.strip()):
            close()
            fence = stripped.strip()[:3]
            start, end = position, position + len(line)
            continue
        heading = _HEADING.match(stripped) if markdown else None
        if heading:
            close()
            level = len(heading.group(1))
            trail = [(lvl, title) for lvl, title in trail if lvl < level]
            trail.append((level, heading.group(2).strip()))
            blocks.append(_Block(position, position + len(stripped), tuple(t for _, t in trail), True))
            continue
        if _BLANK.match(stripped):
            close()
            continue
        if start is None:
            start = position
        end = position + len(stripped)
    close()
    return blocks


def _pieces(text: str, start: int, end: int, max_tokens: int, counter: TokenCounter) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into spans of at most ``max_tokens``: at sentence ends, else words."""
    units: list[tuple[int, int]] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        units.append((cursor, match.start()))
        cursor = match.end()
    units.append((cursor, end))
    spans: list[tuple[int, int]] = []
    for u_start, u_end in units:
        if counter.count(text[u_start:u_end]) <= max_tokens:
            spans.append((u_start, u_end))
            continue
        # A "sentence" longer than a chunk (a table row, minified text): pack words instead.
        piece_start, piece_tokens = u_start, 0
        for word in _WORD_SPAN.finditer(text, u_start, u_end):
            size = counter.count(word.group())
            if piece_tokens and piece_tokens + size > max_tokens:
                spans.append((piece_start, word.start()))
                piece_start, piece_tokens = word.start(), 0
            piece_tokens += size
        spans.append((piece_start, u_end))
    return _pack(text, spans, max_tokens, counter)


def _pack(text: str, spans: list[tuple[int, int]], max_tokens: int, counter: TokenCounter) -> list[tuple[int, int]]:
    """Merge neighbouring spans while the merged text stays within ``max_tokens``."""
    out: list[tuple[int, int]] = []
    for span in spans:
        if out and counter.count(text[out[-1][0]:span[1]]) <= max_tokens:
            out[-1] = (out[-1][0], span[1])
        else:
            out.append(span)
    return out


def _title(meta: dict[str, object]) -> str:
    for key in ("title", "name", "description"):
        value = meta.get(key)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:200]
    return ""


def chunk_text(
    text: str,
    *,
    path: str,
    version: int = 1,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    counter: TokenCounter | None = None,
    markdown: bool | None = None,
    max_chunks: int | None = None,
) -> list[Chunk]:
    """Split a file's text into chunks.

    Args:
        text: The whole file as text (front matter included, if any).
        path: Namespace path; ``.md``/``.markdown`` files are split on headings.
        version: The file version the text belongs to.
        max_tokens: Upper bound on each chunk's tiktoken count (a single word longer than this
            is the only exception: it is kept whole).
        counter: Token counter (default: o200k_base).
        markdown: Force Markdown handling on or off (default: by file extension).
        max_chunks: Keep only the first this many chunks (huge files stay searchable by their
            beginning, and lexically in full).

    Returns:
        Chunks in file order; an empty list for a file with no words.

    Raises:
        ValueError: ``max_tokens`` is below 8.
    """
    if max_tokens < 8:
        raise ValueError(f"max_tokens must be at least 8, not {max_tokens}")
    counter = counter or TokenCounter()
    is_markdown = path.lower().endswith((".md", ".markdown")) if markdown is None else markdown
    offset, title = 0, ""
    if is_markdown:
        try:
            document = frontmatter.split(text, path=path)
        except ValidationError:
            document = None  # broken front matter is still text worth finding
        if document is not None and document.has_front_matter:
            offset = len(text) - len(document.body)
            title = _title(document.meta)
    blocks = _blocks(text, offset, is_markdown)
    if is_markdown and not title:
        title = next((b.heading[0] for b in blocks if b.is_heading and b.heading), "")

    chunks: list[Chunk] = []

    def emit(start: int, end: int, heading: tuple[str, ...]) -> None:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start >= end:
            return
        trail = list(heading)
        if title and (not trail or trail[0] != title):
            trail.insert(0, title)
        body = text[start:end]
        chunks.append(Chunk(path, version, len(chunks), start, end, body, " > ".join(trail),
                            counter.count(body)))

    # Group blocks into sections: a heading starts a new one (its title rides with the section).
    group: list[_Block] = []
    sections: list[list[_Block]] = []
    for block in blocks:
        if block.is_heading and any(not b.is_heading for b in group):
            sections.append(group)
            group = []
        group.append(block)
    if group:
        sections.append(group)

    for section in sections:
        heading = section[-1].heading
        spans: list[tuple[int, int]] = []
        for block in section:
            if counter.count(text[block.start:block.end]) <= max_tokens:
                spans.append((block.start, block.end))
            else:
                spans.extend(_pieces(text, block.start, block.end, max_tokens, counter))
        headings_end = max((b.end for b in section if b.is_heading), default=-1)
        packed = _pack(text, spans, max_tokens, counter)
        if len(packed) > 1 and packed[0][1] <= headings_end:
            # Heading lines that did not fit with the first paragraph are not a chunk of their
            # own: their words already ride along in the context of every chunk of the section.
            packed = packed[1:]
        for start, end in packed:
            emit(start, end, heading)
            if max_chunks is not None and len(chunks) >= max_chunks:
                return chunks
    return chunks
