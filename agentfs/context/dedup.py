"""Near-duplicate removal: word-shingle Jaccard similarity, the better candidate wins.

Memory stores collect restatements of one fact ("Ana drinks oat-milk flat whites" written by two
agents on two days). Candidates are visited best first (forced ones, then by score); a candidate
whose shingle set is at least ``threshold`` similar to one already kept is excluded, naming it.
Tools and skills are never compared (their one-line descriptions are not evidence).
"""

from __future__ import annotations

from agentfs.context.candidates import Candidate, Exclusion, exclude
from agentfs.context.policy import DedupPolicy
from agentfs.context.text import words

_COMPARED_KINDS = frozenset({"profile", "note", "history", "memory", "document"})


def shingles(text: str, size: int) -> frozenset[tuple[str, ...]]:
    """The set of ``size``-word windows of ``text`` (the whole text when it is shorter)."""
    tokens = words(text)
    if len(tokens) <= size:
        return frozenset({tuple(tokens)}) if tokens else frozenset()
    return frozenset(tuple(tokens[i:i + size]) for i in range(len(tokens) - size + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def priority(candidate: Candidate) -> tuple:
    """Visiting order shared by dedup and selection: forced first, then best score, then path."""
    return (not candidate.forced, candidate.order if candidate.forced else 0, -candidate.score,
            candidate.path, candidate.version)


def dedup(candidates: list[Candidate], policy: DedupPolicy) -> tuple[list[Candidate], list[Exclusion]]:
    """Drop near-duplicates; returns (kept in priority order, exclusions)."""
    kept: list[Candidate] = []
    compared: list[tuple[Candidate, frozenset, int]] = []
    excluded: list[Exclusion] = []
    for candidate in sorted(candidates, key=priority):
        if candidate.kind not in _COMPARED_KINDS:
            kept.append(candidate)
            continue
        mine = shingles(candidate.text, policy.shingle)
        duplicate_of = None
        similarity = 0.0
        for other, theirs, size in compared:
            # Jaccard can never exceed min/max of the set sizes: skip pairs that cannot match.
            if not mine or min(len(mine), size) / max(len(mine), size) < policy.threshold:
                continue
            similarity = jaccard(mine, theirs)
            if similarity >= policy.threshold:
                duplicate_of = other
                break
        if duplicate_of is not None and not candidate.forced:
            excluded.append(exclude(candidate, f"near-duplicate of {duplicate_of.path} "
                                               f"(similarity {similarity:.2f})"))
            continue
        kept.append(candidate)
        compared.append((candidate, mine, len(mine)))
    return kept, excluded
