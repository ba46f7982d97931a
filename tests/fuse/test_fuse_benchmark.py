"""benchmarks/fuse.py runs (a smoke size) and reports every workload in its JSON. The figures are
measured by running it in full (docs/mount.md); none is asserted here."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuse.conftest import cannot_mount

pytestmark = pytest.mark.fuse

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "fuse.py"


def test_smoke_run_reports_every_workload_as_json() -> None:
    """Every workload on the mount and on the passthrough floor (bindfs too where installed)."""
    if not os.path.exists("/dev/fuse"):
        cannot_mount("no /dev/fuse")
    spec = importlib.util.spec_from_file_location("benchmark_fuse", BENCHMARK)
    assert spec is not None and spec.loader is not None
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    result = subprocess.run([sys.executable, str(BENCHMARK), "--smoke", "--json"], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert [row["workload"] for row in report["results"]] == [*benchmark.TARGETS, "outside_edit_visible"]
    for row in report["results"]:
        assert row["mount_s"] > 0 and row["ratio"] > 0 and isinstance(row["met"], bool), row
        if row["workload"] != "outside_edit_visible":  # the fuse-python passthrough ran beside it
            assert row["passthrough_s"] > 0 and row["passthrough_ratio"] > 0, row
            assert isinstance(row["passthrough_met"], bool), row
    assert report["floors"][0] == "passthrough"
    assert report["cpus"] >= 1 and report["load_average"] >= 0 and report["date"]
