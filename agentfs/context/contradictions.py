"""Finding statements that contradict each other: pragmatic, explainable, not a logic engine.

Two kinds of conflict are detected between sentences of *different* items (or a claim and an
item):

- **negation**: the same statement with opposite polarity, e.g. "Ana drinks coffee" and "Ana does
  not drink coffee". Two sentences count as the same statement when they share their subject and
  at least ``SAME_STATEMENT`` of their content terms (Jaccard, negation words removed).
- **different values** of a single-valued attribute, e.g. "Ana lives in Lisbon" and "Ana lives in
  Porto", or "Ana's birthday is May 3" and "Ana's birthday is June 9". Recognised forms:
  ``<subject>'s <attribute> is <value>`` and ``<subject> lives in | works at | works for | is
  based in | was born in | was born on | moved to <value>``. Values differ when their content
  terms do not overlap. (Bare ``key: value`` lines are not compared across files: without a
  subject, "timezone: UTC" in Bob's profile would contradict "timezone: Europe/Lisbon" in Ana's.)

What it misses: paraphrases ("Ana avoids caffeine"), quantities and dates written differently,
and anything needing world knowledge; a pluggable LLM judge in :mod:`agentfs.context.grounding`
covers those when a caller provides one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agentfs.context.text import negated, sentences, term_set, terms

SAME_STATEMENT = 0.6
_CLAUSE_END = re.compile(r"\s*(?:,|;|\.|\bbut\b|\band\b|\bbecause\b|\bwhile\b|\bsince\b)\s*", re.IGNORECASE)
_POSSESSIVE = re.compile(r"^(?P<subject>[\w .-]{1,60}?)['’]s (?P<attribute>[\w -]{1,40}?) (?:is|are|was|were) "
                         r"(?:not )?(?P<value>.+)$", re.IGNORECASE)
_RELATION = re.compile(
    r"^(?P<subject>[\w .,;'’-]{1,60}?) (?:(?:does not|doesn't|no longer|never) )?"
    r"(?P<attribute>lives in|lives at|works at|works for|is based in|was born in|was born on|moved to)"
    r" (?P<value>.+)$",
    re.IGNORECASE,
)


_JOINED = re.compile(r"(?:,|;|\bbut\b|\band\b|\bwhile\b)", re.IGNORECASE)


def _clause_subject(subject: str) -> str:
    """The subject of a relation found after a clause joiner. In "Ana drinks tea and Bob lives in
    Lisbon" it is the clause's own ("Bob"); in "Ana drinks tea and lives in Lisbon" the clause has
    none, so it is the sentence's: its leading capitalised words ("Ana", "Ana Lima"), else its
    first word."""
    if not _JOINED.search(subject):
        return subject
    after = _JOINED.split(subject)[-1].strip()
    if after:  # "Ana drinks tea and Bob": a clause with a subject of its own
        return after
    words = subject.split()
    leading = []
    for word in words:
        if not word[:1].isupper():
            break
        leading.append(word)
    return " ".join(leading) or words[0]


@dataclass(frozen=True)
class Statement:
    """One sentence of one item (or of an answer), analysed once."""

    label: str
    path: str
    version: int
    text: str
    terms: frozenset[str]
    subject: str
    negated: bool
    fact: tuple[str, str] | None  # (subject|attribute key, value) of a single-valued attribute
    value_terms: frozenset[str]


@dataclass(frozen=True)
class Conflict:
    kind: str  # negation | value
    a: Statement
    b: Statement
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "detail": self.detail,
            "a": {"label": self.a.label, "path": self.a.path, "version": self.a.version, "text": self.a.text},
            "b": {"label": self.b.label, "path": self.b.path, "version": self.b.version, "text": self.b.text},
        }


def analyse(text: str, *, label: str = "", path: str = "", version: int = 0) -> Statement:
    """Analyse one sentence."""
    clean = text.strip().rstrip(".!")
    content = terms(clean)
    fact = None
    value_terms: frozenset[str] = frozenset()
    for pattern in (_POSSESSIVE, _RELATION):
        match = pattern.match(clean)
        if match:
            subject = " ".join(terms(_clause_subject(match.group("subject"))))
            attribute = " ".join(terms(match.group("attribute"))) or match.group("attribute").lower()
            value = _CLAUSE_END.split(match.group("value"), maxsplit=1)[0]
            value_terms = term_set(value)
            if value_terms:
                fact = (f"{subject}|{attribute}", value.strip())
            break
    return Statement(label, path, version, text.strip(), frozenset(content), content[0] if content else "",
                     negated(clean), fact, value_terms)


def statements(text: str, *, label: str = "", path: str = "", version: int = 0) -> list[Statement]:
    """Every sentence of ``text`` with at least two content terms, analysed."""
    out = []
    for sentence in sentences(text):
        statement = analyse(sentence, label=label, path=path, version=version)
        if len(statement.terms) >= 2:
            out.append(statement)
    return out


def conflict(a: Statement, b: Statement) -> Conflict | None:
    """The conflict between two statements, if any."""
    if a.fact and b.fact and a.fact[0] == b.fact[0] and a.negated == b.negated \
            and a.value_terms and b.value_terms and not a.value_terms & b.value_terms:
        return Conflict("value", a, b, f"{a.fact[0].replace('|', ' ').strip()}: {a.fact[1]!r} vs {b.fact[1]!r}")
    if a.negated != b.negated and a.subject and a.subject == b.subject:
        union = a.terms | b.terms
        if union and len(a.terms & b.terms) / len(union) >= SAME_STATEMENT:
            return Conflict("negation", a, b, "the same statement, once affirmed and once negated")
    return None


def find_conflicts(items: list[list[Statement]], *, limit: int = 50) -> list[Conflict]:
    """Conflicts between statements of different items (each inner list is one item)."""
    flat = [(index, s) for index, group in enumerate(items) for s in group]
    by_subject: dict[str, list[tuple[int, Statement]]] = {}
    by_fact: dict[str, list[tuple[int, Statement]]] = {}
    for entry in flat:
        by_subject.setdefault(entry[1].subject, []).append(entry)
        if entry[1].fact:
            by_fact.setdefault(entry[1].fact[0], []).append(entry)
    found: list[Conflict] = []
    seen: set[tuple[str, str]] = set()
    for groups in (by_fact, by_subject):
        for group in groups.values():
            for i, (item_a, a) in enumerate(group):
                for item_b, b in group[i + 1:]:
                    if item_a == item_b or (a.text, b.text) in seen:
                        continue
                    found_conflict = conflict(a, b)
                    if found_conflict is not None:
                        seen.add((a.text, b.text))
                        found.append(found_conflict)
                        if len(found) >= limit:
                            return found
    return found
