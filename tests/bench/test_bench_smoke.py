"""The bench harness end to end against one kvstore member, at tiny sizes.

Checks shape, never speed: every workload ran, counted something, and the
watch exactly-once check passed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
UNARY = [
    "put.seq",
    "put.c16",
    "put.c128",
    "get.linearizable.c1",
    "get.linearizable.c16",
    "get.linearizable.c128",
    "get.serializable.c1",
    "get.serializable.c16",
    "get.serializable.c128",
    "txn.cas.c16",
    "range.list.limit100",
    "range.list.limit500",
    "lease.grant.c16",
    "lease.keepalive.stream",
]
WATCH = ["watch.latency.r100", "watch.fanout.w1", "watch.fanout.w10"]


@pytest.fixture(scope="module")
def smoke_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    argv = [sys.executable, "-m", "bench", "--smoke", "--systems", "kvstore"]
    argv += ["--out", str(out), "--markdown", str(out / "RESULTS.md")]
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=55)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results_md = (out / "RESULTS.md").read_text()
    assert results_md.count("| put.seq |") >= 1 and "### The floor" in results_md
    assert "| put.c128 | server CPU µs/op |" in results_md
    result: dict[str, Any] = json.loads((out / "latest.json").read_text())
    return result


def _workloads(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    runs = result["runs"]
    assert isinstance(runs, list) and [r["system"] for r in runs] == ["kvstore", "grpc-floor"]
    run = runs[0]
    assert run["system"] == "kvstore" and run["members"] == 1 and run["status"] == "ok"
    workloads: dict[str, dict[str, Any]] = run["workloads"]
    return workloads


def test_every_workload_counted_operations(smoke_result: dict[str, Any]) -> None:
    workloads = _workloads(smoke_result)
    for name in [*UNARY, *WATCH, "footprint"]:
        row = workloads[name]
        assert isinstance(row["ops"], int) and row["ops"] > 0, (name, row)
        assert isinstance(row["samples"], int) and row["samples"] > 0, (name, row)
        assert row.get("ok", True) is True, (name, row)


def test_workloads_report_server_cpu_per_operation(
    smoke_result: dict[str, Any],
) -> None:
    """The members' CPU in the measured window over the operations measured in
    it (watch rows: per event delivered)."""
    workloads = _workloads(smoke_result)
    for name in [*UNARY, *WATCH]:
        cpu = workloads[name].get("cpu_us_per_op")
        assert isinstance(cpu, float) and cpu > 0, (name, workloads[name])
    floor = smoke_result["runs"][1]["workloads"]["get.serializable.c128"]
    assert isinstance(floor.get("cpu_us_per_op"), float) and floor["cpu_us_per_op"] > 0


def test_txn_reports_success_and_conflict_split(smoke_result: dict[str, Any]) -> None:
    row = _workloads(smoke_result)["txn.cas.c16"]
    assert isinstance(row.get("success"), int) and row["success"] > 0
    assert row["success"] + row.get("conflict", 0) == row["ops"]


def test_watch_events_arrived_exactly_once(smoke_result: dict[str, Any]) -> None:
    workloads = _workloads(smoke_result)
    for name in WATCH:
        row = workloads[name]
        assert row["ok"] is True, (name, row["check"])
        assert row["ops"] == row["expected_events"], (name, row)
        assert not row.get("duplicates") and not row.get("missing"), (name, row)


def test_footprint_has_rss_db_size_and_idle_cpu(smoke_result: dict[str, Any]) -> None:
    row = _workloads(smoke_result)["footprint"]
    assert row["rss_mb"] > 0 and row["db_size_mb"] >= 0 and row["keys"] > 0
    # a member's own CPU while nobody talks to it: some, and less than all of a core
    assert 0 <= row["idle_cpu_pct"] < 100


def test_metadata_names_machine_and_versions(smoke_result: dict[str, Any]) -> None:
    meta = smoke_result["meta"]
    assert isinstance(meta, dict)
    assert meta["mode"] == "smoke"
    assert {"python", "grpcio", "kvstore"} <= set(meta["versions"])
    assert meta["machine"]["cores"] >= 1


def test_the_floor_server_answered_every_get(smoke_result: dict[str, Any]) -> None:
    (floor,) = [r for r in smoke_result["runs"] if r["system"] == "grpc-floor"]
    assert floor["status"] == "ok" and floor["members"] == 1
    for n in (1, 128):
        row = floor["workloads"][f"get.serializable.c{n}"]
        assert row["ops"] > 0 and row.get("hit", 0) == row["ops"] and not row["errors"], row
    for name in ("put.seq", "put.c128"):
        row = floor["workloads"][name]
        assert row["ops"] > 0 and not row["errors"], row
