"""Small, deterministic text helpers shared by the stages: terms, sentences, keywords.

Everything here is a pure function of its input: replaying a manifest re-runs them on the same
bytes and must get the same result, so no locale, randomness or model is involved.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
# Sentence ends (., !, ? followed by space and an upper-case letter, digit or quote) or blank lines.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n")
_LINE_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")

_STOPWORD_TEXT = """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just let me more
    most my myself no nor not of off on once only or other our ours ourselves out over own please same
    she should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves s t d ll m re ve also get got shall may might must need
    tell give show find make want know"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
NEGATIONS = frozenset({"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without",
                       "cannot", "n't", "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent",
                       "wont", "cant", "hasnt", "havent", "hadnt", "shouldnt", "wouldnt", "couldnt"})


def words(text: str) -> list[str]:
    """Lower-cased words (apostrophes kept inside words, so "don't" stays one word)."""
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light suffix stripper: enough to match "meetings" with "meeting", not a linguist."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes", "zes")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    # "prepare", "prepared" and "prepares" all end up as "prepar".
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Content terms: words minus stop words and negations, stemmed; order kept, repeats kept."""
    out = []
    for word in words(text):
        if word in STOPWORDS or word in NEGATIONS or _negation(word):
            continue
        out.append(stem(word))
    return out


def term_set(text: str) -> frozenset[str]:
    return frozenset(terms(text))


def _negation(word: str) -> bool:
    return word.endswith("n't") or word.replace("'", "") in NEGATIONS


def negated(text: str) -> bool:
    """True when ``text`` carries an odd number of negations ("not", "never", "doesn't"...)."""
    return sum(1 for w in words(text) if _negation(w)) % 2 == 1


def keywords(task: str) -> str:
    """The search query for a task: its distinct content words (original form), in order.

    Stop words are dropped before searching: in a big store "the" or "what" match nearly every
    file, and a ranked full-text query costs time in proportion to the files it matches.
    """
    seen: dict[str, None] = {}
    for word in words(task):
        base = word[:-2] if word.endswith("'s") else word
        if base in STOPWORDS or _negation(base) or (len(base) < 2 and not base.isdigit()):
            continue
        seen.setdefault(base, None)
    return " ".join(seen)


def sentences(text: str) -> list[str]:
    """Split text into sentence-like units (sentences, list items, paragraphs), trimmed, non-empty."""
    units: list[str] = []
    for block in _SENTENCE_END.split(text):
        for line in _split_lines(block):
            line = line.strip()
            if line:
                units.append(line)
    return units


def _split_lines(block: str) -> list[str]:
    # List items and headings are units of their own; ordinary wrapped lines belong together.
    lines = block.split("\n")
    if len(lines) == 1:
        return lines
    out: list[str] = []
    for line in lines:
        if out and line.strip() and not _LINE_ITEM.match(line) and not line.lstrip().startswith("#") \
                and not out[-1].lstrip().startswith("#"):
            out[-1] = out[-1] + " " + line.strip()
        else:
            out.append(line)
    return out


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"
