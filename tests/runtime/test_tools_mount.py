"""Tools on the mount: write JSON arguments to <tool>/call, read the result back.

The provider side is in place (``call`` is listed, and reads return the principal's last result;
see ``test_tools.py::TestCallFile``). The FUSE adapter must route a write of a call file to
``fs.service("tools").write_call(fs, path, data)`` (exec permission instead of write, no catalog
commit); until it does, the write fails with EROFS and this test is an expected failure. It is
strict: once the adapter routes call files, it passes and the marker must go.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import agentfs
from agentfs.runtime import toolsets
from agentfs.runtime.history import HistoryLog

pytestmark = pytest.mark.fuse


def _agentfs(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentfs.cli.app", *args], capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.mark.xfail(strict=True, raises=OSError,
                   reason="the FUSE adapter does not route writes of a tool's call file to write_call yet")
def test_write_arguments_then_read_the_result(tmp_path: Path, sample_tools: str) -> None:
    if not os.path.exists("/dev/fuse") or shutil.which("fusermount") is None:
        pytest.skip("needs /dev/fuse and fusermount")
    root, mountpoint = tmp_path / "ctx", tmp_path / "mnt"
    mountpoint.mkdir()
    fs = agentfs.init(root)
    toolsets.add_python(fs, [f"{sample_tools}:weather"], toolset="demo")
    fs.close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    mounted = _agentfs("mount", str(root), str(mountpoint), env=env)
    assert mounted.returncode == 0, mounted.stderr
    try:
        call = mountpoint / "tools" / "demo" / "weather" / "call"
        assert call.exists() and call.read_bytes() == b""
        call.write_text('{"city": "Porto"}\n')
        assert json.loads(call.read_text()) == {"city": "Porto", "days": 1, "sky": "sunny"}
    finally:
        _agentfs("unmount", str(mountpoint), env=env)
    with agentfs.open(root) as fs:
        assert HistoryLog(fs, "default").entries()[-1]["tool"] == "/tools/demo/weather"
