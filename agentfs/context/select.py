"""Selection under the budget, with quotas per kind and compression of what does not fit.

Candidates are visited in priority order (forced ones first: pinned files and paged bodies; then
by score). Each takes its block's exact token count out of what is left, provided its kind stays
within its quota (``kinds.<kind>.max_share`` of the usable budget, ``max_tokens``, ``max_items``)
and no single item takes more than ``compress.max_item_share``. An item too long for the room it
has is compressed to fit; if even that fails it is excluded with the numbers that ruled it out.
Opening a section costs its heading, counted when its first item is taken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agentfs.context.candidates import Candidate, Exclusion, exclude
from agentfs.context.compress import Summarizer, compress
from agentfs.context.policy import ContextPolicy
from agentfs.context.render import LETTER, PLACEHOLDER_NUMBER, SECTION_OF, Block, block_text, section_text
from agentfs.context.tokens import Tokens

_NOT_COMPRESSED = frozenset({"tool", "skill"})


@dataclass
class Selection:
    selected: list[Candidate] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)
    tokens: int = 0  # estimated: blocks plus section headings (the constructor counts exactly)


def placeholder_label(section: str) -> str:
    return f"{LETTER[section]}{PLACEHOLDER_NUMBER}"


def measure(candidates: list[Candidate], tokens: Tokens) -> None:
    """Set every candidate's ``tokens`` to its block's exact count, in one batch."""
    texts = []
    for c in candidates:
        section = SECTION_OF[c.kind]
        texts.append(block_text(Block(section, placeholder_label(section), c.path, c.version, c.text)))
    for candidate, count in zip(candidates, tokens.count_many(texts), strict=True):
        candidate.tokens = count


def select(
    candidates: list[Candidate],
    *,
    policy: ContextPolicy,
    room: int,
    usable: int,
    task: str,
    tokens: Tokens,
    open_sections: frozenset[str] = frozenset({"evidence"}),
    summarizer: Summarizer | None = None,
) -> Selection:
    """Choose candidates (already in priority order) for ``room`` tokens.

    Args:
        room: tokens left for items after the framing that is always there.
        usable: the budget minus the reserve; kind shares and the item cap are fractions of it.
        open_sections: sections whose heading is already paid for (the evidence heading is part
            of the framing floor: it carries the "no evidence" line when empty).
    """
    out = Selection()
    left = room
    opened = set(open_sections)
    used_by_kind: dict[str, int] = {}
    count_by_kind: dict[str, int] = {}
    item_cap = math.floor(policy.compress.max_item_share * usable)
    heading_cost: dict[str, int] = {}
    for candidate in candidates:
        spec = policy.kind(candidate.kind)
        section = SECTION_OF[candidate.kind]
        if spec.max_items is not None and count_by_kind.get(candidate.kind, 0) >= spec.max_items:
            out.excluded.append(exclude(candidate, f"{candidate.kind} quota: at most {spec.max_items} item(s)"))
            continue
        if section not in opened and section not in heading_cost:
            heading_cost[section] = tokens.count(section_text(section, []))
        heading = 0 if section in opened else heading_cost[section]
        quota = math.floor(spec.max_share * usable)
        if spec.max_tokens is not None:
            quota = min(quota, spec.max_tokens)
        quota_left = quota - used_by_kind.get(candidate.kind, 0)
        limits = {"budget": left - heading, f"{candidate.kind} quota": quota_left}
        if candidate.kind not in _NOT_COMPRESSED:
            limits["item cap"] = item_cap
        binding, target = min(limits.items(), key=lambda kv: kv[1])
        fits = candidate.tokens <= target
        if not fits and candidate.kind not in _NOT_COMPRESSED and target >= policy.compress.min_item_tokens:
            fits = compress(candidate, target, section=section, label=placeholder_label(section), task=task,
                            tokens=tokens, summarizer=summarizer)
            if fits:
                candidate.reason += f"; compressed from {candidate.compressed_from} to {candidate.tokens} tokens " \
                                    f"({binding})"
        if not fits:
            out.excluded.append(exclude(candidate, _why(binding, candidate.tokens, target, left, quota_left, heading)))
            continue
        out.selected.append(candidate)
        left -= candidate.tokens + heading
        out.tokens += candidate.tokens + heading
        opened.add(section)
        used_by_kind[candidate.kind] = used_by_kind.get(candidate.kind, 0) + candidate.tokens
        count_by_kind[candidate.kind] = count_by_kind.get(candidate.kind, 0) + 1
    return out


def _why(binding: str, need: int, target: int, left: int, quota_left: int, heading: int) -> str:
    if binding == "budget":
        plus = f" (+{heading} for its section heading)" if heading else ""
        return f"over budget: needs {need} tokens{plus}, {max(left, 0)} left"
    if binding == "item cap":
        return f"too long: {need} tokens over the per-item cap of {target}, and compression did not fit"
    return f"over the {binding}: needs {need} tokens, {max(quota_left, 0)} left"
