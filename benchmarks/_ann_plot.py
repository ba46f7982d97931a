"""The recall-versus-QPS figure of the ANN benchmark (one panel per dataset)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _speed(point: dict[str, Any]) -> float:
    # CPU-time QPS where measured: on a shared machine wall-clock QPS mostly measures the others.
    return point.get("qps_cpu") or point["qps"]


def plot(result: dict[str, Any], path: Path) -> None:
    """Draw agentfs' sweep over ``nprobe`` and Chroma's points over ``ef_search`` into ``path``
    (queries per CPU-second of one thread where the run measured it, else per wall-clock second)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = result["datasets"]
    figure, axes = plt.subplots(1, len(datasets), figsize=(6.2 * len(datasets), 4.6), squeeze=False)
    for axis, (name, data) in zip(axes[0], datasets.items(), strict=True):
        curve = data["agentfs_curve"]
        axis.plot([p["recall_at_10"] for p in curve], [_speed(p) for p in curve], "o-", color="tab:blue",
                  label="agentfs (sweep of lists probed)")
        for point in curve:
            axis.annotate(str(point["nprobe"]), (point["recall_at_10"], _speed(point)), fontsize=7,
                          textcoords="offset points", xytext=(3, 3), color="tab:blue")
        if "chroma" in data:
            chroma = data["chroma"]["curve"]
            axis.plot([p["recall_at_10"] for p in chroma], [_speed(p) for p in chroma], "s--", color="tab:orange",
                      label="Chroma HNSW (ef_search)")
            for point in chroma:
                axis.annotate(f"ef {point['ef_search']}", (point["recall_at_10"], _speed(point)), fontsize=7,
                              textcoords="offset points", xytext=(3, -9), color="tab:orange")
        exact = data["exact"]
        axis.scatter([exact["recall_at_10"]], [_speed(exact)], marker="*", s=90, color="black",
                     label="exact (numpy)", zorder=3)
        axis.axvline(0.95, color="grey", linewidth=0.8, linestyle=":")
        axis.set_yscale("log")
        axis.set_xlabel("recall@10")
        cpu = bool(curve and curve[0].get("qps_cpu"))
        axis.set_ylabel("queries per CPU-second (one thread)" if cpu else "queries per second (one thread)")
        axis.set_title(f"{name}: {data['vectors']:,} x {data['dim']}")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
