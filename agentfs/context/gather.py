"""Gathering candidates: pinned files, search hits, recent history, tools and skills, paged bodies.

Everything is read through the asking principal's handle, so a file the principal may not read
never becomes a candidate. Each source is bounded (search ``k``, ``max_entries``, ``max_scan``), so
the cost of a build does not grow with the size of the store. Tools and skills contribute only a
one-line description; their bodies are paged in later, on request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from agentfs import paths
from agentfs.context import views
from agentfs.context.candidates import Candidate, Exclusion
from agentfs.context.memo import DESCRIPTIONS, embed_cached
from agentfs.context.policy import CatalogPolicy, ContextPolicy
from agentfs.context.text import keywords, term_set, words
from agentfs.errors import (
    InvalidPathError,
    IsADirectoryError_,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    ValidationError,
)
from agentfs.index.lexical import lexical_search
from agentfs.types import FileInfo

if TYPE_CHECKING:
    from agentfs.fs import ContextFS

# Files the pipeline itself appends to a session's history; they are bookkeeping, not conversation.
CONTEXT_LOG = "contexts.jsonl"
EVALUATION_LOG = "evaluations.jsonl"
LOG_NAMES = frozenset({CONTEXT_LOG, EVALUATION_LOG})
_SESSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
TOOL_FILES = ("README.md", "schema.json")


@dataclass
class Gathered:
    candidates: list[Candidate] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    search_mode: str = "none"


def check_session(session: str) -> str:
    """Validate a session name (one path segment under /history).

    Raises:
        ValidationError: the name is empty, too long, or has characters other than letters,
            digits and ``. _ @ + -``.
    """
    if not _SESSION.match(session):
        raise ValidationError(
            f"not a session name: {session!r} (letters, digits and . _ @ + -, at most 128 characters)",
            rule="session_name",
        )
    return session


def gather(
    reader: ContextFS,
    task: str,
    policy: ContextPolicy,
    *,
    session: str | None = None,
    pages: Sequence[str] = (),
    embedder: Any = None,
    query_vector: np.ndarray | None = None,
    skip_prefix: bool = False,
    known: frozenset[str] = frozenset(),
) -> Gathered:
    """Collect every candidate for ``task`` that ``reader``'s principal may read.

    Args:
        reader: the asking principal's handle.
        task: what the model is asked to do.
        policy: pins, search roots and bounds.
        session: the session whose recent history is offered.
        pages: tool folders, skill folders or files whose full bodies are requested.
        embedder: optional; scores tool and skill descriptions by similarity to the task.
        query_vector: the task's embedding when the caller already has it.
        skip_prefix: leave out pinned files, tools and skills (a refresh keeps its old prefix).
        known: paths already in the context (a kept prefix), never offered twice.
    """
    out = Gathered()
    seen: set[str] = set(known)
    if not skip_prefix:
        _pinned(reader, policy, out, seen)
    _paged(reader, pages, out)
    _search(reader, task, policy, out, seen)
    if session is not None:
        _history(reader, session, policy, out)
    if not skip_prefix:
        task_terms = term_set(task)
        vector = query_vector
        if embedder is not None and vector is None:
            vector = np.asarray(embedder.embed([task]), dtype=np.float32)[0]
        _catalog(reader, policy.tools, "tool", task_terms, embedder, vector, out)
        _catalog(reader, policy.skills, "skill", task_terms, embedder, vector, out)
    return out


# --- reading helpers --------------------------------------------------------------------------------


def _read(reader: ContextFS, info: FileInfo, out: Gathered, kind: str) -> str | None:
    """The text of exactly ``info.version``; None (and an exclusion) when it cannot be used."""
    try:
        data = reader.read(info.path, version=info.version)
    except PermissionDeniedError:
        out.excluded.append(Exclusion(info.path, info.version, kind, "not readable by this principal"))
        return None
    except (NotFoundError, IsADirectoryError_):
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        out.excluded.append(Exclusion(info.path, info.version, kind, "binary content (not UTF-8 text)"))
        return None


def _candidate(info: FileInfo, raw: str, kind: str, source: str, view: views.View) -> Candidate:
    text = views.body(info.path, raw) if view["mode"] == "body" else views.describe(info.path, raw)
    return Candidate(path=info.path, version=info.version, kind=kind, source=source, raw=raw, view=view,
                     text=text, modified_ns=info.modified_ns, meta=dict(info.meta))


def _list_files(reader: ContextFS, folder: str) -> list[FileInfo]:
    return [e for e in reader.ls(folder) if e.kind == "file"]


# --- sources ----------------------------------------------------------------------------------------


def _pinned(reader: ContextFS, policy: ContextPolicy, out: Gathered, seen: set[str]) -> None:
    count = 0
    notes = []
    for pin in policy.pins:
        try:
            info = reader.stat(pin, permissions=False)
            entries = _list_files(reader, pin) if info.kind == "dir" else [info]
        except NotFoundError:
            notes.append(f"{pin}: absent")
            continue
        except PermissionDeniedError:
            notes.append(f"{pin}: not readable by {reader.principal}")
            continue
        kind = "profile" if paths.is_within(pin, "/memory/profile") else "note"
        for entry in sorted(entries, key=lambda e: e.path):
            if count >= policy.max_pinned:
                out.excluded.append(Exclusion(entry.path, entry.version, kind,
                                              f"over max_pinned ({policy.max_pinned})"))
                continue
            raw = _read(reader, entry, out, kind)
            if raw is None or entry.path in seen:
                continue
            candidate = _candidate(entry, raw, kind, "pinned", views.BODY)
            candidate.forced, candidate.order, candidate.relevance = True, count, 1.0
            candidate.reason = f"pinned by policy ({pin})"
            out.candidates.append(candidate)
            seen.add(entry.path)
            count += 1
    out.sources["pinned"] = f"{count} file(s)" + (f"; {'; '.join(notes)}" if notes else "")


def _paged(reader: ContextFS, pages: Sequence[str], out: Gathered) -> None:
    order = 0
    for page in pages:
        path = paths.normalize(page)
        info = reader.stat(path, permissions=False)  # raises NotFound / PermissionDenied: a request
        if info.kind == "dir":
            files = {e.name: e for e in _list_files(reader, path)}
            chosen = [files[n] for n in ("SKILL.md", *TOOL_FILES) if n in files]
            if not chosen:
                raise InvalidPathError(f"{path} is neither a tool folder (README.md, schema.json) nor a skill "
                                       "folder (SKILL.md)", path=path)
        else:
            chosen = [info]
        for entry in chosen:
            raw = _read(reader, entry, out, "page")
            if raw is None:
                raise PermissionDeniedError(f"{reader.principal} may not read {entry.path}", path=entry.path)
            candidate = _candidate(entry, raw, "page", "page", views.BODY)
            candidate.forced, candidate.order, candidate.relevance = True, 1000 + order, 1.0
            candidate.reason = f"paged in on request ({path})"
            out.candidates.append(candidate)
            order += 1
    if pages:
        out.sources["pages"] = f"{order} file(s)"


def _search(reader: ContextFS, task: str, policy: ContextPolicy, out: Gathered, seen: set[str]) -> None:
    spec = policy.search
    query = keywords(task) or task.strip()
    if spec.k == 0 or not spec.roots or not query:
        out.sources["search"] = "off" if spec.k == 0 or not spec.roots else "no search terms in the task"
        return
    # "lexical", or no index service: the catalog's BM25, bounded by the policy's pool so a build
    # costs the same in a store of 1,000 files as in one of 100,000.
    mode = spec.mode if reader.service("search") is not None else "lexical"
    hits: dict[str, Any] = {}
    if mode != "lexical":
        try:
            for root in spec.roots:
                for hit in reader.search(query, k=spec.k, mode=mode, path=root):
                    if hit.path not in hits or hit.score > hits[hit.path].score:
                        hits[hit.path] = hit
        except NotSupportedError:
            mode, hits = "lexical", {}
    if mode == "lexical":
        # One query over every root: a window per root would rescan the same matches each time.
        found = lexical_search(reader, query, k=spec.k * len(spec.roots), path=tuple(spec.roots), pool=spec.pool)
        hits = {hit.path: hit for hit in found}
    out.search_mode = mode
    ranked = sorted(hits.values(), key=lambda h: (-h.score, h.path))
    top = max((h.score for h in ranked), default=0.0)
    taken = 0
    for rank, hit in enumerate(ranked, start=1):
        if hit.path in seen:
            continue
        try:
            info = reader.stat(hit.path, permissions=False)
        except (NotFoundError, PermissionDeniedError):
            continue  # deleted or re-governed since the index saw it
        if info.kind != "file":
            continue
        kind = "memory" if paths.is_within(info.path, "/memory") else "document"
        raw = _read(reader, info, out, kind)
        if raw is None:
            continue
        candidate = _candidate(info, raw, kind, "search", views.BODY)
        candidate.search_score, candidate.search_rank = hit.score, rank
        candidate.relevance = hit.score / top if top > 0 else 0.0
        candidate.reason = f"search hit #{rank} ({mode} score {hit.score:.3g})"
        out.candidates.append(candidate)
        seen.add(info.path)
        taken += 1
    out.sources["search"] = f"{mode}: {taken} hit(s) for {query!r} in {', '.join(spec.roots)}"


def _history(reader: ContextFS, session: str, policy: ContextPolicy, out: Gathered) -> None:
    folder = f"/history/{check_session(session)}"
    limit = policy.history.max_entries
    try:
        entries = [e for e in _list_files(reader, folder) if e.name not in LOG_NAMES]
    except NotFoundError:
        entries = []  # same as an empty folder: the pipeline's own logs may be all there is
    except PermissionDeniedError:
        out.sources["history"] = f"{folder}: not readable by {reader.principal}"
        return
    entries.sort(key=lambda e: (e.modified_ns, e.path))
    recent = entries[-limit:] if limit else []
    for skipped in entries[: len(entries) - len(recent)]:
        out.excluded.append(Exclusion(skipped.path, skipped.version, "history",
                                      f"older than the {limit} most recent entries"))
    taken = 0
    for position, entry in enumerate(recent):
        raw = _read(reader, entry, out, "history")
        if raw is None:
            continue
        candidate = _candidate(entry, raw, "history", "history", views.BODY)
        # The newest entry is the most relevant to what happens next; older ones fade to 0.5.
        candidate.relevance = 0.5 + 0.5 * (position + 1) / len(recent)
        candidate.reason = f"recent history of session {session} ({len(recent) - position} back)"
        out.candidates.append(candidate)
        taken += 1
    out.sources["history"] = f"{folder}: {taken} recent entr{'y' if taken == 1 else 'ies'}"


def _walk_catalog(reader: ContextFS, spec: CatalogPolicy, marker: tuple[str, ...]) -> list[FileInfo]:
    """Description files (``marker`` names) two levels down for skills, three for tools; bounded."""
    found: list[FileInfo] = []
    frontier = [spec.root]
    scanned = 0
    while frontier and scanned < spec.max_scan:
        folder = frontier.pop(0)
        for entry in reader.ls(folder):
            scanned += 1
            if scanned > spec.max_scan:
                break
            if entry.kind == "dir":
                frontier.append(entry.path)
            elif entry.name in marker:
                found.append(entry)
    return found


def _catalog(
    reader: ContextFS,
    spec: CatalogPolicy,
    kind: str,
    task_terms: frozenset[str],
    embedder: Any,
    vector: np.ndarray | None,
    out: Gathered,
) -> None:
    label = f"{kind}s"
    if spec.max == 0:
        out.sources[label] = "off"
        return
    marker = TOOL_FILES if kind == "tool" else ("SKILL.md",)
    try:
        files = _walk_catalog(reader, spec, marker)
    except NotFoundError:
        out.sources[label] = f"{spec.root}: absent"
        return
    except PermissionDeniedError:
        out.sources[label] = f"{spec.root}: not listable by {reader.principal}"
        return
    # One description per folder: README.md wins over schema.json for a tool.
    by_folder: dict[str, FileInfo] = {}
    for info in sorted(files, key=lambda f: (f.path.rsplit("/", 1)[0], marker.index(f.name))):
        by_folder.setdefault(paths.parent(info.path), info)
    described: list[tuple[FileInfo, str]] = []
    for _folder, info in sorted(by_folder.items()):
        if not reader.decide("read", info.path).allowed:
            out.excluded.append(Exclusion(info.path, info.version, kind, "not readable by this principal"))
            continue
        if kind == "tool" and not reader.decide("exec", _folder).allowed:
            # Offering a tool the model cannot run wastes its budget and invites a refused call.
            out.excluded.append(Exclusion(info.path, info.version, kind, "not executable by this principal"))
            continue
        key = (info.hash, info.name)
        text = DESCRIPTIONS.get(key) if info.hash else None
        if text is None:
            raw = _read(reader, info, out, kind)
            if raw is None:
                continue
            text = views.describe(info.path, raw)
            if info.hash:
                DESCRIPTIONS.put(key, text)
        if not text:
            out.excluded.append(Exclusion(info.path, info.version, kind, "no description"))
            continue
        described.append((info, text))
    similarities = _similarities(embedder, vector, [t for _, t in described])
    for index, (info, text) in enumerate(described):
        folder = paths.parent(info.path)
        name_terms = term_set(" ".join(words(folder.replace("_", " ").replace("-", " "))))
        overlap = len(task_terms & (term_set(text) | name_terms)) / len(task_terms) if task_terms else 0.0
        relevance = overlap
        how = f"description overlap {overlap:.2f}"
        if similarities is not None:
            # MiniLM cosines of related texts sit around 0.3-0.6: rescale so 0.15 -> 0 and 0.6 -> 1.
            semantic = float(np.clip((similarities[index] - 0.15) / 0.45, 0.0, 1.0))
            if semantic > relevance:
                relevance, how = semantic, f"description similarity {similarities[index]:.2f}"
        candidate = Candidate(path=info.path, version=info.version, kind=kind, source=kind, raw="",
                              view=views.DESCRIBE, text=text, modified_ns=info.modified_ns, meta=dict(info.meta))
        candidate.relevance = relevance
        candidate.reason = f"{kind} relevant to the task ({how})"
        if relevance < spec.min_relevance:
            out.excluded.append(Exclusion(info.path, info.version, kind,
                                          f"not relevant to the task ({how} < {spec.min_relevance})"))
            continue
        out.candidates.append(candidate)
    out.sources[label] = f"{len(described)} described under {spec.root}"


def _similarities(embedder: Any, vector: np.ndarray | None, texts: list[str]) -> np.ndarray | None:
    if embedder is None or vector is None or not texts:
        return None
    try:
        matrix = embed_cached(embedder, texts)
    except (RuntimeError, ValueError, OSError):  # a failing embedder degrades to word overlap
        return None
    return matrix @ vector
