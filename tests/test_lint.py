"""The code stays ruff- and mypy-clean (the project's settings in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    if shutil.which("ruff") is None:
        pytest.fail("ruff is not installed: pip install -e '.[dev]'")
    result = _run("ruff", "check", "agentfs", "tests", "benchmarks", "examples", "docs")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def test_mypy_is_clean() -> None:
    result = _run(sys.executable, "-m", "mypy")
    if "No module named mypy" in result.stderr:
        pytest.fail("mypy is not installed: pip install -e '.[dev]'")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
