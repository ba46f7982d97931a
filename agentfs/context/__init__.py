"""Context engineering: Constructor -> Loader -> Evaluator, under an exact token budget.

    >>> import agentfs, agentfs.context as context                    # doctest: +SKIP
    >>> fs = agentfs.open("./ctx")                                    # doctest: +SKIP
    >>> ctx = context.build(fs, "plan Ana's Tuesday", principal="agent:planner", budget=4000)  # doctest: +SKIP
    >>> ctx.to_messages()                      # [SystemMessage(prefix), HumanMessage(rest)]  # doctest: +SKIP
    >>> context.check(fs, ctx).ok                                     # doctest: +SKIP
    >>> context.grade(fs, ctx, answer).confidence                     # doctest: +SKIP

Stages, each usable on its own: :func:`gather`, :func:`score_all`, :func:`dedup`, :func:`compress`,
:func:`select`, :func:`order`, :func:`render`; then :func:`to_messages` / :func:`to_text` /
:func:`to_json`, :func:`refresh`, :func:`page_in`; :func:`check`, :func:`grade`, :func:`remember`;
:func:`replay`. Policies: :func:`load_policy`. Grounding over evidence of your own (e.g. tool
results): :class:`Evidence`, :func:`ground`, :class:`EvaluatorPolicy`, :func:`resolve_embedder`.
"""

from __future__ import annotations

# Imported eagerly on purpose: several stage functions share their module's name (render, order,
# select, ...). Once a submodule is imported, Python binds the module under that name on the
# package, so a lazy export would silently turn into the module.
from agentfs.context.candidates import Candidate, Exclusion
from agentfs.context.compress import compress
from agentfs.context.constructor import Context, build, resolve_embedder
from agentfs.context.dedup import dedup
from agentfs.context.evaluator import Grade, Preflight, Remembered, check, grade, remember
from agentfs.context.gather import gather
from agentfs.context.grounding import Evidence, Grounding, claims_of, ground
from agentfs.context.loader import Page, load, page_in, read_page, refresh, to_json, to_messages, to_text
from agentfs.context.manifest import Manifest, ManifestItem, read_manifest
from agentfs.context.order import order
from agentfs.context.policy import ContextPolicy, EvaluatorPolicy, load_policy
from agentfs.context.render import render
from agentfs.context.replay import ReplayResult, replay
from agentfs.context.scorers import ScoringContext, score_all
from agentfs.context.select import select
from agentfs.context.tokens import Tokens

__all__ = [
    "Candidate",
    "Context",
    "ContextPolicy",
    "EvaluatorPolicy",
    "Evidence",
    "Exclusion",
    "Grade",
    "Grounding",
    "Manifest",
    "ManifestItem",
    "Page",
    "Preflight",
    "Remembered",
    "ReplayResult",
    "ScoringContext",
    "Tokens",
    "build",
    "check",
    "claims_of",
    "compress",
    "dedup",
    "gather",
    "grade",
    "ground",
    "load",
    "load_policy",
    "order",
    "page_in",
    "read_manifest",
    "read_page",
    "refresh",
    "remember",
    "render",
    "replay",
    "resolve_embedder",
    "score_all",
    "select",
    "to_json",
    "to_messages",
    "to_text",
]
