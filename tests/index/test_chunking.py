"""Chunking: token bounds, Markdown sections, spans that index the file's text exactly."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfs.index.chunking import chunk_text
from agentfs.tokenizer import TokenCounter

COUNTER = TokenCounter()

NOTE = """---
description: Ana's coffee habits
tags: [coffee]
---
# Coffee

Ana drinks oat-milk flat whites. She hates sugar.

## Mornings

```
# not a heading, a comment in code
brew --strong
```

Every morning at eight, before the stand-up.

## Evenings
Decaf only, and never after nine.
"""


def test_every_chunk_keeps_path_version_and_an_exact_span() -> None:
    chunks = chunk_text(NOTE, path="/memory/semantic/coffee.md", version=7)
    assert chunks
    for i, chunk in enumerate(chunks):
        assert (chunk.path, chunk.version, chunk.index) == ("/memory/semantic/coffee.md", 7, i)
        assert NOTE[chunk.start:chunk.end] == chunk.text
        assert chunk.span == (chunk.start, chunk.end)
        assert chunk.tokens == COUNTER.count(chunk.text)
    starts = [c.start for c in chunks]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in itertools.pairwise(chunks))


def test_front_matter_is_context_not_a_chunk() -> None:
    chunks = chunk_text(NOTE, path="/memory/semantic/coffee.md")
    assert all("tags:" not in c.text for c in chunks)
    assert all(c.context.startswith("Ana's coffee habits") for c in chunks)
    assert chunks[0].embed_text().startswith("Ana's coffee habits\n# Coffee")


def test_sections_split_on_headings_but_not_inside_code() -> None:
    chunks = chunk_text(NOTE, path="/memory/semantic/coffee.md")
    assert [c.context.split(" > ")[-1] for c in chunks] == ["Coffee", "Mornings", "Evenings"]
    mornings = chunks[1]
    assert "# not a heading" in mornings.text and "Every morning" in mornings.text
    # A later section's chunk says which document and section it belongs to.
    assert chunks[2].embed_text().startswith("Ana's coffee habits > Coffee\n## Evenings")


def test_first_heading_is_the_title_without_front_matter() -> None:
    text = "# Paris\n\nThe capital of France.\n\n## Food\n\nCroissants.\n"
    chunks = chunk_text(text, path="/knowledge/paris.md")
    assert [c.context for c in chunks] == ["Paris", "Paris > Food"]


def test_long_paragraphs_are_cut_at_sentences_within_the_token_limit() -> None:
    sentence = "The quick brown fox jumps over the lazy dog near the river bank. "
    text = sentence * 60
    chunks = chunk_text(text, path="/knowledge/fox.txt", max_tokens=50)
    assert len(chunks) > 5
    assert all(c.tokens <= 50 for c in chunks)
    assert all(c.text.endswith("bank.") for c in chunks)
    assert "".join(text[c.start:c.end] for c in chunks).replace(" ", "") == text.replace(" ", "")


def test_a_sentence_longer_than_a_chunk_is_cut_at_words() -> None:
    text = " ".join(f"word{i}" for i in range(400))
    chunks = chunk_text(text, path="/a.txt", max_tokens=40)
    assert all(c.tokens <= 40 for c in chunks)
    assert " ".join(c.text for c in chunks) == text


def test_plain_text_has_no_headings() -> None:
    chunks = chunk_text("# not markdown\n\nbody text\n", path="/notes.txt")
    assert all(c.context == "" for c in chunks)


def test_edge_cases() -> None:
    assert chunk_text("", path="/a.md") == []
    assert chunk_text("   \n\n  ", path="/a.md") == []
    assert len(chunk_text("x " * 10_000, path="/a.txt", max_tokens=50, max_chunks=3)) == 3
    broken = "---\nnot: [closed\n# Title\n\ntext here\n"
    assert chunk_text(broken, path="/a.md")  # broken front matter is still text worth finding
    with pytest.raises(ValueError):
        chunk_text("abc", path="/a.md", max_tokens=2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80),
    st.sampled_from(["# Title", "## Part", "```", "", "\n", "- item", "Sentence one. Sentence two."]),
), max_size=30), st.integers(min_value=8, max_value=64), st.booleans())
def test_spans_always_index_the_text(lines: list[str], max_tokens: int, markdown: bool) -> None:
    text = "\n".join(lines)
    chunks = chunk_text(text, path="/x.md" if markdown else "/x.txt", max_tokens=max_tokens)
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
        assert chunk.text.strip()
    assert all(a.end <= b.start for a, b in itertools.pairwise(chunks))
