"""YAML front matter: parse, validate per kind, render.

A Markdown file may start with a ``---`` line, YAML, and a closing ``---`` line. agentfs reads its
user metadata from there (description, tags, type, importance, ttl, links, ...). Errors name the
file, the line and the rule, so a human can fix the file in an editor.

YAML is hostile input: anchors and aliases are refused (a "billion laughs" document expands
exponentially), the block is capped in size and nesting depth, and only plain scalars, lists and
mappings are accepted (``yaml.SafeLoader`` semantics).
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any

import yaml

from agentfs.errors import ValidationError

try:  # libyaml is ~10x faster at dumping; the pure-Python dumper gives the same text.
    _BaseDumper: type = yaml.CSafeDumper  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseDumper = yaml.SafeDumper

MAX_FRONT_MATTER_BYTES = 64 * 1024
MAX_DEPTH = 16
MEMORY_TYPES = ("episodic", "semantic", "procedural", "profile")
_SKILL_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Document:
    """A file split into its front matter and body."""

    meta: dict[str, Any]
    body: str
    has_front_matter: bool
    body_line: int  # 1-based line number where the body starts (for error messages downstream)


def split(text: str, *, path: str = "<text>") -> Document:
    """Split ``text`` into front matter and body; raise :class:`ValidationError` if it is broken.

    Args:
        text: the whole file as text.
        path: the namespace path, used in error messages.
    """
    if not (text.startswith("---\n") or text.startswith("---\r\n")):
        return Document({}, text, False, 1)
    lines = text.splitlines(keepends=True)
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n") in ("---", "..."):
            raw = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            meta = parse_yaml(raw, path=path, first_line=2)
            return Document(meta, body, True, index + 2)
    raise ValidationError(
        f"{path}: line 1: front matter opened with '---' but never closed (add a '---' line after it)",
        path=path,
        line=1,
        rule="front_matter_closed",
    )


class _AliasError(yaml.constructor.ConstructorError):
    """An anchor or alias in front matter (its own rule, not a syntax error)."""


# libyaml parses ~20x faster than the pure-Python loader; front matter is parsed on every write.
_FastLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _check_events(raw: str, path: str, first_line: int) -> None:
    """Refuse anchors, aliases and deep nesting from the parser's events, before anything is
    constructed: an alias bomb ("billion laughs") never gets the chance to expand."""
    depth = 0
    for event in yaml.parse(raw, Loader=_FastLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _AliasError(None, None, "anchors and aliases are not allowed in front matter",
                              event.start_mark)  # type: ignore[arg-type]  # libyaml's Mark is duck-typed
        if isinstance(event, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                line = (event.start_mark.line if event.start_mark is not None else 0) + first_line
                raise ValidationError(
                    f"{path}: line {line}: front matter nested deeper than {MAX_DEPTH} levels",
                    path=path,
                    line=line,
                    rule="max_depth",
                )
        elif isinstance(event, _CLOSE):
            depth -= 1


def _depth(value: Any) -> int:
    """Nesting depth of parsed YAML (collections only), as _check_events counts it."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def parse_yaml(raw: str, *, path: str = "<text>", first_line: int = 1) -> dict[str, Any]:
    """Parse a front-matter block into a dict, with safe limits. Lines are reported file-relative."""
    if len(raw.encode("utf-8", "replace")) > MAX_FRONT_MATTER_BYTES:
        raise ValidationError(
            f"{path}: line {first_line}: front matter is larger than {MAX_FRONT_MATTER_BYTES // 1024} KiB",
            path=path,
            line=first_line,
            rule="max_size",
        )
    if not raw.strip():
        return {}
    try:
        if "&" in raw or "*" in raw:  # an anchor or alias may be there: vet every event first
            _check_events(raw, path, first_line)
        data = yaml.load(raw, Loader=_FastLoader)
        if _depth(data) > MAX_DEPTH:
            _check_events(raw, path, first_line)  # raises max_depth with the line number
        if data is None:
            return {}
    except _AliasError as exc:
        line = (exc.problem_mark.line + first_line) if exc.problem_mark else first_line
        raise ValidationError(
            f"{path}: line {line}: anchors and aliases are not allowed in front matter",
            path=path,
            line=line,
            rule="no_aliases",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + first_line) if mark else first_line
        problem = exc.problem or exc.context or "invalid YAML"
        raise ValidationError(
            f"{path}: line {line}: front matter is not valid YAML: {problem}",
            path=path,
            line=line,
            rule="yaml_syntax",
        ) from None
    except yaml.YAMLError as exc:
        raise ValidationError(
            f"{path}: line {first_line}: front matter is not valid YAML: {exc}",
            path=path,
            line=first_line,
            rule="yaml_syntax",
        ) from None
    except RecursionError:
        raise ValidationError(
            f"{path}: line {first_line}: front matter nested too deeply",
            path=path,
            line=first_line,
            rule="max_depth",
        ) from None
    if not isinstance(data, dict):
        raise ValidationError(
            f"{path}: line {first_line}: front matter must be a mapping of keys to values, "
            f"got {type(data).__name__}",
            path=path,
            line=first_line,
            rule="mapping",
        )
    for key in data:
        if not isinstance(key, str):
            line = _key_line(raw, key, first_line)
            raise ValidationError(
                f"{path}: line {line}: front matter keys must be strings, got {key!r}",
                path=path,
                line=line,
                rule="string_keys",
            )
    return {k: _plain(v) for k, v in data.items()}


def _plain(value: Any) -> Any:
    """Dates from YAML become ISO strings so metadata is JSON-able and round-trips exactly."""
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _key_line(raw: str, key: Any, first_line: int) -> int:
    pattern = re.compile(rf"^\s*{re.escape(str(key))}\s*:", re.MULTILINE)
    match = pattern.search(raw)
    if not match:
        return first_line
    return raw.count("\n", 0, match.start()) + first_line


def render(meta: dict[str, Any], body: str) -> str:
    """Render front matter and body back into one text. No front matter when ``meta`` is empty."""
    if not meta:
        return body
    block = yaml.dump(meta, Dumper=_BaseDumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{block}---\n{body}"


def parse_duration(value: Any) -> int:
    """``"90s"``, ``"15m"``, ``"24h"``, ``"7d"``, ``"2w"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration like 24h or 7d")
    if isinstance(value, int | float) and value >= 0:
        return int(value)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match:
            return int(match.group(1)) * _DURATION_SECONDS[match.group(2)]
    raise ValueError("a duration like 90s, 15m, 24h, 7d or 2w")


# --- validation per kind -------------------------------------------------------------------------


def _fail(path: str, raw_lines: str | None, key: str, rule: str, message: str) -> ValidationError:
    line = _key_line(raw_lines or "", key, 2) if raw_lines is not None else 1
    return ValidationError(
        f"{path}: line {line}: {key}: {message}", path=path, line=line, rule=rule, key=key
    )


def _check_common(meta: dict[str, Any], path: str, raw: str | None) -> None:
    if "description" in meta and not isinstance(meta["description"], str):
        raise _fail(path, raw, "description", "description_type", "must be text")
    if "tags" in meta:
        tags = meta["tags"]
        if isinstance(tags, str):
            raise _fail(path, raw, "tags", "tags_type", "must be a list, e.g. [prefs, coffee]")
        if not isinstance(tags, list) or not all(isinstance(t, str | int) and not isinstance(t, bool) for t in tags):
            raise _fail(path, raw, "tags", "tags_type", "must be a list of words")
    if "importance" in meta:
        value = meta["importance"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise _fail(
                path, raw, "importance", "importance_range", f"must be a number from 0 to 1 (got {value!r})"
            )
    if "confidence" in meta:
        value = meta["confidence"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise _fail(
                path, raw, "confidence", "confidence_range", f"must be a number from 0 to 1 (got {value!r})"
            )
    if "ttl" in meta:
        try:
            parse_duration(meta["ttl"])
        except ValueError as exc:
            raise _fail(path, raw, "ttl", "ttl_format", f"must be {exc} (got {meta['ttl']!r})") from None
    if "links" in meta:
        links = meta["links"]
        if not isinstance(links, list) or not all(isinstance(x, str) for x in links):
            raise _fail(path, raw, "links", "links_type", "must be a list of paths")


def validate(meta: dict[str, Any], *, path: str, kind: str, raw: str | None = None) -> None:
    """Validate front matter for a kind of file; raise :class:`ValidationError` naming the rule.

    Args:
        meta: parsed front matter.
        path: namespace path (for messages and skill-name checks).
        kind: ``"memory"``, ``"skill"`` or ``"file"``.
        raw: the raw YAML block, to find line numbers; optional.
    """
    _check_common(meta, path, raw)
    if kind == "memory" and "type" in meta and meta["type"] not in MEMORY_TYPES:
        raise _fail(
            path, raw, "type", "memory_type", f"must be one of {', '.join(MEMORY_TYPES)} (got {meta['type']!r})"
        )
    if kind == "skill":
        for key in ("name", "description"):
            if key not in meta:
                raise ValidationError(
                    f"{path}: line 1: SKILL.md front matter needs '{key}' (Agent Skills convention)",
                    path=path,
                    line=1,
                    rule=f"skill_{key}_required",
                )
        skill_name = meta["name"]
        if not isinstance(skill_name, str) or not _SKILL_NAME.match(skill_name) or len(skill_name) > 64:
            raise _fail(
                path, raw, "name", "skill_name",
                "must be lowercase letters, digits and hyphens, at most 64 characters",
            )
        folder = path.rstrip("/").split("/")[-2] if path.count("/") >= 2 else ""
        if folder and folder != skill_name:
            raise _fail(path, raw, "name", "skill_name_matches_folder", f"must equal the folder name {folder!r}")
        if not isinstance(meta["description"], str) or not meta["description"].strip():
            raise _fail(path, raw, "description", "skill_description", "must be non-empty text")
        if len(meta["description"]) > 1024:
            raise _fail(path, raw, "description", "skill_description_length", "must be at most 1024 characters")


def kind_of(path: str) -> str:
    """Which validation rules a path gets: ``skill`` for SKILL.md, ``memory`` under /memory."""
    if path.endswith("/SKILL.md") and path.startswith("/skills/"):
        return "skill"
    if path.startswith("/memory/"):
        return "memory"
    return "file"


def raw_block(text: str) -> str | None:
    """The raw YAML of a front-matter block (for line numbers), or None."""
    if not text.startswith("---"):
        return None
    lines = text.splitlines(keepends=True)
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n") in ("---", "..."):
            return "".join(lines[1:index])
    return None


def coerce_value(text: str) -> Any:
    """Turn a CLI ``key=value`` string into a YAML scalar or list (``a,b`` -> ``["a", "b"]``)."""
    if "," in text and not text.startswith(("[", "{")):
        return [coerce_value(part.strip()) for part in text.split(",") if part.strip()]
    try:
        value = parse_yaml(f"v: {text}")["v"]
    except ValidationError:
        return text
    return value
