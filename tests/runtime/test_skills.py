"""Skills as folders with SKILL.md: added from the host, offered by description, paged in on use."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentfs.errors import NotFoundError, PermissionDeniedError, ValidationError
from agentfs.fs import ContextFS
from agentfs.runtime.skills import add_skill, list_skills, load_skill, read_resource
from tests.helpers import as_agent
from tests.runtime.conftest import ROOT

TRIAGE = ROOT / "examples" / "skills" / "issue-triage"


def _skill(folder: Path, front: str, body: str = "# Steps\n\n1. Do it.\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text(f"---\n{front}---\n{body}")
    return folder


def test_a_skill_folder_lands_under_skills(store: ContextFS) -> None:
    info = add_skill(store, TRIAGE)
    assert (info.name, info.path, info.version) == ("issue-triage", "/skills/issue-triage", 1)
    assert info.description.startswith("Triage a GitHub issue")
    assert {e.name for e in store.ls("/skills/issue-triage")} == {"SKILL.md", "checklist.md"}
    assert store.read("/skills/issue-triage/checklist.md") == (TRIAGE / "checklist.md").read_bytes()


def test_skills_are_offered_by_description_and_paged_in_on_use(store: ContextFS) -> None:
    add_skill(store, TRIAGE)
    [offered] = list_skills(store)
    assert offered.to_dict() == {"name": "issue-triage", "description": offered.description,
                                 "path": "/skills/issue-triage", "version": 1}
    page = load_skill(store, "issue-triage")
    assert page["instructions"].startswith("# Triage a GitHub issue")
    assert page["resources"] == ["checklist.md"]
    assert read_resource(store, "issue-triage", "checklist.md").startswith("# Triage checklist")
    with pytest.raises(ValidationError, match="not inside skill"):
        read_resource(store, "issue-triage", "../../memory/profile/x.md")
    with pytest.raises(NotFoundError, match="no skill 'nope'"):
        load_skill(store, "nope")


def test_adding_again_updates_and_removes_stale_resources(store: ContextFS, tmp_path: Path) -> None:
    folder = _skill(tmp_path / "brew-coffee", "name: brew-coffee\ndescription: How to brew coffee.\n")
    (folder / "ratios.md").write_text("1:16\n")
    add_skill(store, folder)
    (folder / "ratios.md").unlink()
    _skill(folder, "name: brew-coffee\ndescription: How to brew good coffee.\n")
    info = add_skill(store, folder)
    assert info.version == 2 and info.description == "How to brew good coffee."
    assert not store.exists("/skills/brew-coffee/ratios.md")


@pytest.mark.parametrize(("front", "words"), [
    ("description: no name here\n", "needs 'name'"),
    ("name: brew-coffee\n", "needs 'description'"),
    ("name: Brew Coffee\ndescription: x\n", "lowercase letters, digits and hyphens"),
])
def test_bad_front_matter_is_refused(store: ContextFS, tmp_path: Path, front: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        add_skill(store, _skill(tmp_path / "brew-coffee", front))
    assert list_skills(store) == []


def test_a_folder_without_skill_md(store: ContextFS, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"has no SKILL\.md"):
        add_skill(store, tmp_path)


def test_skills_follow_read_permission(store: ContextFS) -> None:
    add_skill(store, TRIAGE)
    stranger = store.as_principal("agent:stranger")
    assert list_skills(stranger) == []
    with pytest.raises(PermissionDeniedError):
        add_skill(stranger, TRIAGE)
    reader = as_agent(store, "agent:reader", "read,list", "/skills")
    assert [s.name for s in list_skills(reader)] == ["issue-triage"]
