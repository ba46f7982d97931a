"""Manifests: the record of one assembled context, stored at ``/context/<id>/``.

A manifest names every item (path, version, kind, tokens, score, the reason it was chosen and the
view that turned the file into the text shown), every excluded candidate and why, the policy and
budget used, the tokenizer encoding, and the SHA-256 of the rendered bytes. ``/context`` is
read-only to everyone but the principal ``system``; the pipeline writes there as ``system`` and
appends a reference line to the session's history (``/history/<session>/contexts.jsonl``).
``/context/<id>/`` is owned by the principal it was assembled for, so that principal can read its
own contexts (and nobody else's, unless a rule grants it).

The id is derived from the manifest's content, so the same inputs (task, principal, policy,
budget, store state and ``now``) give the same id and the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from agentfs.errors import NotFoundError, ValidationError
from agentfs.governance.policy import SYSTEM
from agentfs.timefmt import iso

if TYPE_CHECKING:
    from agentfs.fs import ContextFS

FORMAT = "agentfs.context/1"
CONTEXT_ROOT = "/context"
MANIFEST_NAME = "manifest.json"
TEXT_NAME = "context.txt"
_ID = re.compile(r"^[0-9a-f]{16}$")


class ManifestItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    section: str
    path: str
    version: int
    kind: str
    source: str
    tokens: int
    score: float
    scores: dict[str, float] = Field(default_factory=dict)
    reason: str
    view: dict[str, Any]
    note: str = ""
    sha256: str  # of the item's text as shown (after its view)


class ExcludedItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    version: int | None = None
    kind: str
    tokens: int | None = None
    score: float | None = None
    why: str


class Manifest(BaseModel):
    """Everything needed to explain and to replay one context."""

    model_config = ConfigDict(extra="forbid")

    format: str = FORMAT
    id: str = ""
    task: str
    principal: str
    session: str | None = None
    model: str | None = None
    encoding: str
    budget: int
    reserve_tokens: int
    tokens: int  # exact: max(whole text, prefix + rest); never more than budget - reserve
    prefix_tokens: int
    prefix_chars: int  # where the prefix ends in the text (the system message of the chat format)
    policy: dict[str, Any]
    policy_name: str
    policy_sha256: str
    now_ns: int
    search_mode: str
    sources: dict[str, str] = Field(default_factory=dict)
    evidence: bool
    items: list[ManifestItem]
    excluded: list[ExcludedItem] = Field(default_factory=list)
    parent: str | None = None  # the context this one refreshed
    prefix_reused: bool = False
    notes: list[str] = Field(default_factory=list)
    prefix_sha256: str
    sha256: str  # of the rendered bytes (context.txt)

    @property
    def folder(self) -> str:
        return f"{CONTEXT_ROOT}/{self.id}"

    def canonical(self) -> str:
        """The stored form: sorted keys, two-space indent, UTF-8, newline at the end."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    def with_id(self) -> Manifest:
        """This manifest with ``id`` set to a hash of everything else."""
        # Compact JSON goes through the C encoder; an indented dump is several times slower.
        data = self.model_dump(mode="json")
        data["id"] = ""
        body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return self.model_copy(update={"id": hashlib.sha256(body.encode()).hexdigest()[:16]})

    @classmethod
    def parse(cls, text: str, *, source: str = "manifest") -> Manifest:
        """Parse and validate a stored manifest.

        Raises:
            ValidationError: not JSON, or not a manifest this agentfs understands.
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"{source}: not valid JSON: {exc}", path=source, rule="manifest") from None
        if isinstance(data, dict) and data.get("format") != FORMAT:
            raise ValidationError(f"{source}: format {data.get('format')!r} is not {FORMAT}", path=source,
                                  rule="manifest")
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationError(f"{source}: {where}: {first['msg']}", path=source, rule="manifest") from None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_id(context_id: str) -> str:
    """Validate a context id (16 lower-case hex digits).

    Raises:
        ValidationError: anything else (so an id can never smuggle a path).
    """
    if not _ID.match(context_id):
        raise ValidationError(f"not a context id: {context_id!r} (16 hex digits, see `agentfs ls /context`)",
                              rule="context_id")
    return context_id


def manifest_path(context_id: str) -> str:
    return f"{CONTEXT_ROOT}/{check_id(context_id)}/{MANIFEST_NAME}"


def text_path(context_id: str) -> str:
    return f"{CONTEXT_ROOT}/{check_id(context_id)}/{TEXT_NAME}"


def read_manifest(fs: ContextFS, context_id: str) -> Manifest:
    """The manifest of a stored context, read as ``fs``'s principal.

    Raises:
        NotFoundError: no context with that id.
        PermissionDeniedError: the principal may not read ``/context/<id>``.
    """
    path = manifest_path(context_id)
    try:
        text = fs.read_text(path)
    except NotFoundError:
        raise NotFoundError(f"no context {context_id} in this store (see `agentfs ls /context`)",
                            path=path) from None
    return Manifest.parse(text, source=path)


def persist(fs: ContextFS, manifest: Manifest, text: str) -> None:
    """Write ``/context/<id>/`` as ``system`` (skipped when it is already there, byte for byte)."""
    system = fs.as_principal(SYSTEM)
    body = manifest.canonical()
    mpath, tpath = manifest_path(manifest.id), text_path(manifest.id)
    try:
        if system.read(mpath) == body.encode() and system.read(tpath) == text.encode():
            return
    except NotFoundError:
        pass
    # The folder is owned by the principal the context was assembled for: it may read its own
    # contexts (show, replay, check) and no one else's; every item in it was readable to it.
    system.mkdir(f"{CONTEXT_ROOT}/{manifest.id}", exist_ok=True, owner=manifest.principal)
    system.write_many([(mpath, body), (tpath, text)], message=f"context for {manifest.principal}",
                      owner=manifest.principal)


def log_line(fs: ContextFS, session: str, name: str, record: dict[str, Any]) -> None:
    """Append one JSON line to ``/history/<session>/<name>`` as ``system`` (history is append-only)."""
    line = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    fs.as_principal(SYSTEM).append(f"/history/{session}/{name}", line)


def reference(manifest: Manifest) -> dict[str, Any]:
    """The history line that points at a context."""
    return {
        "event": "context",
        "context": manifest.id,
        "manifest": manifest_path(manifest.id),
        "text": text_path(manifest.id),
        "time": iso(manifest.now_ns),
        "principal": manifest.principal,
        "task": manifest.task,
        "tokens": manifest.tokens,
        "budget": manifest.budget,
        "items": len(manifest.items),
        "parent": manifest.parent,
    }
