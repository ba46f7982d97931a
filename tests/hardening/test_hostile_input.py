"""Hostile input through the API: paths, front matter, queries, metadata, tool arguments, agent files.

Each property runs a bounded number of Hypothesis examples (``AGENTFS_FUZZ_EXAMPLES`` raises it for a
full-length run). The invariants are the same everywhere: only :class:`AgentFSError` subclasses come
out, nothing is created outside the store's directory, and ``verify()`` is clean afterwards.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agentfs
from agentfs.errors import AgentFSError, InvalidPathError
from agentfs.fs import ContextFS
from tests.helpers import ADMIN

EXAMPLES = int(os.environ.get("AGENTFS_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Pieces that have broken path handling elsewhere: traversal, NUL, NFD/fullwidth/alternate slashes,
# the store's own metadata folder, backslashes, and mount names that are prefixes of each other.
PATH_PIECES = ["..", ".", "", "/", "\x00", "\\", ".agentfs", "..\\..", "\uff0f", "\u2215", "\u2044",
               "e\u0301", "\u00e9", "\u202e", "%2e%2e", "memory", "doc", "docs", "semantic", "~", "\n",
               "a" * 300, "\ufeff", "\u0000x", "CON", "..."]


@pytest.fixture
def box(tmp_path: Path) -> Iterator[tuple[ContextFS, Path]]:
    """A store at ``box/ctx`` inside an otherwise empty ``box``; yields (admin handle, box)."""
    outer = tmp_path / "box"
    outer.mkdir()
    fs = agentfs.init(outer / "ctx", admin=ADMIN)
    try:
        yield fs, outer
    finally:
        fs.close()


def outside(box_dir: Path) -> set[str]:
    """Everything in the box and in its parent that is not the store itself."""
    seen = {p.name for p in box_dir.iterdir() if p.name != "ctx"}
    seen |= {f"../{p.name}" for p in box_dir.parent.iterdir() if p.name != "box"}
    return seen


def attempt(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``call``; an AgentFSError is a fine answer, any other exception fails the test."""
    try:
        return call(*args, **kwargs)
    except AgentFSError as exc:
        assert exc.message and exc.errno, f"error without message or errno: {exc!r}"
        return exc


def assert_sound(fs: ContextFS, box_dir: Path, before: set[str]) -> None:
    assert outside(box_dir) == before, "a file appeared outside the store directory"
    report = fs.verify()
    assert report["ok"] and not report["problems"], report


hostile_path = st.lists(st.sampled_from(PATH_PIECES) | st.text(max_size=12), min_size=1, max_size=8).map(
    lambda parts: "/".join(parts))
prefixed_path = st.tuples(st.sampled_from(["/memory/semantic/", "/", "/memory/", "/tools/", ""]), hostile_path) \
    .map(lambda t: t[0] + t[1])


@FUZZ
@given(path=prefixed_path)
def test_hostile_paths_never_escape(box: tuple[ContextFS, Path], path: str) -> None:
    fs, box_dir = box
    before = outside(box_dir)
    for call, args in ((fs.write, (path, "x\n")), (fs.mkdir, (path,)), (fs.read, (path,)), (fs.stat, (path,)),
                       (fs.ls, (path,)), (fs.rm, (path,)), (fs.mv, ("/memory/semantic", path)),
                       (fs.append, (path, "y\n")), (fs.log, (path,))):
        result = attempt(call, *args)
        if call is fs.write and not isinstance(result, AgentFSError):
            # what was written is inside the store, under the path the store reports
            assert (box_dir / "ctx" / result.path.lstrip("/")).resolve().is_relative_to(box_dir / "ctx")
            assert not result.path.startswith("/.agentfs")
    assert_sound(fs, box_dir, before)


@pytest.mark.parametrize("path", ["/../etc/passwd", "/memory/../../x", "/memory/a\x00b", "/.agentfs/catalog",
                                  "/.agentfs/x.md", "/memory/" + "a" * 4096, "/memory/" + "/".join(["d"] * 3000)],
                         ids=["traversal", "double-traversal", "nul", "meta-dir", "meta-file", "long-name",
                              "too-long-path"])
def test_known_bad_paths_are_clear_errors(box: tuple[ContextFS, Path], path: str) -> None:
    fs, box_dir = box
    before = outside(box_dir)
    result = attempt(fs.write, path, "x\n")
    assert isinstance(result, AgentFSError), f"{path!r} was accepted as {result.path!r}"
    assert_sound(fs, box_dir, before)


@FUZZ
@given(target=st.one_of(
    st.just("/etc/passwd"), st.text(min_size=1, max_size=10).map(lambda t: "/" + t),
    st.integers(3, 12).map(lambda n: "../" * n + "etc/passwd"),
    st.integers(4, 12).map(lambda n: "a/" + "../" * n + "x")))
def test_symlinks_cannot_point_outside(box: tuple[ContextFS, Path], target: str) -> None:
    fs, _ = box
    with pytest.raises(InvalidPathError):
        fs.symlink("/memory/semantic/link", target)
    assert not fs.exists("/memory/semantic/link")


# YAML that blows up in memory or depth if a parser expands it naively
BILLION_LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
    f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n" for i in range(8))
FRONT_MATTERS = [BILLION_LAUGHS, "x: " + "[" * 5000 + "]" * 5000, "x: " + "{a: " * 3000 + "1" + "}" * 3000,
                 "- a\n- b\n", "just a string", "42", "tags: 7\nimportance: high\n", "ttl: -1\n",
                 "importance: .nan\n", "tags: !!python/object/apply:os.system ['touch pwned']\n",
                 "k: " + "v" * 3_000_000, "? [a, b]\n: c\n", "a: 1\na: 2\n", "\t: bad\n", "!!binary x: y\n"]


@pytest.mark.parametrize("front", FRONT_MATTERS, ids=range(len(FRONT_MATTERS)))
def test_hostile_front_matter(box: tuple[ContextFS, Path], front: str) -> None:
    fs, box_dir = box
    before = outside(box_dir)
    result = attempt(fs.write, "/memory/semantic/bomb.md", f"---\n{front}\n---\nbody\n")
    if not isinstance(result, AgentFSError):
        attempt(fs.front_matter, "/memory/semantic/bomb.md")
    assert not Path("pwned").exists() and not (box_dir / "pwned").exists()
    assert_sound(fs, box_dir, before)


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30))
yaml_values = st.recursive(yaml_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@FUZZ
@given(fields=st.dictionaries(st.text(max_size=20), yaml_values, max_size=5))
def test_fuzzed_front_matter_and_meta(box: tuple[ContextFS, Path], fields: dict[str, Any]) -> None:
    fs, box_dir = box
    before = outside(box_dir)
    try:
        front = yaml.safe_dump(fields, allow_unicode=True)
    except yaml.YAMLError:
        front = "x: 1\n"
    attempt(fs.write, "/memory/semantic/fm.md", f"---\n{front}---\nbody\n")
    if not fs.exists("/memory/semantic/m.md"):
        fs.write("/memory/semantic/m.md", "plain\n")
    attempt(fs.set_meta, "/memory/semantic/m.md", fields)
    attempt(fs.set_meta, "/memory/semantic/m.md", {}, remove=list(fields))
    assert_sound(fs, box_dir, before)


QUERY_PIECES = ['"', "'", "NEAR(", ")", "*", "AND", "OR", "NOT", "^", ":", "-", "(", "{", "}", "NEAR/3",
                "coffee", "\u00e9t\u00e9", "\x00", "\ud7ff", "\U0001f600", "col:x", "+", "\\", "%", "_"]


@FUZZ
@given(query=st.lists(st.sampled_from(QUERY_PIECES) | st.text(max_size=8), max_size=10).map(" ".join),
       path=st.one_of(st.none(), st.sampled_from(["/memory", "/../x", "/memory/\x00"])))
def test_hostile_search_queries(box: tuple[ContextFS, Path], query: str, path: str | None) -> None:
    fs, box_dir = box
    if not fs.exists("/memory/semantic/coffee.md"):
        fs.write("/memory/semantic/coffee.md", "I like coffee in the summer (\u00e9t\u00e9).\n")
    before = outside(box_dir)
    hits = attempt(fs.search, query, k=5, mode="lexical", path=path)
    if not isinstance(hits, AgentFSError):
        assert all(hit.path.startswith("/") for hit in hits)
    assert_sound(fs, box_dir, before)


SAMPLE_TOOL = '''
def weather(city: str, days: int = 1) -> dict:
    """Weather forecast for a city.

    Args:
        city: the city name.
        days: how many days ahead.
    """
    return {"city": city, "days": days}
'''


@FUZZ
@given(args=st.one_of(yaml_values, st.dictionaries(st.sampled_from(["city", "days", "x", "__class__"]),
                                                    yaml_values, max_size=3)))
def test_hostile_tool_arguments(box: tuple[ContextFS, Path], args: Any, tmp_path_factory: Any,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    fs, box_dir = box
    if not fs.exists("/tools/hard/weather"):
        from agentfs.runtime import toolsets

        folder = tmp_path_factory.mktemp("pkgs")
        name = f"hardtools_{folder.name.replace('-', '_')}"
        (folder / f"{name}.py").write_text(textwrap.dedent(SAMPLE_TOOL))
        monkeypatch.syspath_prepend(str(folder))
        toolsets.add_python(fs, [f"{name}:weather"], toolset="hard")
    before = outside(box_dir)
    result = attempt(fs.exec, "/tools/hard/weather", args)
    if not isinstance(result, AgentFSError):
        assert isinstance(args, dict) and isinstance(args.get("city"), str)
    assert_sound(fs, box_dir, before)


AGENT_KEYS = ["name", "principal", "tools", "context", "mounts", "memory", "instructions", "skills", "model",
              "install", "x"]


@FUZZ
@given(data=st.one_of(yaml_values, st.dictionaries(st.sampled_from(AGENT_KEYS), yaml_values, max_size=6)),
       raw=st.sampled_from(["", BILLION_LAUGHS, "name: [", "name: &a x\nprincipal: *a\n", "- 1\n", "\x00"]))
def test_hostile_agent_definitions(tmp_path_factory: Any, data: Any, raw: str) -> None:
    from agentfs.runtime.agents import load_agent, parse_agent

    attempt(parse_agent, data)
    folder = tmp_path_factory.mktemp("agents")
    for n, text in enumerate((raw, yaml.safe_dump(data) if not isinstance(data, float) else "x: 1\n")):
        path = folder / f"a{n}.yaml"
        path.write_text(text, encoding="utf-8")
        attempt(load_agent, path)
