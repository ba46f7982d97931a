"""The Constructor: from a task, a principal and a policy to a context within an exact budget.

    gather -> score -> dedup -> measure -> select (compressing what does not fit) -> order
    -> render -> exact count (drop the weakest item while over) -> manifest -> /context + /history

The budget covers every token the model receives: the instructions, the section headings, the
labels, the task and the items. After rendering, the whole text is counted afresh with the
model's encoding; the context is delivered only when ``max(whole, prefix + rest) + reserve`` is
within the budget (the two counts differ by the token merges at the seam, and a chat format sends
the prefix and the rest as two messages). A budget too small for the framing alone is an error,
never a silent overrun.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from agentfs.context import views
from agentfs.context.candidates import Candidate, Exclusion, exclude
from agentfs.context.compress import Summarizer
from agentfs.context.dedup import dedup, priority
from agentfs.context.gather import CONTEXT_LOG, check_session, gather
from agentfs.context.manifest import (
    ExcludedItem,
    Manifest,
    ManifestItem,
    log_line,
    persist,
    reference,
    sha256,
)
from agentfs.context.order import order
from agentfs.context.policy import ContextPolicy, PolicySource, load_policy
from agentfs.context.render import PREFIX_SECTIONS, Block, Rendered, block_text, instructions_text, render
from agentfs.context.scorers import ScoringContext, score_all
from agentfs.context.select import measure, select
from agentfs.context.tokens import Tokens
from agentfs.errors import NotFoundError, PermissionDeniedError, ValidationError

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from agentfs.fs import ContextFS

DEFAULT_SESSION = "default"  # where a context built without a session is referenced from
MAX_TASK_CHARS = 100_000


@dataclass(frozen=True)
class Context:
    """An assembled context: its manifest, the exact text, and the cache-stable prefix."""

    manifest: Manifest
    text: str
    prefix: str
    item_texts: tuple[str, ...] = ()  # each manifest item's text as shown, in manifest order

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def tokens(self) -> int:
        return self.manifest.tokens

    @property
    def rest(self) -> str:
        return self.text[len(self.prefix):]

    def to_text(self) -> str:
        return self.text

    def to_messages(self) -> list[BaseMessage]:
        from agentfs.context.loader import to_messages

        return to_messages(self)

    def to_json(self) -> dict[str, Any]:
        from agentfs.context.loader import to_json

        return to_json(self)


def note_of(view: views.View) -> str:
    mode = view.get("mode")
    if mode in ("extract", "head", "tail"):
        return "excerpt"
    return "summary" if mode == "summary" else ""


def resolve_embedder(embedder: Any, fs: ContextFS | None = None) -> Any:
    """An embedder object from a name (``minilm``, ``hash``, ``module:Class``), or None.

    Names are resolved through the store's ``context`` service, so a model loads once per open
    store. A model that cannot load (not installed, no ONNX runtime) degrades to None: ranking
    and grounding then use word overlap only, and the manifest or report says so.
    """
    if embedder is None or (isinstance(embedder, str) and embedder.lower() in ("", "none")):
        return None
    if not isinstance(embedder, str):
        return embedder
    from agentfs.context.service import ContextService, for_fs

    service = for_fs(fs) if fs is not None else None
    return (service or ContextService()).embedder(embedder)


def build(
    fs: ContextFS,
    task: str,
    *,
    principal: str | None = None,
    budget: int | None = None,
    policy: PolicySource = None,
    model: str | None = None,
    session: str | None = None,
    pages: Sequence[str] = (),
    now_ns: int | None = None,
    embedder: Any = None,
    query_vector: np.ndarray | None = None,
    summarizer: Summarizer | None = None,
    previous: Manifest | None = None,
    store: bool = True,
) -> Context:
    """Assemble a context for ``task`` as ``principal`` under ``budget`` tokens.

    Args:
        fs: a handle on the store (any principal; reads happen as ``principal``).
        task: what the model is asked to do (it is part of the context and of the budget).
        principal: whose permissions apply (default: ``fs.principal``).
        budget: tokens the model may receive in all (default: the policy's).
        policy: a :class:`ContextPolicy`, a dict, a YAML path, or None for the default.
        model: picks the tiktoken encoding (default: the policy's, else ``o200k_base``).
        session: offers ``/history/<session>/`` and records the context there.
        pages: tool or skill folders (or files) whose full bodies must be included.
        now_ns: the time recency is measured from (default: now); part of the manifest.
        embedder: ranks tool and skill descriptions by meaning (name or object; default: policy).
        query_vector: the task's embedding, when the caller has it already.
        summarizer: ``fn(text, max_tokens) -> str`` replacing extractive compression.
        previous: the manifest of the previous turn: its prefix is kept byte for byte when none of
            its files changed (see :func:`agentfs.context.loader.refresh`).
        store: write the manifest and text to ``/context/<id>/`` and reference them from history.

    Raises:
        ValidationError: an empty task, a bad session name, a malformed policy, or a budget too
            small for the instructions, the task and the framing.
        PermissionDeniedError, NotFoundError: a requested page cannot be read.
    """
    if not isinstance(task, str) or not task.strip():
        raise ValidationError("the task is empty: say what the model should do", rule="task")
    if len(task) > MAX_TASK_CHARS:
        raise ValidationError(f"the task is {len(task)} characters; at most {MAX_TASK_CHARS}", rule="task")
    reader = fs.as_principal(principal) if principal else fs
    if policy is None and previous is not None:
        policy = previous.policy
    rules = load_policy(policy, fs=reader)
    budget = rules.budget if budget is None else budget
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValidationError(f"the budget must be a positive number of tokens, got {budget!r}", rule="budget")
    model = model if model is not None else (previous.model if previous is not None else rules.model)
    tokens = Tokens(model)
    if session is not None:
        check_session(session)
    now = time.time_ns() if now_ns is None else now_ns
    usable = budget - rules.reserve_tokens

    reused, prefix_notes = _reusable_prefix(reader, previous, rules, tokens)
    kept_prefix = reused or []
    floor_prefix = (render(rules.instructions, task, [_block(c, s, label) for c, s, label in kept_prefix]).prefix
                    if kept_prefix else instructions_text(rules.instructions))
    floor_rest = render(rules.instructions, task, []).rest
    floor = tokens.exact(floor_prefix) + tokens.exact(floor_rest)
    if floor > usable:
        raise ValidationError(
            f"a budget of {budget} tokens is too small: the instructions, the task and the framing alone take "
            f"{floor} tokens (plus {rules.reserve_tokens} reserved); give at least {floor + rules.reserve_tokens}",
            rule="budget_too_small",
        )

    model_embedder = resolve_embedder(embedder if embedder is not None else rules.embedder, fs)
    if model_embedder is not None and query_vector is None:
        query_vector = np.asarray(model_embedder.embed([task]), dtype=np.float32)[0]
    gathered = gather(reader, task, rules, session=session, pages=pages, embedder=model_embedder,
                      query_vector=query_vector, skip_prefix=reused is not None,
                      known=frozenset(c.path for c, _, _ in kept_prefix))
    score_all(gathered.candidates, ScoringContext(task=task, now_ns=now, policy=rules))
    candidates, duplicates = dedup(gathered.candidates, rules.dedup)
    measure(candidates, tokens)
    opened = frozenset({"evidence", *(s for _, s, _ in kept_prefix)})
    selection = select(sorted(candidates, key=priority), policy=rules, room=usable - floor, usable=usable,
                       task=task, tokens=tokens, open_sections=opened, summarizer=summarizer)

    chosen = list(selection.selected)
    dropped: list[Exclusion] = []
    while True:
        arranged = kept_prefix + [entry for entry in order(chosen)]
        rendered = render(rules.instructions, task, [_block(c, s, label) for c, s, label in arranged])
        used = max(tokens.exact(rendered.text), tokens.exact(rendered.prefix) + tokens.exact(rendered.rest))
        if used <= usable:
            break
        # Token merges at the seams can push an estimate over by a few tokens: give up the weakest.
        victim = _weakest(chosen)
        if victim is None:
            raise ValidationError(f"a budget of {budget} tokens cannot hold this context's framing ({used} tokens)",
                                  rule="budget_too_small")
        chosen.remove(victim)
        dropped.append(exclude(victim, f"dropped after the exact count ({used - usable} token(s) over)"))

    manifest = _manifest(
        reader, task, rules, tokens, budget=budget, model=model, session=session, now=now, used=used,
        rendered=rendered, arranged=arranged, search_mode=gathered.search_mode, sources=gathered.sources,
        excluded=[*gathered.excluded, *duplicates, *selection.excluded, *dropped], previous=previous,
        prefix_reused=reused is not None, notes=prefix_notes,
    )
    if store:
        persist(fs, manifest, rendered.text)
        log_line(fs, session or DEFAULT_SESSION, CONTEXT_LOG, reference(manifest))
    return Context(manifest, rendered.text, rendered.prefix, tuple(c.text for c, _, _ in arranged))


def _block(candidate: Candidate, section: str, label: str) -> Block:
    return Block(section, label, candidate.path, candidate.version, candidate.text, note_of(candidate.view))


def _weakest(chosen: list[Candidate]) -> Candidate | None:
    optional = [c for c in chosen if not c.forced] or list(chosen)
    if not optional:
        return None
    return max(optional, key=priority)


def _reusable_prefix(
    reader: ContextFS, previous: Manifest | None, policy: ContextPolicy, tokens: Tokens
) -> tuple[list[tuple[Candidate, str, str]] | None, list[str]]:
    """The previous turn's prefix items, re-read at their versions, if all are still current.

    Returns (None, notes) when there is no previous turn or any of its prefix files changed, was
    deleted, or may no longer be read: the prefix is then rebuilt (and the note says why).
    """
    if previous is None:
        return None, []
    if previous.encoding != tokens.encoding or previous.policy_sha256 != policy.sha256():
        return None, ["prefix rebuilt: the encoding or the policy changed"]
    kept: list[tuple[Candidate, str, str]] = []
    for item in previous.items:
        if item.section not in PREFIX_SECTIONS:
            continue
        try:
            head = reader.stat(item.path, permissions=False)
            if head.version != item.version:
                return None, [f"prefix rebuilt: {item.path} changed (version {item.version} -> {head.version})"]
            raw = reader.read(item.path, version=item.version).decode("utf-8")
        except (NotFoundError, PermissionDeniedError, UnicodeDecodeError):
            return None, [f"prefix rebuilt: {item.path} is gone or no longer readable"]
        text = views.apply(item.view, item.path, raw, tokens)
        candidate = Candidate(path=item.path, version=item.version, kind=item.kind, source=item.source, raw=raw,
                              view=dict(item.view), text=text, modified_ns=head.modified_ns, meta=dict(head.meta),
                              scores=dict(item.scores), score=item.score, reason=item.reason, forced=True)
        kept.append((candidate, item.section, item.label))
    return kept, []


def _manifest(
    reader: ContextFS,
    task: str,
    policy: ContextPolicy,
    tokens: Tokens,
    *,
    budget: int,
    model: str | None,
    session: str | None,
    now: int,
    used: int,
    rendered: Rendered,
    arranged: list[tuple[Candidate, str, str]],
    search_mode: str,
    sources: dict[str, str],
    excluded: list[Exclusion],
    previous: Manifest | None,
    prefix_reused: bool,
    notes: list[str],
) -> Manifest:
    blocks = [block_text(_block(c, s, label)) for c, s, label in arranged]
    counts = tokens.count_many(blocks)
    items = [
        ManifestItem(label=label, section=section, path=c.path, version=c.version, kind=c.kind, source=c.source,
                     tokens=count, score=c.score, scores=c.scores, reason=c.reason, view=c.view,
                     note=note_of(c.view), sha256=sha256(c.text))
        for (c, section, label), count in zip(arranged, counts, strict=True)
    ]
    return Manifest(
        task=task, principal=reader.principal, session=session, model=model, encoding=tokens.encoding,
        budget=budget, reserve_tokens=policy.reserve_tokens, tokens=used,
        prefix_tokens=tokens.exact(rendered.prefix), prefix_chars=len(rendered.prefix), policy=policy.to_data(), policy_name=policy.name,
        policy_sha256=policy.sha256(), now_ns=now, search_mode=search_mode, sources=sources,
        evidence=any(section == "evidence" for _, section, _ in arranged), items=items,
        excluded=[ExcludedItem(**e.to_dict()) for e in excluded],
        parent=previous.id if previous is not None else None, prefix_reused=prefix_reused, notes=notes,
        prefix_sha256=sha256(rendered.prefix), sha256=sha256(rendered.text),
    ).with_id()
