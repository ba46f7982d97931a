"""Compression of items too long for their share of the budget.

Extractive by default, so the context still quotes the file verbatim and replay can recompute it:
the body's sentences are ranked by how many of the task's terms they share (the first sentence
gets a small bonus: it usually says what the file is about), the best are kept in their original
order until the block fits, and gaps show as ``[…]``. History keeps its *last* tokens instead
(the end of a conversation matters most). When no single sentence fits, the body's first tokens
are kept. A pluggable summariser ``fn(text, max_tokens) -> str`` replaces the extractive step; its
output is stored in the manifest because it cannot be recomputed.
"""

from __future__ import annotations

from collections.abc import Callable

from agentfs.context import views
from agentfs.context.candidates import Candidate
from agentfs.context.render import Block, block_text
from agentfs.context.text import sentences, term_set
from agentfs.context.tokens import Tokens

Summarizer = Callable[[str, int], str]


def block_tokens(candidate: Candidate, section: str, label: str, tokens: Tokens, note: str = "") -> int:
    return tokens.count(block_text(Block(section, label, candidate.path, candidate.version, candidate.text, note)))


def compress(
    candidate: Candidate,
    target: int,
    *,
    section: str,
    label: str,
    task: str,
    tokens: Tokens,
    summarizer: Summarizer | None = None,
) -> bool:
    """Shrink ``candidate`` in place so that its block takes at most ``target`` tokens.

    Returns:
        True when it now fits (``view``, ``text``, ``tokens`` and ``compressed_from`` are updated);
        False when nothing of it fits (the candidate is left unchanged).
    """
    if candidate.view.get("mode") == "describe":
        return False
    original = candidate.tokens
    body = views.body(candidate.path, candidate.raw)
    attempts = []
    if summarizer is not None:
        attempts.append(lambda budget: _summary(body, budget, summarizer, tokens))
    elif candidate.kind == "history":
        attempts.append(lambda budget: _ends(body, budget, "tail"))
    elif not candidate.path.endswith(".json"):
        attempts.append(lambda budget: _extract(body, budget, task, tokens))
    attempts.append(lambda budget: _ends(body, budget, "head"))
    overhead = block_tokens(_with_text(candidate, ""), section, label, tokens, "excerpt")
    for attempt in attempts:
        budget = target - overhead
        while budget > 0:
            view = attempt(budget)
            if view is None:
                break
            text = views.apply(view, candidate.path, candidate.raw, tokens)
            trial = _with_text(candidate, text)
            cost = block_tokens(trial, section, label, tokens, "excerpt")
            if cost <= target and text.strip(" […]"):
                candidate.view, candidate.text, candidate.tokens = view, text, cost
                candidate.compressed_from = original
                return True
            # Markers and token merges at the seams can add a few tokens: shrink and retry.
            budget -= max(cost - target, 1)
    return False


def _with_text(candidate: Candidate, text: str) -> Candidate:
    clone = Candidate(**{**candidate.__dict__})
    clone.text = text
    return clone


def _ends(body: str, budget: int, mode: str) -> views.View | None:
    # The "[…]" marker costs about 2 tokens.
    return {"mode": mode, "tokens": budget - 2} if budget > 2 else None


def _summary(body: str, budget: int, summarizer: Summarizer, tokens: Tokens) -> views.View | None:
    text = summarizer(body, budget).strip()
    if tokens.count(text) > budget:
        text = tokens.head(text, budget)
    return {"mode": "summary", "text": text} if text else None


def _extract(body: str, budget: int, task: str, tokens: Tokens) -> views.View | None:
    units = sentences(body)
    if len(units) <= 1:
        return None
    wanted = term_set(task)
    ranked = sorted(
        range(len(units)),
        key=lambda i: (-(len(wanted & term_set(units[i])) + (0.5 if i == 0 else 0.0)), i),
    )
    costs = tokens.count_many(units)
    chosen: list[int] = []
    used = 0
    for index in ranked:
        # +3 covers the joining space or "[…]" marker next to the sentence.
        if used + costs[index] + 3 <= budget:
            chosen.append(index)
            used += costs[index] + 3
    if not chosen:
        return None
    return {"mode": "extract", "units": sorted(chosen)}
