"""``benchmarks/ann.py --smoke`` runs end to end and prints one JSON object (figures are printed,
never asserted: speed is measured in the benchmark, not in tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "benchmarks"))
from _vectors import DATASETS, datasets_dir  # noqa: E402


def _real_vectors_available() -> bool:
    return all((datasets_dir() / name / "corpus.jsonl").is_file() for name in DATASETS)


@pytest.mark.slow
def test_smoke_prints_one_json_object(tmp_path: Path) -> None:
    # The real dataset needs the BEIR files next to the repository; without them the synthetic
    # one still checks every contender and every step of the harness.
    datasets = "real,synthetic_1m" if _real_vectors_available() else "synthetic_1m"
    completed = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "ann.py"), "--smoke", "--json", "--datasets", datasets,
         "--work", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout)
    assert set(result["datasets"]) == set(datasets.split(","))
    for dataset in result["datasets"].values():
        assert {"exact", "chroma", "agentfs", "agentfs_curve", "ratios_vs_chroma"} <= set(dataset)
        for contender in ("exact", "chroma", "agentfs"):
            row = dataset[contender]
            for key in ("recall_at_10", "qps", "qps_cpu", "p50_ms", "p99_ms", "held_mb", "build_s", "bytes_on_disk"):
                assert row[key] is not None and row[key] >= 0, (contender, key)
            assert 0.0 <= row["recall_at_10"] <= 1.0
        # Exact search is the reference its own recall is measured against.
        assert dataset["exact"]["recall_at_10"] == 1.0
        assert [p["nprobe"] for p in dataset["agentfs_curve"]] == sorted(p["nprobe"] for p in dataset["agentfs_curve"])
        assert dataset["agentfs"]["pages_per_query"] > 0
    assert "load_average_start" in result and "load_average_end" in result
