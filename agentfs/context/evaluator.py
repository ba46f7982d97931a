"""The Evaluator: checks a context before delivery and an answer after it; writes memories back.

Before delivery (:func:`check`):

- **budget**: the text is counted afresh; ``max(whole, prefix + rest) + reserve <= budget``;
- **acl**: every item is readable by the principal the context is for (error otherwise);
- **staleness**: every item is still the head version of its file (a warning: the context shows
  what was true when it was built, and replay still works);
- **contradictions** between items (warnings; see :mod:`agentfs.context.contradictions`);
- **evidence**: whether any evidence was found (a warning; the context then says so explicitly).

After an answer (:func:`grade`): grounding per claim (:mod:`agentfs.context.grounding`).
:func:`remember` grounds proposed memories the same way: supported ones with enough confidence are
written under ``evaluator.memory_folder`` with provenance (the paths and versions that support
them); the rest go to ``evaluator.review_folder`` for a human. Every evaluation appends a line to
``/history/<session>/evaluations.jsonl``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentfs import paths
from agentfs.context.constructor import DEFAULT_SESSION, Context, resolve_embedder
from agentfs.context.contradictions import find_conflicts, statements
from agentfs.context.gather import EVALUATION_LOG
from agentfs.context.grounding import ClaimResult, Evidence, Grounding, claims_of, ground
from agentfs.context.loader import load
from agentfs.context.manifest import log_line, sha256
from agentfs.context.policy import EvaluatorPolicy
from agentfs.context.text import shorten, terms
from agentfs.context.tokens import Tokens
from agentfs.errors import NotFoundError, PermissionDeniedError
from agentfs.frontmatter import MEMORY_TYPES, render
from agentfs.timefmt import iso

if TYPE_CHECKING:
    from agentfs.fs import ContextFS

_FACT_SECTIONS = frozenset({"pinned", "history", "evidence", "pages"})  # tool lists are not evidence


@dataclass(frozen=True)
class Finding:
    check: str  # budget | acl | staleness | contradiction | evidence
    level: str  # error | warning
    message: str
    path: str | None = None
    version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "level": self.level, "message": self.message, "path": self.path,
                "version": self.version}


@dataclass
class Preflight:
    """The pre-delivery report. ``ok`` is False only for errors (budget, access)."""

    context: str
    tokens: int
    budget: int
    evidence: bool
    findings: list[Finding] = field(default_factory=list)
    contradictions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.level == "error" for f in self.findings)

    @property
    def fresh(self) -> bool:
        return not any(f.check == "staleness" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"context": self.context, "ok": self.ok, "fresh": self.fresh, "tokens": self.tokens,
                "budget": self.budget, "evidence": self.evidence, "findings": [f.to_dict() for f in self.findings],
                "contradictions": self.contradictions}


@dataclass
class Grade:
    """The post-answer report."""

    context: str
    grounding: Grounding

    @property
    def confidence(self) -> float:
        return self.grounding.confidence

    @property
    def claims(self) -> list[ClaimResult]:
        return self.grounding.claims

    def to_dict(self) -> dict[str, Any]:
        return {"context": self.context, **self.grounding.to_dict()}


@dataclass(frozen=True)
class Remembered:
    """Where one proposed memory went."""

    text: str
    status: str  # written | review | exists
    path: str
    verdict: str
    confidence: float
    provenance: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "status": self.status, "path": self.path, "verdict": self.verdict,
                "confidence": round(self.confidence, 3),
                "provenance": [{"path": p, "version": v} for p, v in self.provenance]}


def _resolve(fs: ContextFS, context: Context | str, principal: str | None) -> tuple[Context, ContextFS]:
    if isinstance(context, str):
        context = load(fs, context, principal=principal)
    reader = fs.as_principal(principal or context.manifest.principal)
    return context, reader


def _evaluator_policy(context: Context) -> EvaluatorPolicy:
    return EvaluatorPolicy.model_validate(context.manifest.policy.get("evaluator", {}))


def _record(fs: ContextFS, context: Context, record: dict[str, Any]) -> None:
    session = context.manifest.session or DEFAULT_SESSION
    log_line(fs, session, EVALUATION_LOG, {"context": context.id, "time": iso(time.time_ns()), **record})


def check(fs: ContextFS, context: Context | str, *, principal: str | None = None, record: bool = True) -> Preflight:
    """Check a context before it is delivered (see the module docstring).

    Args:
        context: a :class:`Context` or the id of a stored one.
        principal: whose access is checked (default: the principal the context was built for).
        record: append the result to the session's ``evaluations.jsonl``.
    """
    context, reader = _resolve(fs, context, principal)
    manifest = context.manifest
    tokens = Tokens(encoding=manifest.encoding)
    used = max(tokens.exact(context.text), tokens.exact(context.prefix) + tokens.exact(context.rest))
    report = Preflight(manifest.id, used, manifest.budget, manifest.evidence)
    if used + manifest.reserve_tokens > manifest.budget:
        report.findings.append(Finding("budget", "error", f"{used} tokens + {manifest.reserve_tokens} reserved is over "
                                                          f"the budget of {manifest.budget}"))
    for item in manifest.items:
        decision = reader.decide("read", item.path)
        if not decision.allowed:
            report.findings.append(Finding("acl", "error", f"[{item.label}] {decision.reason}", item.path, item.version))
            continue
        try:
            head = reader.stat(item.path, permissions=False).version
        except NotFoundError:
            report.findings.append(Finding("staleness", "warning", f"[{item.label}] {item.path} was deleted since",
                                           item.path, item.version))
            continue
        except PermissionDeniedError as exc:
            report.findings.append(Finding("acl", "error", f"[{item.label}] {exc.message}", item.path, item.version))
            continue
        if head != item.version:
            report.findings.append(Finding("staleness", "warning",
                                           f"[{item.label}] {item.path} is at version {head}, the context has "
                                           f"{item.version}", item.path, item.version))
    groups = [statements(text, label=item.label, path=item.path, version=item.version)
              for item, text in zip(manifest.items, context.item_texts, strict=False)
              if item.section in _FACT_SECTIONS]
    for found in find_conflicts(groups):
        report.contradictions.append(found.to_dict())
        report.findings.append(Finding("contradiction", "warning",
                                       f"[{found.a.label}] and [{found.b.label}] disagree: {found.detail}",
                                       found.a.path, found.a.version))
    if not manifest.evidence:
        report.findings.append(Finding("evidence", "warning", "no evidence was found for the task; the context says "
                                                              "so explicitly"))
    if record:
        _record(fs, context, {"event": "check", "ok": report.ok, "fresh": report.fresh, "tokens": used,
                              "findings": [f.to_dict() for f in report.findings]})
    return report


def _evidence(context: Context) -> list[Evidence]:
    return [Evidence(item.label, item.path, item.version, text)
            for item, text in zip(context.manifest.items, context.item_texts, strict=False)
            if item.section in _FACT_SECTIONS]


def grade(
    fs: ContextFS,
    context: Context | str,
    answer: str,
    *,
    principal: str | None = None,
    judge: Any = None,
    embedder: Any = None,
    record: bool = True,
) -> Grade:
    """Ground an answer's claims in the items that were delivered.

    Args:
        embedder: a name or object; default: the policy's ``evaluator.embedder`` (MiniLM), and
            lexical grounding only when that cannot load.
        judge: an LLM judge overriding the verdicts (see :mod:`agentfs.context.grounding`).
    """
    context, _ = _resolve(fs, context, principal)
    policy = _evaluator_policy(context)
    model = resolve_embedder(embedder if embedder is not None else policy.embedder, fs)
    grounding = ground(claims_of(answer), _evidence(context), policy=policy, embedder=model, judge=judge)
    if record:
        _record(fs, context, {
            "event": "grade", "answer_sha256": sha256(answer), "confidence": round(grounding.confidence, 3),
            "method": grounding.method, **{v: grounding.count(v) for v in ("supported", "unsupported", "contradicted")},
            "claims": [{"claim": c.claim, "verdict": c.verdict, "confidence": round(c.confidence, 3),
                        "sources": c.sources} for c in grounding.claims],
        })
    return Grade(context.id, grounding)


def _slug(text: str) -> str:
    words = [w for w in terms(text) if w.replace("-", "").isalnum()][:6] or ["memory"]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return "-".join(words)[:60].strip("-") + "-" + digest


def remember(
    fs: ContextFS,
    context: Context | str,
    memories: list[str],
    *,
    principal: str | None = None,
    judge: Any = None,
    embedder: Any = None,
    record: bool = True,
) -> list[Remembered]:
    """Ground proposed memories; write the validated ones with provenance, the rest for review.

    Memories are written as ``principal`` (default: the context's), so the ACL decides whether
    it may; a memory already stored at its content-derived path is left alone (``exists``).

    Raises:
        PermissionDeniedError: the principal may not write the memory or review folder.
    """
    context, writer = _resolve(fs, context, principal)
    policy = _evaluator_policy(context)
    model = resolve_embedder(embedder if embedder is not None else policy.embedder, fs)
    texts = [m.strip() for m in memories if m and m.strip()]
    grounding = ground(texts, _evidence(context), policy=policy, embedder=model, judge=judge)
    out: list[Remembered] = []
    for text, result in zip(texts, grounding.claims, strict=True):
        slug = _slug(text)
        accepted = result.verdict == "supported" and result.confidence >= policy.accept_confidence
        support = tuple(dict.fromkeys((s.path, s.version) for s in result.support)) if result.support else ()
        provenance = [{"path": p, "version": v} for p, v in support]
        if accepted:
            target = paths.normalize(f"{policy.memory_folder}/{slug}.md")
            folder_type = paths.name(policy.memory_folder)
            meta = {"description": shorten(text, 120), "confidence": round(result.confidence, 3),
                    "source": f"context {context.id}"}
            if folder_type in MEMORY_TYPES:
                meta["type"] = folder_type
            status = "written"
        else:
            target = paths.normalize(f"{policy.review_folder}/{slug}.md")
            meta = {"description": shorten(f"proposed memory: {text}", 120), "status": "pending",
                    "verdict": result.verdict, "confidence": round(result.confidence, 3),
                    "proposed_path": paths.normalize(f"{policy.memory_folder}/{slug}.md"),
                    "source": f"context {context.id}", "reason": _reason(result, policy)}
            status = "review"
        if writer.exists(target):
            status = "exists"
        else:
            writer.write(target, render(meta, text + "\n"), provenance=provenance or None,
                         message=f"{status} from context {context.id}")
        out.append(Remembered(text, status, target, result.verdict, result.confidence, support))
    if record:
        _record(fs, context, {"event": "remember", "memories": [r.to_dict() for r in out]})
    return out


def _reason(result: ClaimResult, policy: EvaluatorPolicy) -> str:
    if result.verdict == "contradicted":
        first = result.conflicts[0]
        return f"contradicted by [{first['label']}] {first['path']}: {first['detail']}"
    if result.verdict == "supported":
        return f"supported, but confidence {result.confidence:.2f} is below {policy.accept_confidence}"
    return f"no delivered item supports it (best support {result.confidence:.2f})"
