"""The targets section of RESULTS.md is computed from the run's own figures."""

from __future__ import annotations

from typing import Any

from bench import report


def _run(system: str, members: int, **workloads: dict[str, Any]) -> dict[str, Any]:
    named = {k.replace("_", "."): v for k, v in workloads.items()}
    return {"system": system, "members": members, "status": "ok", "workloads": named}


def test_targets_compare_ratios_with_their_goals() -> None:
    result = {
        "runs": [
            _run("kvstore", 3, put_c128={"ops_per_s": 900.0}, put_seq={"p50_ms": 3.0}),
            _run("etcd", 3, put_c128={"ops_per_s": 1000.0}, put_seq={"p50_ms": 1.0}),
            _run("kvstore", 1, put_c128={"ops_per_s": 1.0}),
        ]
    }
    lines = report.targets(result)
    put = next(line for line in lines if line.startswith("| 3-member put"))
    seq = next(line for line in lines if line.startswith("| 3-member sequential put"))
    assert "| 0.90 |" in put and put.endswith("| met | — |")
    assert "| 3.00 times |" in seq and seq.endswith("| not met | — |")
    # no etcd figure for a target: it is left out, not guessed
    assert not any(line.startswith("| serializable get") for line in lines)


def test_failover_target_is_absolute() -> None:
    result = {"runs": [_run("kvstore", 3, cluster_failover={"failover_ms": 3500.0})]}
    (line,) = [x for x in report.targets(result) if x.startswith("| failover")]
    assert "3,500 ms" in line and line.endswith("| not met | — |")


def test_the_floor_gets_its_own_table_with_both_ratios() -> None:
    get = "get_serializable_c128"
    result = {
        "meta": {
            "date": "2026-01-01T00:00:00+00:00",
            "mode": "quick",
            "machine": {"cpu": "cpu", "cores": 2, "ram_gib": 1.0, "kernel": "6"},
            "versions": {},
            "loadgen_procs": 2,
            "timing": {"warmup_s": 0.5, "duration_s": 2.0},
        },
        "runs": [
            _run("kvstore", 1, **{get: {"ops_per_s": 3000.0}}),
            _run("etcd", 1, **{get: {"ops_per_s": 10000.0}}),
            _run("grpc-floor", 1, **{get: {"ops_per_s": 4000.0}}),
        ],
    }
    text = report.markdown(result)
    row = "| get.serializable.c128 | ops/s | 4,000 | 3,000 | 10,000 | 0.75 | 0.40 |"
    assert "### The floor: an empty Python gRPC server" in text and row in text
    target = next(x for x in text.splitlines() if x.startswith("| serializable get"))
    assert target.endswith("| 0.30 | ≥ 1 | not met | 0.40 |")
    # the main table has no floor column
    assert "| Workload | Figure | kvstore | etcd | kvstore/etcd |" in text
