"""Composable scorers: each maps a candidate to [0, 1]; a policy weighs them into one score.

Built-in scorers:

- ``relevance``: what the source measured: the search score relative to the best hit, a tool's or
  skill's description overlap (or similarity) with the task, a history entry's position;
- ``recency``: ``0.5 ** (age / half_life)`` from the version's modification time to ``now``;
- ``importance``: the front-matter field ``importance`` (0-1), 0.5 when absent;
- ``kind``: the policy's prior for the candidate's kind (``kinds.<kind>.weight``).

A custom scorer is named ``package.module:callable`` and called as ``fn(candidate, context)``
with a :class:`ScoringContext`; it must return a number in [0, 1] (values are clipped).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentfs.context.candidates import Candidate
from agentfs.context.policy import ContextPolicy, ScorerSpec
from agentfs.errors import ValidationError
from agentfs.frontmatter import parse_duration

NS_PER_SECOND = 1_000_000_000
DEFAULT_HALF_LIFE = "30d"


@dataclass(frozen=True)
class ScoringContext:
    """What scorers may look at besides the candidate: the task, the time, the policy."""

    task: str
    now_ns: int
    policy: ContextPolicy


Scorer = Callable[[Candidate, ScoringContext], float]


def relevance(candidate: Candidate, context: ScoringContext) -> float:
    return candidate.relevance


def importance(candidate: Candidate, context: ScoringContext) -> float:
    value = candidate.meta.get("importance")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return 0.5


def kind_prior(candidate: Candidate, context: ScoringContext) -> float:
    return context.policy.kind(candidate.kind).weight


def recency(half_life: str | None) -> Scorer:
    seconds = parse_duration(half_life or DEFAULT_HALF_LIFE)

    def score(candidate: Candidate, context: ScoringContext) -> float:
        age = max(context.now_ns - candidate.modified_ns, 0) / NS_PER_SECOND
        return math.pow(0.5, age / seconds)

    return score


def resolve(spec: ScorerSpec) -> Scorer:
    """The scorer function a spec names.

    Raises:
        ValidationError: a ``module:callable`` that cannot be imported or is not callable.
    """
    if spec.name == "relevance":
        return relevance
    if spec.name == "importance":
        return importance
    if spec.name == "kind":
        return kind_prior
    if spec.name == "recency":
        return recency(spec.half_life)
    module_name, _, attribute = spec.name.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(f"scorer {spec.name!r} cannot be loaded: {exc}", rule="scorer") from None
    if not callable(target):
        raise ValidationError(f"scorer {spec.name!r} is not callable", rule="scorer")
    return target  # type: ignore[no-any-return]


def score_all(candidates: list[Candidate], context: ScoringContext) -> None:
    """Set ``scores`` (per scorer) and ``score`` (their weighted mean) on every candidate."""
    resolved = [(spec, resolve(spec)) for spec in context.policy.scorers]
    total = sum(spec.weight for spec, _ in resolved) or 1.0
    for candidate in candidates:
        combined = 0.0
        scores: dict[str, float] = {}
        for spec, scorer in resolved:
            value = min(max(float(scorer(candidate, context)), 0.0), 1.0)
            scores[spec.name] = round(value, 4)
            combined += spec.weight * value
        candidate.scores = scores
        # Rounded so that scores (and therefore order) are identical across platforms and replays.
        candidate.score = round(combined / total, 6)
