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
:func:`replay`. Policies: :func:`load_policy`.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> submodule. Imported on first use: `import agentfs` finds the `context` service through
# this package, and the CLI should not pay for the whole pipeline on every command.
_EXPORTS = {
    "Candidate": "candidates",
    "Exclusion": "candidates",
    "compress": "compress",
    "Context": "constructor",
    "build": "constructor",
    "dedup": "dedup",
    "Grade": "evaluator",
    "Preflight": "evaluator",
    "Remembered": "evaluator",
    "check": "evaluator",
    "grade": "evaluator",
    "remember": "evaluator",
    "gather": "gather",
    "Grounding": "grounding",
    "claims_of": "grounding",
    "ground": "grounding",
    "Page": "loader",
    "load": "loader",
    "page_in": "loader",
    "read_page": "loader",
    "refresh": "loader",
    "to_json": "loader",
    "to_messages": "loader",
    "to_text": "loader",
    "Manifest": "manifest",
    "ManifestItem": "manifest",
    "read_manifest": "manifest",
    "order": "order",
    "ContextPolicy": "policy",
    "load_policy": "policy",
    "render": "render",
    "ReplayResult": "replay",
    "replay": "replay",
    "ScoringContext": "scorers",
    "score_all": "scorers",
    "select": "select",
    "Tokens": "tokens",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentfs.context' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"agentfs.context.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
