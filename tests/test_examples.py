"""Every script in examples/ runs: each is started as a subprocess and must exit 0 in time.

Conventions for an example (so a new one joins this loop by being added to examples/):

- it takes an optional first argument, a store directory that does not exist yet (this test passes
  one under a fresh temporary directory), and otherwise makes its own temporary store;
- a line ``# example-args: ARGS`` replaces that argument (e.g. ``--check`` for a server, which would
  otherwise wait for a client); files starting with ``_`` are helpers and are not run;
- it runs offline, and asserts what it demonstrates, so a broken example fails here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
TIMEOUT = 300
_ARGS = re.compile(r"^# example-args:(.*)$", re.MULTILINE)


def test_there_are_examples() -> None:
    assert {"memory_agent.py", "github_assistant.py", "github_mcp_server.py"} <= {p.name for p in SCRIPTS}


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    found = _ARGS.search(script.read_text(encoding="utf-8"))
    args = shlex.split(found.group(1)) if found else [str(tmp_path / "store")]
    env = {k: v for k, v in os.environ.items() if k not in ("AGENTFS_STORE", "AGENTFS_PRINCIPAL")}
    done = subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{script.name} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
