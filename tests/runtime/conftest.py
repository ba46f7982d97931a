"""Fixtures for the runtime tests: sample tool modules, the example MCP server, a free port."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GITHUB_SERVER = ROOT / "examples" / "github_mcp_server.py"
AGENTS = ROOT / "agents"

SAMPLE_TOOLS = '''
"""Sample tools for the runtime tests."""
from typing import Annotated, Any

from langchain_core.tools import InjectedToolArg, tool


def weather(city: str, days: int = 1) -> dict:
    """Weather forecast for a city.

    Args:
        city: the city name, e.g. Lisbon.
        days: how many days ahead (1-7).
    """
    return {"city": city, "days": days, "sky": "sunny"}


@tool
def shout(text: str) -> str:
    """Shout the text back in capitals."""
    return text.upper()


def fail(reason: str) -> str:
    """Always fails, with the reason given.

    Args:
        reason: what to say.
    """
    raise RuntimeError(reason)


def read_note(path: str, tool_context: Annotated[Any, InjectedToolArg] = None) -> str:
    """Read a file of the store as the caller.

    Args:
        path: a namespace path.
    """
    return tool_context.fs.read_text(path)
'''


@pytest.fixture
def sample_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module ``sampletools_<n>`` on sys.path with the tools above; returns its name."""
    name = f"sampletools_{tmp_path.name.replace('-', '_')}"
    folder = tmp_path / "pkgs"
    folder.mkdir()
    (folder / f"{name}.py").write_text(textwrap.dedent(SAMPLE_TOOLS))
    monkeypatch.syspath_prepend(str(folder))
    return name


def server_command() -> list[str]:
    return [sys.executable, str(GITHUB_SERVER)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def http_server() -> Iterator[str]:
    """The example GitHub MCP server on streamable HTTP at 127.0.0.1; yields its URL."""
    port = free_port()
    process = subprocess.Popen([*server_command(), "--http", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the example MCP server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
