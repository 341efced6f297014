"""latest.png: throughput and latency percentiles of every system, side by side."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

_SKIP = {"footprint", "cluster.failover"}


def write_plot(result: dict[str, Any], path: Path) -> bool:
    """Draw the plot; False (and nothing written) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    runs = [r for r in result["runs"] if r.get("status") == "ok"]
    names: list[str] = []
    for r in runs:
        names += [n for n in r["workloads"] if n not in names and n not in _SKIP]
    labels = [f"{r['system']}-{r['members']}" for r in runs]

    def values(run: dict[str, Any], key: str) -> list[float]:
        out = []
        for n in names:
            v = run["workloads"].get(n, {}).get(key)
            out.append(
                float(v) if isinstance(v, int | float) and v and not math.isnan(v) else math.nan
            )
        return out

    panels = [("ops_per_s", "ops/s (events/s for watch)"), ("p50_ms", "p50 latency, ms"),
              ("p99_ms", "p99 latency, ms"), ("p999_ms", "p99.9 latency, ms")]  # fmt: skip
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(10, len(names) * 0.7), 16), sharex=True)
    width = 0.8 / max(1, len(runs))
    xs = list(range(len(names)))
    for ax, (key, title) in zip(axes, panels, strict=True):
        for i, (run, label) in enumerate(zip(runs, labels, strict=True)):
            ax.bar([x + i * width for x in xs], values(run, key), width, label=label)
        ax.set_yscale("log")
        ax.set_ylabel(title)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].legend()
    axes[0].set_title(f"kvstore vs etcd — {result['meta']['mode']} mode, {result['meta']['date']}")
    axes[-1].set_xticks(
        [x + width * (len(runs) - 1) / 2 for x in xs], names, rotation=60, ha="right"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
