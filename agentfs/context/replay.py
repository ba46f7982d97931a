"""Replay: rebuild a context from its manifest's (path, version) pairs and compare the bytes.

Every item is read at its recorded version (``ContextFS.read(path, version=...)``, as the asking
principal), turned into text by its recorded view, and the whole is rendered with the recorded
instructions and task. The result must equal the stored ``context.txt`` and the manifest's
SHA-256 byte for byte; otherwise the result carries a unified diff and the items at fault.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentfs.context import views
from agentfs.context.manifest import Manifest, read_manifest, sha256, text_path
from agentfs.context.render import Block, Rendered, render
from agentfs.context.tokens import Tokens
from agentfs.errors import NotFoundError, PermissionDeniedError

if TYPE_CHECKING:
    from agentfs.fs import ContextFS


@dataclass
class ReplayResult:
    """The outcome of a replay; ``identical`` is the one thing most callers need."""

    context_id: str
    identical: bool
    expected_sha256: str
    sha256: str
    text: str
    diff: str = ""
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"context": self.context_id, "identical": self.identical, "expected_sha256": self.expected_sha256,
                "sha256": self.sha256, "problems": self.problems, "diff": self.diff}


def rebuild(reader: ContextFS, manifest: Manifest) -> tuple[Rendered, list[str]]:
    """Render ``manifest`` again from the store. Returns (rendered, problems found on the way)."""
    tokens = Tokens(encoding=manifest.encoding)
    problems: list[str] = []
    blocks = []
    for item in manifest.items:
        where = f"[{item.label}] {item.path} version {item.version}"
        try:
            raw = reader.read(item.path, version=item.version).decode("utf-8")
            text = views.apply(item.view, item.path, raw, tokens)
        except (NotFoundError, PermissionDeniedError, UnicodeDecodeError) as exc:
            problems.append(f"{where}: cannot be read ({getattr(exc, 'message', exc)})")
            text = ""
        else:
            if sha256(text) != item.sha256:
                problems.append(f"{where}: its text differs from the one recorded")
        blocks.append(Block(item.section, item.label, item.path, item.version, text, item.note))
    return render(str(manifest.policy.get("instructions", "")), manifest.task, blocks), problems


def replay(fs: ContextFS, context_id: str, *, principal: str | None = None) -> ReplayResult:
    """Rebuild stored context ``context_id`` and compare it with what was delivered.

    Raises:
        NotFoundError: no such context.
        PermissionDeniedError: the principal may not read it.
    """
    reader = fs.as_principal(principal) if principal else fs
    manifest = read_manifest(reader, context_id)
    rendered, problems = rebuild(reader, manifest)
    try:
        stored = reader.read_text(text_path(context_id))
    except NotFoundError:
        stored = None
        problems.append(f"{text_path(context_id)} is missing")
    rebuilt_sha = sha256(rendered.text)
    identical = rebuilt_sha == manifest.sha256 and stored == rendered.text
    diff = ""
    if not identical:
        before = stored if stored is not None else ""
        diff = "".join(difflib.unified_diff(
            before.splitlines(keepends=True), rendered.text.splitlines(keepends=True),
            fromfile=f"{text_path(context_id)} (delivered)", tofile="replay (rebuilt from the manifest)",
        ))
        if stored is not None and sha256(stored) != manifest.sha256:
            problems.append("the stored context.txt does not match the manifest's sha256")
    return ReplayResult(context_id, identical, manifest.sha256, rebuilt_sha, rendered.text, diff, problems)
