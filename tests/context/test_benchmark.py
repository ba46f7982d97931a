"""The context benchmark runs (its figures are printed, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_benchmark_smoke_prints_one_json_object(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "context.py"), "--smoke", "--json", "--sizes", "100,300",
         "--cache", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [row["size"] for row in data["rows"]] == [100, 300]
    for row in data["rows"]:
        assert row["build_p50_ms"] > 0 and row["build_p95_ms"] >= row["build_p50_ms"]
        assert row["baseline_p50_ms"] > 0
    assert "growth_ratio_p50" in data and "target_met" in data
