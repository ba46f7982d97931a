"""``/skills``: skills as folders, each holding ``SKILL.md`` and its resources.

The files are ordinary governed files; what makes them skills is checked where they are written:
a ``/skills/<name>/SKILL.md`` must carry the Agent Skills front matter (``name`` equal to the folder,
``description``), whoever writes it (see :func:`agentfs.frontmatter.validate`). Agents are offered
skills by description and page their bodies in on use (:mod:`agentfs.runtime.skills`).
"""

from __future__ import annotations

from agentfs.mounts.files import CatalogProvider


class SkillsProvider(CatalogProvider):
    """Skills as folders with SKILL.md (front matter name and description, Agent Skills convention)."""

    name = "skills"
