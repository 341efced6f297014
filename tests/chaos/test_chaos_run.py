"""The CI chaos run: a short seeded run against a real 3-member cluster finds no anomaly.

Seed 20240601's schedule starts with six different fault kinds (kill, pause,
partitions, bridge, slow links, member replacement — whichever its permutation puts
first); ``python -m tests.chaos --seed N`` replays any seed, ``--long`` soaks.
"""

from __future__ import annotations

from pathlib import Path

from tests.chaos.runner import RunConfig, run

SEED = 20240601


def test_short_chaos_run_finds_no_anomaly(tmp_path: Path) -> None:
    report = run(RunConfig(seed=SEED, duration=30.0, min_faults=6), tmp_path)
    print(report.render())  # shown with pytest -s
    assert not report.anomalies, report.render()
    assert len(report.faults) >= 5, report.render()
    assert report.faults.total() >= 6, report.render()
    assert report.operations >= 200, report.render()
    assert all(k.verdict != "illegal" for k in report.keys)
