"""Grounding: which claims of an answer stand on which delivered items.

An answer is split into claims (its sentences with at least two content terms; questions and
citation-only fragments are skipped). Each claim is compared with every sentence of every item
that was delivered:

- **lexical support**: the share of the claim's content terms found in the sentence, each term
  weighted by its rarity among the delivered sentences (``log(1 + n / df)``), so a claim cannot
  pass on the name every item mentions ("Ana hates Tuesdays" is not supported by "Ana has a
  dentist appointment on Tuesday");
- **embedding similarity**: cosine of the two sentences' vectors, when an embedder is available
  (MiniLM by default; without it grounding is lexical only, and the report says so);
- **conflict**: the same statement negated, or a different value of a single-valued attribute
  (:mod:`agentfs.context.contradictions`).

A claim is *contradicted* when a related delivered sentence conflicts with it, *supported* when its
best lexical support reaches ``lexical_support`` or its best similarity reaches
``embedding_support``, and *unsupported* otherwise. Its confidence is its best support (0 when
contradicted); the answer's confidence is the mean over claims.

A judge (any callable ``judge(claim, evidence) -> verdict`` or a LangChain ``Runnable`` taking
``{"claim", "evidence"}``) overrides the verdict: it may return ``"supported"``, a dict with
``verdict``, ``confidence`` and ``labels``, or a chat message whose text names the verdict.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agentfs.context.contradictions import Statement, analyse, conflict, statements
from agentfs.context.memo import embed_cached
from agentfs.context.policy import EvaluatorPolicy
from agentfs.context.text import sentences

VERDICTS = ("supported", "unsupported", "contradicted")
RELATED = 0.5  # lexical overlap at which a conflicting sentence is about the same thing
TOP_EVIDENCE = 5  # sentences shown to a judge and kept in the report per claim
_CITATION = re.compile(r"\s*\[[A-Z]\d+\](?:\s*,\s*\[[A-Z]\d+\])*")


@dataclass(frozen=True)
class Evidence:
    """One delivered item, by label."""

    label: str
    path: str
    version: int
    text: str


@dataclass
class Support:
    label: str
    path: str
    version: int
    sentence: str
    lexical: float
    semantic: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "path": self.path, "version": self.version, "sentence": self.sentence,
                "lexical": round(self.lexical, 3),
                "semantic": None if self.semantic is None else round(self.semantic, 3)}


@dataclass
class ClaimResult:
    claim: str
    verdict: str
    confidence: float
    support: list[Support] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    judge: dict[str, Any] | None = None

    @property
    def sources(self) -> list[dict[str, Any]]:
        """(path, version) of the items that support the claim (its provenance)."""
        if self.verdict != "supported":
            return []
        seen: dict[tuple[str, int], None] = {}
        for s in self.support:
            seen.setdefault((s.path, s.version), None)
        return [{"path": p, "version": v} for p, v in seen]

    def to_dict(self) -> dict[str, Any]:
        return {"claim": self.claim, "verdict": self.verdict, "confidence": round(self.confidence, 3),
                "support": [s.to_dict() for s in self.support], "conflicts": self.conflicts, "judge": self.judge}


@dataclass
class Grounding:
    claims: list[ClaimResult]
    confidence: float
    method: str  # lexical | lexical+embedding:<model> | ... +judge

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.claims if c.verdict == verdict)

    def to_dict(self) -> dict[str, Any]:
        return {"confidence": round(self.confidence, 3), "method": self.method,
                **{v: self.count(v) for v in VERDICTS}, "claims": [c.to_dict() for c in self.claims]}


def claims_of(answer: str) -> list[str]:
    """The sentences of ``answer`` worth checking, with citation labels like ``[E1]`` removed."""
    out = []
    for sentence in sentences(answer):
        clean = _CITATION.sub("", sentence).strip()
        if clean.endswith("?") or clean.startswith("#"):
            continue
        if len(analyse(clean).terms) >= 2:
            out.append(clean)
    return out


def ground(
    claims: list[str],
    evidence: list[Evidence],
    *,
    policy: EvaluatorPolicy,
    embedder: Any = None,
    judge: Any = None,
) -> Grounding:
    """Check each claim against the delivered evidence."""
    units: list[Statement] = []
    for item in evidence:
        units.extend(statements(item.text, label=item.label, path=item.path, version=item.version))
    method = "lexical"
    similarity = None
    if embedder is not None and units and claims:
        try:
            vectors = embed_cached(embedder, [u.text for u in units])
            claim_vectors = embed_cached(embedder, claims)
            similarity = claim_vectors @ vectors.T
            method = f"lexical+embedding:{getattr(embedder, 'model_name', type(embedder).__name__)}"
        except (RuntimeError, ValueError, OSError):  # a failing model degrades to lexical grounding
            similarity = None
    frequency: dict[str, int] = {}
    for unit in units:
        for term in unit.terms:
            frequency[term] = frequency.get(term, 0) + 1
    count = max(len(units), 1)

    def weight(term: str) -> float:
        # A term no delivered sentence has counts as if it were in half of one: rarer than any.
        return math.log(1.0 + count / frequency.get(term, 0.5))

    results = [_one(claim, i, units, similarity, policy, weight) for i, claim in enumerate(claims)]
    if judge is not None:
        method += "+judge"
        for result in results:
            _apply_judge(judge, result)
    confidence = float(np.mean([r.confidence for r in results])) if results else 0.0
    return Grounding(results, confidence, method)


def _one(
    claim: str, index: int, units: list[Statement], similarity: Any, policy: EvaluatorPolicy,
    weight: Callable[[str], float],
) -> ClaimResult:
    mine = analyse(claim)
    weights = {t: weight(t) for t in mine.terms}
    total = sum(weights.values())
    scored: list[Support] = []
    conflicts = []
    for j, unit in enumerate(units):
        lexical = sum(weights[t] for t in mine.terms & unit.terms) / total if total else 0.0
        semantic = float(similarity[index, j]) if similarity is not None else None
        scored.append(Support(unit.label, unit.path, unit.version, unit.text, lexical, semantic))
        related = lexical >= RELATED or (semantic is not None and semantic >= policy.embedding_support) \
            or (mine.fact is not None and unit.fact is not None and mine.fact[0] == unit.fact[0])
        if related:
            found = conflict(mine, unit)
            if found is not None:
                conflicts.append({"label": unit.label, "path": unit.path, "version": unit.version,
                                  "sentence": unit.text, "kind": found.kind, "detail": found.detail})
    scored.sort(key=lambda s: (-max(s.lexical, s.semantic or 0.0), s.label, s.sentence))
    best_lexical = max((s.lexical for s in scored), default=0.0)
    best_semantic = max((s.semantic for s in scored if s.semantic is not None), default=None)
    strength = max(best_lexical, best_semantic or 0.0)
    supported = best_lexical >= policy.lexical_support or (
        best_semantic is not None and best_semantic >= policy.embedding_support)
    if conflicts:
        verdict, confidence = "contradicted", 0.0
    elif supported:
        verdict, confidence = "supported", min(strength, 1.0)
    else:
        verdict, confidence = "unsupported", min(strength, 1.0)
    top = [s for s in scored[:TOP_EVIDENCE] if max(s.lexical, s.semantic or 0.0) > 0]
    if verdict == "supported":
        top = [s for s in top if s.lexical >= policy.lexical_support
               or (s.semantic is not None and s.semantic >= policy.embedding_support)] or top[:1]
    return ClaimResult(claim, verdict, confidence, top, conflicts)


def _apply_judge(judge: Any, result: ClaimResult) -> None:
    evidence = [s.to_dict() for s in result.support] + [
        {k: c[k] for k in ("label", "path", "version", "sentence")} for c in result.conflicts]
    if hasattr(judge, "invoke"):
        raw = judge.invoke({"claim": result.claim, "evidence": evidence})
    else:
        raw = judge(result.claim, evidence)
    verdict, confidence, labels = _parse_judgement(raw)
    result.judge = {"verdict": verdict, "confidence": confidence, "labels": labels}
    if verdict is None:
        return
    result.verdict = verdict
    if confidence is not None:
        result.confidence = confidence
    elif verdict == "contradicted":
        result.confidence = 0.0
    if labels:
        result.support = [s for s in result.support if s.label in labels] or result.support


def _parse_judgement(raw: Any) -> tuple[str | None, float | None, list[str]]:
    if hasattr(raw, "content"):  # a chat message
        raw = raw.content
    if isinstance(raw, dict):
        verdict = str(raw.get("verdict", "")).lower() or None
        confidence = raw.get("confidence")
        labels = [str(x) for x in raw.get("labels", []) or []]
        if verdict not in VERDICTS:
            verdict = None
        value = float(confidence) if isinstance(confidence, int | float) and not isinstance(confidence, bool) else None
        return verdict, None if value is None else min(max(value, 0.0), 1.0), labels
    text = str(raw).lower()
    positions = {v: text.find(v) for v in VERDICTS if v in text}
    # "unsupported" contains "supported": take the verdict named first, longest on a tie.
    if not positions:
        return None, None, []
    first = min(positions.items(), key=lambda kv: (kv[1], -len(kv[0])))[0]
    return first, None, []
