"""The interaction history of a session: one file per entry under ``/history/<session>/``.

    /history/<session>/000001-user.md        what the user said (body), who and when (front matter)
    /history/<session>/000002-tool.json      a tool call: tool, arguments, result or error
    /history/<session>/000003-assistant.md   the answer, with the context it was built on

Entries are created once and never changed (``/history`` is append-only), so ``(path, version 1)``
names an entry for ever: memories carry such references as provenance, which is how a fact is traced
back to the turn it came from (:func:`trace`). The context pipeline offers the most recent entries
of a session to the model as "Conversation so far", and keeps its own logs (``contexts.jsonl``,
``evaluations.jsonl``) in the same folder.

Entries are written as ``system`` on behalf of the principal named in them: an agent can read its
history (given ``read``), but can neither forge nor drop an entry.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentfs import frontmatter, paths
from agentfs.errors import AlreadyExistsError, NotFoundError, ValidationError
from agentfs.governance.policy import SYSTEM
from agentfs.timefmt import iso

if TYPE_CHECKING:
    from agentfs.fs import ContextFS

HISTORY_ROOT = "/history"
DEFAULT_SESSION = "default"
MAX_FIELD_BYTES = 32 * 1024  # a bigger tool result is kept as a preview (the tool can be re-run)
TEXT_TYPES = ("user", "assistant", "note")  # entries whose body is text (Markdown); others are JSON
_SESSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
_ENTRY = re.compile(r"^(\d{6,})-")


def check_session(session: str | None) -> str:
    """A session name is one path segment: letters, digits and ``. _ @ + -`` (at most 128)."""
    session = session or DEFAULT_SESSION
    if not _SESSION.match(session):
        raise ValidationError(f"session {session!r}: use letters, digits and . _ @ + - (at most 128 characters)",
                              rule="session_name")
    return session


def new_session_id() -> str:
    """A fresh session name: the time and a random suffix, e.g. ``20261121-005608-a3f9``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


@dataclass(frozen=True)
class Ref:
    """Where one history entry lives: its path and version (entries never change, so version 1)."""

    path: str
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ref:
        return cls(str(data["path"]), int(data.get("version", 1)))


def clip(value: Any) -> tuple[Any, bool]:
    """``value``, or a preview of it when its JSON is over :data:`MAX_FIELD_BYTES`."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text.encode("utf-8")) <= MAX_FIELD_BYTES:
        return value, False
    return text.encode("utf-8")[:MAX_FIELD_BYTES].decode("utf-8", "ignore") + " ...", True


class EntryNumbers:
    """The next free entry number of each session folder, for one open store (``fs.service("history")``).

    Finding it means listing the folder, which grows with the session: a long agent run would pay
    for every earlier entry on each new one. The number is kept after each append instead; since
    entries are created with an exclusive write, a number another process took first only costs
    one failed attempt and one listing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}

    def get(self, folder: str) -> int | None:
        with self._lock:
            return self._next.get(folder)

    def taken(self, folder: str, number: int) -> None:
        with self._lock:
            self._next[folder] = max(self._next.get(folder, 0), number + 1)

    def close(self) -> None:
        pass


def _entry_numbers(fs: ContextFS) -> EntryNumbers:
    from agentfs.fs import SERVICE_FACTORIES

    SERVICE_FACTORIES.setdefault("history", lambda _fs: EntryNumbers())
    return fs.service("history")  # type: ignore[no-any-return]


class HistoryLog:
    """Write and read the entries of one session.

    Args:
        fs: any handle on the store; entries are written as ``system``, read as ``fs``'s principal.
        session: the session name (default ``default``).
    """

    def __init__(self, fs: ContextFS, session: str | None = None, *, root: str = HISTORY_ROOT) -> None:
        self.fs = fs
        self.session = check_session(session)
        self.folder = paths.join(root, self.session)

    def _next_number(self, writer: ContextFS) -> int:
        if not writer.exists(self.folder):
            return 1
        numbers = [int(m.group(1)) for e in writer.ls(self.folder) if (m := _ENTRY.match(e.name))]
        return max(numbers, default=0) + 1

    def append(self, entry_type: str, *, text: str | None = None, principal: str | None = None,
               **fields: Any) -> Ref:
        """Add one entry; returns its reference.

        Args:
            entry_type: ``user``, ``assistant`` or ``note`` (Markdown: ``text`` is the body, ``fields``
                the front matter), or anything else, e.g. ``tool`` (JSON holding ``fields``).
            principal: who acted (default: the principal of ``fs``).
        """
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", entry_type):
            raise ValidationError(f"history entry type {entry_type!r}: lowercase letters, digits, _ and -",
                                  rule="history_entry")
        writer = self.fs.as_principal(SYSTEM)
        head = {"type": entry_type, "principal": principal or self.fs.principal, "session": self.session,
                "time": iso(time.time_ns())}
        if entry_type in TEXT_TYPES:
            data = frontmatter.render({**head, **fields}, (text or "").rstrip("\n") + "\n")
            suffix = ".md"
        else:
            data = json.dumps({**head, **fields, **({"text": text} if text is not None else {})},
                              ensure_ascii=False, indent=2, default=str) + "\n"
            suffix = ".json"
        numbers = _entry_numbers(self.fs)
        known = numbers.get(self.folder)
        number = known or self._next_number(writer)
        listed = known is None
        for _ in range(1000):  # another writer may take a number first: take the next one
            path = paths.join(self.folder, f"{number:06d}-{entry_type}{suffix}")
            try:
                info = writer.write(path, data, exclusive=True, message=f"{entry_type} entry of {head['principal']}")
            except AlreadyExistsError:
                # Once, look at the folder itself: another process may have written many entries.
                number = number + 1 if listed else max(number + 1, self._next_number(writer))
                listed = True
                continue
            numbers.taken(self.folder, number)
            return Ref(info.path, info.version)
        raise AlreadyExistsError(f"{self.folder}: no free entry number", path=self.folder)

    def entries(self, *, types: tuple[str, ...] | None = None, last: int | None = None) -> list[dict[str, Any]]:
        """Entries of the session, oldest first, as dicts with ``path``, ``type``, ``text`` and fields."""
        if not self.fs.exists(self.folder):
            return []
        out = []
        for info in sorted(self.fs.ls(self.folder), key=lambda e: e.name):
            if info.kind != "file" or not _ENTRY.match(info.name):
                continue
            entry = read_entry(self.fs, info.path)
            if types is None or entry.get("type") in types:
                out.append(entry)
        return out[-last:] if last else out


def read_entry(fs: ContextFS, path: str, version: int | None = None) -> dict[str, Any]:
    """One history entry as a dict (``path``, ``version``, ``type``, ``text``, fields)."""
    raw = fs.read_text(path, version=version)
    info_version = version or fs.stat(path, permissions=False).version
    if path.endswith(".md"):
        document = frontmatter.split(raw, path=path)
        return {**document.meta, "text": document.body.rstrip("\n"), "path": path, "version": info_version}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = {"text": raw}
    if not isinstance(data, dict):
        data = {"value": data}
    return {**data, "path": path, "version": info_version}


def trace(fs: ContextFS, path: str) -> list[dict[str, Any]]:
    """Where a file came from: each provenance entry with the history entry it names (if any).

    Returns ``[{"path", "version", "entry"}]``; ``entry`` is the history entry read at that version
    (None when the source is not a history entry).

    Raises:
        NotFoundError: a provenance entry names a history version that does not exist.
    """
    info = fs.stat(path, permissions=False)
    out = []
    for source in info.provenance:
        source_path, version = str(source.get("path", "")), int(source.get("version", 1))
        entry = None
        if paths.is_within(source_path, HISTORY_ROOT) and _ENTRY.match(paths.name(source_path)):
            try:
                entry = read_entry(fs, source_path, version)
            except NotFoundError:
                raise NotFoundError(f"{path} names {source_path} version {version}, which does not exist",
                                    path=path) from None
        out.append({"path": source_path, "version": version, "entry": entry})
    return out
