"""Without an adapter's library, importing the adapter names the extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    ("agentfs.integrations.langchain", "langchain_core", "pip install 'agentfs[langchain]'"),
    ("agentfs.integrations.langgraph", "langgraph", "pip install 'agentfs[langchain]'"),
    ("agentfs.integrations.mcp_server", "mcp", "pip install 'agentfs[mcp]'"),
]


@pytest.mark.parametrize(("module", "library", "hint"), CASES, ids=[c[0] for c in CASES])
def test_import_names_the_extra(module: str, library: str, hint: str) -> None:
    # sys.modules[name] = None makes every import of that package fail, as if it were not installed.
    code = (f"import sys\nsys.modules[{library!r}] = None\n"
            f"try:\n    import {module}\nexcept ModuleNotFoundError as e:\n    print(e)\nelse:\n    print('imported')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert hint in done.stdout and library in done.stdout, done.stdout
