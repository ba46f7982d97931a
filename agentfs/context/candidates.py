"""The values that flow between the Constructor's stages: candidates and exclusions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentfs.context.views import View

# Sources a candidate can come from (recorded in the manifest, shown by --explain).
SOURCES = ("pinned", "search", "history", "tool", "skill", "page")


@dataclass
class Candidate:
    """One file version that might go into a context, with everything the stages need.

    ``raw`` is the decoded content of exactly ``version``; ``text`` is what the model would see
    (``views.apply(view, path, raw)``); ``tokens`` counts the whole rendered block including its
    label line, so selection sums real costs.
    """

    path: str
    version: int
    kind: str
    source: str
    raw: str
    view: View
    text: str
    modified_ns: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    search_score: float | None = None
    search_rank: int | None = None
    relevance: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    score: float = 0.0
    tokens: int = 0
    reason: str = ""
    forced: bool = False  # pinned or explicitly paged in: selected before anything scored
    order: int = 0  # position among forced items (pin order, page order)
    compressed_from: int | None = None  # tokens before compression

    @property
    def key(self) -> tuple[str, int]:
        return (self.path, self.version)


@dataclass(frozen=True)
class Exclusion:
    """A candidate left out, and why (``--explain`` shows these)."""

    path: str
    version: int | None
    kind: str
    why: str
    tokens: int | None = None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version, "kind": self.kind, "tokens": self.tokens,
                "score": None if self.score is None else round(self.score, 4), "why": self.why}


def exclude(candidate: Candidate, why: str) -> Exclusion:
    return Exclusion(candidate.path, candidate.version, candidate.kind, why, candidate.tokens or None,
                     candidate.score)
