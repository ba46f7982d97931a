"""Skills as folders: ``/skills/<name>/SKILL.md`` plus the resources next to it.

``SKILL.md`` follows the Agent Skills convention: YAML front matter with ``name`` (lowercase,
digits and hyphens, equal to the folder name) and ``description`` (what the skill is for and when
to use it), then Markdown instructions. Agents are offered skills by name and description only
(read from the catalog's metadata, without opening the file); the body and resources are paged in
when the agent asks for them (:func:`load_skill`, the ``read_skill`` tool).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentfs import frontmatter, paths
from agentfs.errors import NotFoundError, TooLargeError, ValidationError

if TYPE_CHECKING:
    from agentfs.fs import ContextFS

SKILLS_ROOT = "/skills"
SKILL_FILE = "SKILL.md"
MAX_RESOURCE_BYTES = 8 * 1024 * 1024
_SKIP = {".git", "__pycache__", ".DS_Store", ".venv", "node_modules"}


@dataclass(frozen=True)
class SkillInfo:
    """A skill as it is offered to an agent: name, description, where it lives."""

    name: str
    description: str
    path: str  # the skill's folder
    version: int  # of SKILL.md

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "path": self.path, "version": self.version}


def _host_files(folder: Path) -> list[Path]:
    files = []
    for item in sorted(folder.rglob("*")):
        rel = item.relative_to(folder)
        if any(part in _SKIP for part in rel.parts) or not item.is_file() or item.is_symlink():
            continue
        files.append(item)
    return files


def add_skill(fs: ContextFS, folder: str | Path, *, root: str = SKILLS_ROOT) -> SkillInfo:
    """Copy a host folder holding ``SKILL.md`` into ``/skills/<name>/`` in one commit.

    Adding a skill again updates it: changed files get new versions, files gone from the folder
    are removed.

    Raises:
        NotFoundError: no folder or no SKILL.md in it.
        ValidationError: SKILL.md front matter breaks the convention (the message names the rule).
        TooLargeError: a resource over 8 MiB.
    """
    folder = Path(folder)
    skill_md = folder / SKILL_FILE
    if not folder.is_dir():
        raise NotFoundError(f"{folder} is not a folder (a skill is a folder holding {SKILL_FILE})")
    if not skill_md.is_file():
        raise NotFoundError(f"{folder} has no {SKILL_FILE} (a skill is a folder holding {SKILL_FILE})")
    text = skill_md.read_text(encoding="utf-8")
    document = frontmatter.split(text, path=str(skill_md))
    name = document.meta.get("name")
    if not isinstance(name, str) or not name:
        raise ValidationError(f"{skill_md}: line 1: SKILL.md front matter needs 'name' (Agent Skills convention)",
                              path=str(skill_md), rule="skill_name_required")
    base = paths.join(root, paths.normalize("/" + name).lstrip("/"))
    # Validate against the namespace path, so the name must also match the folder it lands in.
    frontmatter.validate(document.meta, path=paths.join(base, SKILL_FILE), kind="skill",
                         raw=frontmatter.raw_block(text))
    writes: list[tuple[str, bytes]] = []
    wanted = set()
    for item in _host_files(folder):
        rel = item.relative_to(folder).as_posix()
        target = paths.join(base, rel)
        wanted.add(target)
        size = item.stat().st_size
        if size > MAX_RESOURCE_BYTES:
            raise TooLargeError(f"{item}: {size} bytes; skill resources are at most {MAX_RESOURCE_BYTES}",
                                path=target)
        data = item.read_bytes()
        try:
            if fs.read(target) == data:
                continue
        except NotFoundError:
            pass
        writes.append((target, data))
    if writes:
        fs.write_many(writes, message=f"skill {name} from {folder}")
    if fs.exists(base):
        for info in fs.ls(base, recursive=True):
            if info.kind == "file" and info.path not in wanted and not info.virtual:
                fs.rm(info.path)
    return skill_info(fs, base)


def skill_info(fs: ContextFS, folder: str) -> SkillInfo:
    info = fs.stat(paths.join(folder, SKILL_FILE), permissions=False)
    return SkillInfo(name=str(info.meta.get("name", paths.name(folder))),
                     description=str(info.meta.get("description", "")), path=folder, version=info.version)


def list_skills(fs: ContextFS, root: str = SKILLS_ROOT) -> list[SkillInfo]:
    """Every skill the principal of ``fs`` can see, by name; bodies are not read."""
    if not fs.exists(root):
        return []
    out = []
    for entry in fs.ls(root):
        if entry.kind == "dir" and fs.exists(paths.join(entry.path, SKILL_FILE)):
            out.append(skill_info(fs, entry.path))
    return sorted(out, key=lambda s: s.name)


def skill_folder(name: str, root: str = SKILLS_ROOT) -> str:
    return paths.join(root, paths.normalize("/" + name).lstrip("/"))


def load_skill(fs: ContextFS, name: str, *, root: str = SKILLS_ROOT) -> dict[str, Any]:
    """Page a skill in: its instructions (SKILL.md body), version and the list of its resources."""
    base = skill_folder(name, root)
    path = paths.join(base, SKILL_FILE)
    if not fs.exists(path):
        raise NotFoundError(f"no skill {name!r} (no {path}); see `agentfs skills ls`", path=path)
    meta, body = fs.front_matter(path)
    resources = [paths.relative_to(info.path, base) for info in fs.ls(base, recursive=True)
                 if info.kind == "file" and info.path != path]
    return {"name": meta.get("name", name), "description": meta.get("description", ""), "path": base,
            "version": fs.stat(path, permissions=False).version, "instructions": body.strip(),
            "resources": resources}


def read_resource(fs: ContextFS, name: str, resource: str, *, root: str = SKILLS_ROOT) -> str:
    """The text of one resource of a skill (``resource`` is relative to the skill's folder)."""
    base = skill_folder(name, root)
    target = paths.normalize(paths.join(base, resource))
    if not paths.is_within(target, base) or target == base:
        raise ValidationError(f"{resource!r} is not inside skill {name}", path=target, rule="skill_resource")
    return fs.read_text(target)
