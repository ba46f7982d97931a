"""Tools on the mount: write JSON arguments to <tool>/call, read the result back.

The provider lists ``call`` and reads return the principal's last result (``test_tools.py::
TestCallFile``); the FUSE adapter routes a write of a call file to
``fs.service("tools").write_call(fs, path, data)``: exec permission instead of write, no catalog
commit, the tool's result (or its error) is what the file then reads.
"""

from __future__ import annotations

import errno
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


def test_call_file_needs_exec_and_reports_bad_arguments(tmp_path: Path, sample_tools: str) -> None:
    """A principal without exec cannot open the call file for writing (EACCES, audited); bad JSON
    fails the close with EINVAL and the error is what the file then reads; nothing is committed."""
    root, mountpoint = tmp_path / "ctx", tmp_path / "mnt"
    mountpoint.mkdir()
    fs = agentfs.init(root)
    toolsets.add_python(fs, [f"{sample_tools}:weather"], toolset="demo")
    fs.grant("agent:reader", ["read", "list"], "/tools")
    fs.grant("agent:caller", ["read", "list", "exec"], "/tools/demo")
    fs.close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    for principal, check in (("agent:reader", "denied"), ("agent:caller", "bad-json")):
        mounted = _agentfs("mount", str(root), str(mountpoint), "--as", principal, env=env)
        assert mounted.returncode == 0, mounted.stderr
        try:
            call = mountpoint / "tools" / "demo" / "weather" / "call"
            if check == "denied":
                assert not os.access(call, os.W_OK)
                with pytest.raises(PermissionError):
                    call.write_text('{"city": "Porto"}\n')
                assert call.read_bytes() == b""
            else:
                assert os.access(call, os.W_OK)
                with pytest.raises(OSError) as raised:
                    call.write_text("{not json\n")
                assert raised.value.errno == errno.EINVAL
                error = json.loads(call.read_text())["error"]
                assert "not JSON" in error["message"]
                call.write_text('{"city": "Lisbon"}\n')  # the next call on a fresh handle works
                assert json.loads(call.read_text())["city"] == "Lisbon"
                # a whole JSON value runs at write(2), so even a shell (which ignores close) sees it
                shell = subprocess.run(["bash", "-c", f"echo '{{\"city\": 5}}' > {call}"], capture_output=True,
                                       text=True, timeout=60)
                assert shell.returncode != 0 and "Invalid argument" in shell.stderr
                assert json.loads(call.read_text())["error"]["field"] == "city"
                shell = subprocess.run(["bash", "-c", f"echo '{{\"city\": \"Faro\"}}' > {call} && cat {call}"],
                                       capture_output=True, text=True, timeout=60)
                assert shell.returncode == 0 and json.loads(shell.stdout)["city"] == "Faro", shell.stderr
        finally:
            _agentfs("unmount", str(mountpoint), env=env)
    with agentfs.open(root) as fs:
        with pytest.raises(agentfs.NotFoundError, match="no history"):
            fs.log("/tools/demo/weather/call")  # calls are runs, never committed versions
        denied = [e for e in fs.audit(principal="agent:reader") if e.decision == "deny"]
        assert any(e.action == "exec" and e.path == "/tools/demo/weather" for e in denied)
