"""Hostile tool arguments through the MCP server, fuzzed with Hypothesis (the real client, in memory).

Whatever a model sends, every call returns: a result, or an error whose text is either the schema's
``validation error`` or an agentfs error code with its message (never a bare Python exception such
as ``KeyError``, which would mean a bug reached the model). Nothing appears outside the store and
``verify()`` is clean afterwards. ``AGENTFS_FUZZ_EXAMPLES`` raises the number of examples.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agentfs
from agentfs import errors
from agentfs.fs import ContextFS
from tests.helpers import ADMIN

EXAMPLES = int(os.environ.get("AGENTFS_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TOOLS = ["list", "read", "stat", "search", "grep", "write", "build_context", "exec"]


def _codes(cls: type) -> set[str]:
    return {cls.code} | {code for sub in cls.__subclasses__() for code in _codes(sub)}


CODES = _codes(errors.AgentFSError)
CLEAR = re.compile(r"^(Error executing tool \w+: )?(\d+ validation errors? for |(" + "|".join(sorted(CODES))
                   + r"): |Unknown tool: )")

PIECES = ["/", "/memory", "/memory/semantic/a.md", "/../etc/passwd", "/.agentfs/catalog.sqlite", "\x00", "..",
          "/tools/x/y", "/context", "/.search/a", "(*", "(a+)+$", "NEAR(", "---\n[\n---\n", "a" * 5000]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | st.sampled_from(PIECES),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10)
ARG_NAMES = ["path", "version", "recursive", "query", "k", "mode", "pattern", "ignore_case", "max_matches",
             "content", "metadata", "if_version", "task", "budget", "model", "args", "x"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ContextFS, Path]]:
    box = tmp_path_factory.mktemp("hostile-mcp")
    fs = agentfs.init(box / "ctx", admin=ADMIN)
    fs.write("/memory/semantic/a.md", "Ana likes tea.\n")
    try:
        yield fs, box
    finally:
        fs.close()


async def _call(fs: ContextFS, tool: str, args: dict[str, Any]) -> tuple[bool, str]:
    from mcp import Client

    from agentfs.integrations.mcp_server import AgentFSMCPServer

    async with Client(AgentFSMCPServer(fs.as_principal("agent:fuzzer"))) as client:
        result = await client.call_tool(tool, args)
    return result.is_error, " ".join(getattr(c, "text", "") for c in result.content)


@FUZZ
@given(tool=st.sampled_from(TOOLS), args=st.dictionaries(st.sampled_from(ARG_NAMES), json_values, max_size=4))
def test_fuzzed_mcp_tool_arguments(served: tuple[ContextFS, Path], tool: str, args: dict[str, Any]) -> None:
    fs, box = served
    if not fs.as_principal(ADMIN).rules():
        fs.grant("agent:fuzzer", "read,list,write", "/memory")
    before = sorted(p.name for p in box.iterdir())
    is_error, text = anyio.run(_call, fs, tool, args)
    if is_error:
        assert CLEAR.match(text), f"{tool}({args!r}) failed without a clear error: {text[:300]}"
    assert sorted(p.name for p in box.iterdir()) == before


def test_the_store_is_sound_after_the_fuzzing(served: tuple[ContextFS, Path]) -> None:
    report = served[0].verify()
    assert report["ok"], report["problems"]
