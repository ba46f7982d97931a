"""The tools benchmark runs (its figures are printed, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.runtime.conftest import ROOT


@pytest.mark.slow
def test_benchmark_smoke_prints_one_json_object() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tools.py"), "--smoke", "--json"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["calls"] == 3 and data["baseline_calls"] == 3
    for key in ("baseline_ms_p50", "ours_mcp_ms_p50", "ours_python_ms_p50", "live_mcp_ms_p50",
                "ours_mcp_first_call_ms", "speedup_p50"):
        assert data[key] > 0, key
    assert data["speedup_p50"] == pytest.approx(data["baseline_ms_p50"] / data["ours_mcp_ms_p50"], rel=0.05)
