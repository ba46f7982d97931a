"""Ordering: a stable prefix first, and the key evidence away from the middle.

Models attend best to the start and the end of a long context and worst to its middle ("lost in
the middle", Liu et al. 2023). Within the evidence section the best item goes first, the second
best last, the third second, and so on, so the weakest items meet in the middle. Pinned files keep
the policy's pin order and history stays chronological; tools and skills are listed by score.
"""

from __future__ import annotations

from agentfs.context.candidates import Candidate
from agentfs.context.render import LETTER, PREFIX_SECTIONS, REST_SECTIONS, SECTION_OF


def by_score(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (-c.score, c.path, c.version))


def edges_first(ranked: list[Candidate]) -> list[Candidate]:
    """Ranks 1, 3, 5, ... from the front and ..., 6, 4, 2 from the back."""
    return ranked[0::2] + ranked[1::2][::-1]


def order(selected: list[Candidate]) -> list[tuple[Candidate, str, str]]:
    """(candidate, section, label) in rendering order, labels numbered per section (E1, E2...)."""
    by_section: dict[str, list[Candidate]] = {}
    for candidate in selected:
        by_section.setdefault(SECTION_OF[candidate.kind], []).append(candidate)
    arranged = {
        "pinned": sorted(by_section.get("pinned", []), key=lambda c: (c.order, c.path)),
        "tools": by_score(by_section.get("tools", [])),
        "skills": by_score(by_section.get("skills", [])),
        "history": sorted(by_section.get("history", []), key=lambda c: (c.modified_ns, c.path)),
        "evidence": edges_first(by_score(by_section.get("evidence", []))),
        "pages": sorted(by_section.get("pages", []), key=lambda c: (c.order, c.path)),
    }
    out = []
    for section in (*PREFIX_SECTIONS, *REST_SECTIONS):
        for number, candidate in enumerate(arranged[section], start=1):
            out.append((candidate, section, f"{LETTER[section]}{number}"))
    return out
