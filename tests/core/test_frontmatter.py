"""Front matter: every broken block is a ValidationError naming file, line and rule, and the
write is refused whole (the version, the bytes on disk and the catalog stay as they were)."""

from __future__ import annotations

import pytest

from agentfs import frontmatter
from agentfs.errors import ValidationError
from agentfs.fs import ContextFS

MEMORY = "/memory/semantic/coffee.md"
SKILL = "/skills/brew-coffee/SKILL.md"
GOOD = "---\ndescription: ok\ntags: [prefs]\n---\nAna drinks oat-milk flat whites\n"
GOOD_SKILL = "---\nname: brew-coffee\ndescription: How to brew coffee\n---\n# Steps\n"

# (id, path, content, line, rule, words in the message)
BROKEN = [
    ("unclosed", MEMORY, "---\ntags: [a]\nbody\n", 1, "front_matter_closed", "never closed"),
    ("bad yaml", MEMORY, "---\ndescription: ok\ntags: a: b\n---\n", 3, "yaml_syntax", "not valid YAML"),
    ("tab", MEMORY, "---\n\tx: 1\n---\n", 2, "yaml_syntax", "not valid YAML"),
    ("alias bomb", MEMORY,
     "---\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n---\n", 2, "no_aliases", "aliases"),
    ("not a mapping", MEMORY, "---\n- a\n- b\n---\n", 2, "mapping", "mapping"),
    ("number key", MEMORY, "---\ndescription: x\n1: a\n---\n", 3, "string_keys", "keys must be strings"),
    ("too deep", MEMORY, "---\na: " + "[" * 20 + "]" * 20 + "\n---\n", 2, "max_depth", "deeper"),
    ("too big", MEMORY, "---\ndescription: " + "x" * 70_000 + "\n---\n", 2, "max_size", "larger"),
    ("tags text", MEMORY, "---\ndescription: ok\ntags: prefs\n---\n", 3, "tags_type", "tags"),
    ("tags of maps", MEMORY, "---\ntags: [{a: b}]\n---\n", 2, "tags_type", "tags"),
    ("description list", MEMORY, "---\ndescription: [a]\n---\n", 2, "description_type", "description"),
    ("links text", MEMORY, "---\nlinks: /x\n---\n", 2, "links_type", "links"),
    ("importance 2", MEMORY, "---\ndescription: ok\nimportance: 2\n---\n", 3, "importance_range", "0 to 1"),
    ("importance word", MEMORY, "---\nimportance: high\n---\n", 2, "importance_range", "0 to 1"),
    ("importance bool", MEMORY, "---\nimportance: true\n---\n", 2, "importance_range", "0 to 1"),
    ("confidence", MEMORY, "---\nconfidence: -0.1\n---\n", 2, "confidence_range", "0 to 1"),
    ("ttl", MEMORY, "---\ntags: []\nttl: forever\n---\n", 3, "ttl_format", "duration"),
    ("memory type", MEMORY, "---\ntype: dream\n---\n", 2, "memory_type", "episodic"),
    ("skill name mismatch", SKILL, "---\nname: make-tea\ndescription: d\n---\n", 2,
     "skill_name_matches_folder", "folder"),
    ("skill bad name", SKILL, "---\ndescription: d\nname: Brew Coffee\n---\n", 3, "skill_name", "lowercase"),
    ("skill no description", SKILL, "---\nname: brew-coffee\n---\n", 1, "skill_description_required",
     "description"),
    ("skill no name", SKILL, "---\ndescription: d\n---\n", 1, "skill_name_required", "name"),
    ("skill empty description", SKILL, "---\nname: brew-coffee\ndescription: ' '\n---\n", 3,
     "skill_description", "non-empty"),
]


@pytest.mark.parametrize(("path", "content", "line", "rule", "words"), [b[1:] for b in BROKEN],
                         ids=[b[0] for b in BROKEN])
def test_broken_front_matter_is_refused_whole(store: ContextFS, path: str, content: str, line: int,
                                              rule: str, words: str) -> None:
    good = GOOD_SKILL if path == SKILL else GOOD
    store.write(path, good)
    audit_before = len(store.audit(limit=100_000))
    with pytest.raises(ValidationError) as caught:
        store.write(path, content)
    error = caught.value
    assert error.path == path
    assert error.message.startswith(f"{path}: line {line}:"), error.message
    assert error.details["rule"] == rule
    assert error.details.get("line", line) == line
    assert words in error.message
    assert error.to_dict()["rule"] == rule  # what --json and MCP show
    # nothing written: same version, same bytes in the catalog and on disk, no audit row
    assert store.stat(path).version == 1
    assert store.read(path) == good.encode()
    assert (store.root / path.lstrip("/")).read_bytes() == good.encode()
    assert len(store.audit(limit=100_000)) == audit_before
    assert store.status() == []


def test_a_new_file_with_broken_front_matter_is_not_created(store: ContextFS) -> None:
    with pytest.raises(ValidationError):
        store.write("/memory/semantic/new.md", "---\nimportance: 7\n---\n")
    assert not store.exists("/memory/semantic/new.md")
    assert not (store.root / "memory/semantic/new.md").exists()


def test_write_many_is_all_or_nothing(store: ContextFS) -> None:
    with pytest.raises(ValidationError):
        store.write_many([("/memory/semantic/a.md", GOOD), ("/memory/semantic/b.md", "---\ntype: x\n---\n")])
    assert not store.exists("/memory/semantic/a.md")


def test_bad_metadata_values_are_refused(store: ContextFS) -> None:
    store.write(MEMORY, GOOD)
    store.write("/knowledge/data.bin", b"\x00\x01")
    for path in (MEMORY, "/knowledge/data.bin"):
        version = store.stat(path).version
        with pytest.raises(ValidationError) as caught:
            store.set_meta(path, {"importance": 5})
        assert caught.value.details["rule"] == "importance_range"
        assert path in caught.value.message
        assert store.stat(path).version == version
    with pytest.raises(ValidationError):
        store.write(MEMORY, "body\n", meta={"tags": "not-a-list"})
    assert store.read(MEMORY) == GOOD.encode()


def test_binary_memory_is_refused(store: ContextFS) -> None:
    with pytest.raises(ValidationError) as caught:
        store.write("/memory/semantic/blob.md", b"\xff\xfe\x00")
    assert caught.value.details["rule"] == "text_only"


def test_valid_front_matter_round_trips(store: ContextFS) -> None:
    info = store.write(MEMORY, "---\ntype: semantic\nimportance: 0.7\ntags: [a, b]\nttl: 7d\n"
                       "created: 2024-05-01\n---\nbody\n")
    assert info.meta == {"type": "semantic", "importance": 0.7, "tags": ["a", "b"], "ttl": "7d",
                         "created": "2024-05-01"}
    meta, body = store.front_matter(MEMORY)
    assert meta == info.meta and body == "body\n"
    rendered = frontmatter.render(meta, body)
    assert frontmatter.split(rendered).meta == meta
    assert frontmatter.split(rendered).body == body
    assert frontmatter.render({}, "just text\n") == "just text\n"


def test_text_without_front_matter_has_no_meta(store: ContextFS) -> None:
    info = store.write(MEMORY, "--- not front matter\n")
    assert info.meta == {}
