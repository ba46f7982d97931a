"""Text helpers and views: pure, deterministic, and within their token limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfs import frontmatter
from agentfs.context import views
from agentfs.context.text import keywords, negated, sentences, stem, terms
from agentfs.context.tokens import Tokens
from agentfs.errors import ValidationError

TOKENS = Tokens()


def test_keywords_drop_stop_words_and_possessives() -> None:
    assert keywords("What does Ana's team do on Tuesday?") == "ana team tuesday"
    assert keywords("the of and") == ""


def test_terms_stem_lightly_and_ignore_negations() -> None:
    assert terms("Ana doesn't drink coffees on Tuesdays") == terms("Ana drinks coffee on Tuesday")
    assert len(terms("Ana doesn't drink coffees on Tuesdays")) == 4
    for forms in (("meeting", "meetings"), ("prepare", "prepared", "prepares"), ("box", "boxes"),
                  ("city", "cities"), ("book", "booked", "books", "booking")):
        assert len({stem(f) for f in forms}) == 1, forms
    assert negated("Ana does not drink coffee") and negated("Ana no longer drinks coffee")
    assert not negated("Ana drinks coffee") and not negated("Ana never doesn't drink coffee")


def test_sentences_split_prose_lists_and_paragraphs() -> None:
    text = 'He said "yes." Then he left.\n\n- item one\n- item two\n  wrapped\n# Head\nbody line'
    assert sentences(text) == ['He said "yes."', "Then he left.", "- item one", "- item two wrapped", "# Head",
                               "body line"]


@pytest.mark.parametrize("text", [
    "---\na: 1\n---\nbody\n", "---\r\na: 1\r\n---\r\nbody\r\n", "no front matter", "---\na: 1\n",
    "---\n---\nx", "---\na: 1\n...\nrest\n---\nmore", "---\nx: 1\n---", "---\nx: 1\n--- \nb",
])
def test_body_cuts_front_matter_where_the_parser_does(text: str) -> None:
    try:
        expected = frontmatter.split(text, path="/a.md").body.strip()
    except ValidationError:
        expected = text.strip()
    assert views.body("/a.md", text) == expected
    assert views.body("/a.json", text) == text.strip()


def test_describe_prefers_front_matter_then_first_paragraph_then_schema() -> None:
    assert views.describe("/t/README.md", "---\ndescription: Send mail\n---\n# x\n\nBody.\n") == "Send mail"
    assert views.describe("/t/README.md", "# create\n\nCreate an event.\n\nMore.\n") == "Create an event."
    assert views.describe("/t/schema.json", '{"description": "Make it"}') == "Make it"
    assert views.describe("/t/schema.json", "not json") == ""
    assert len(views.describe("/t/README.md", "word " * 400)) <= views.DESCRIPTION_CHARS


def test_extract_marks_gaps() -> None:
    text = "One. Two. Three. Four."
    assert views.extract(text, [0, 1]) == "One. Two. […]"
    assert views.extract(text, [1, 3]) == "[…] Two. […] Four."
    assert views.extract(text, [0, 3, 99]) == "One. […] Four."


@settings(max_examples=40, deadline=None)
@given(text=st.text(min_size=0, max_size=400), limit=st.integers(min_value=0, max_value=60))
def test_head_and_tail_stay_within_their_tokens(text: str, limit: int) -> None:
    assert TOKENS.count(TOKENS.head(text, limit)) <= limit
    tail = TOKENS.tail(text, limit)
    assert TOKENS.count(tail) <= limit
    assert text.endswith(tail)


def test_unknown_view_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="unknown view mode"):
        views.apply({"mode": "telepathy"}, "/a.md", "x", TOKENS)


def test_token_counts_are_exact_and_memoised() -> None:
    texts = [f"memory number {i} about Ana" for i in range(40)]
    assert TOKENS.count_many(texts) == [TOKENS.exact(t) for t in texts]
    assert TOKENS.count(texts[0]) == TOKENS.exact(texts[0])
