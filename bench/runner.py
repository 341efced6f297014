"""One bench run: every requested system and cluster size, and the run's metadata."""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import logging
import os
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from bench import workloads as w
from bench.config import BenchConfig
from bench.loadgen import LoadGenerator, LoadGenError
from bench.servers import FLOOR, Deployment, NotAvailable, deployment, etcd_version

logger = logging.getLogger(__name__)

Plan = list[tuple[str, Callable[[w.Bench], w.Row]]]
Progress = Callable[[str], None]


def plan(config: BenchConfig) -> Plan:
    """The workloads in run order (footprint runs apart, on a fresh deployment)."""
    sizes, t = config.sizes, config.timing
    steps: Plan = [
        ("put.seq", w.put(1)),
        ("put.c16", w.put(16)),
        ("put.c128", w.put(128)),
    ]
    for serializable, name in ((False, "linearizable"), (True, "serializable")):
        steps += [(f"get.{name}.c{n}", w.get(serializable, n)) for n in (1, 16, 128)]
    steps += [
        ("txn.cas.c16", w.txn_cas),
        ("range.list.limit100", w.range_list(100)),
        ("range.list.limit500", w.range_list(500)),
    ]
    steps += [
        (f"watch.latency.r{rate:.0f}", w.watch(1, rate, max(10, int(rate * t.duration))))
        for rate in sizes.watch_put_rates
    ]
    steps += [
        (f"watch.fanout.w{n}", w.watch(n, 0.0, sizes.fanout_puts)) for n in sizes.fanout_watchers
    ]
    steps += [("lease.grant.c16", w.lease_grant), ("lease.keepalive.stream", w.lease_keepalive)]
    return steps


def _guarded(step: Callable[[w.Bench], w.Row], bench: w.Bench) -> w.Row:
    """A failing workload becomes a failed row; the run goes on."""
    try:
        return step(bench)
    except LoadGenError as exc:
        bench.loadgen.restart()
        return {"ok": False, "check": f"FAILED: {exc}"}
    except (grpc.RpcError, RuntimeError, TimeoutError, OSError) as exc:
        logger.exception("workload failed")
        return {"ok": False, "check": f"FAILED: {type(exc).__name__}: {exc}"}


def _place_leader(dep: Deployment, progress: Progress) -> int:
    """Before each workload on a cluster, the last member leads, in every
    system alike: the first member, which takes single-stream workloads
    (put.seq, lease.keepalive), is then a follower in both."""
    try:
        return dep.place_leader(len(dep.members) - 1)
    except (grpc.RpcError, RuntimeError, TimeoutError) as exc:
        progress(f"{dep.system}: could not move the leader: {exc}")
        return 0


def run_size(
    config: BenchConfig, loadgen: LoadGenerator, members: int, tmp: Path, progress: Progress
) -> list[dict[str, Any]]:
    """Every system at one cluster size, workloads interleaved system by system.

    All systems' deployments are up together (an idle server costs little) and
    each workload runs on one system right after the other, so a change in
    background load on the machine hits both alike.
    """
    runs: dict[str, dict[str, Any]] = {
        s: {"system": s, "members": members, "workloads": {}} for s in config.systems
    }
    benches: dict[str, w.Bench] = {}
    with contextlib.ExitStack() as stack:
        for system in config.systems:
            label = f"{system}-{members}"
            try:
                dep = stack.enter_context(deployment(system, members, tmp / label / "main"))
                benches[system] = w.Bench(config, loadgen, dep)
                w.setup(benches[system])
            except NotAvailable as exc:
                runs[system].update(status="not available", reason=str(exc))
                progress(f"{label:10} not available: {exc}")
                benches.pop(system, None)
            except (RuntimeError, TimeoutError, OSError, LoadGenError) as exc:
                runs[system].update(status="failed", reason=f"set-up: {exc}")
                progress(f"{label:10} FAILED to set up: {exc}")
                benches.pop(system, None)
        steps = plan(config)
        if members > 1:  # last: it kills and restarts a member
            steps.append(("cluster.failover", w.failover))
        for name, step in steps:
            for system, bench in benches.items():
                if members > 1:
                    runs[system]["leader_moves"] = runs[system].get("leader_moves", 0) + (
                        _place_leader(bench.deployment, progress)
                    )
                row = runs[system]["workloads"][name] = _guarded(step, bench)
                progress(f"{system + '-' + str(members):10} {name:24} {summary(row)}")
    if "kvstore" in benches:
        runs[FLOOR] = run_floor(config, loadgen, members, tmp, progress)
    for system in benches:
        rows = runs[system]["workloads"]
        try:
            with deployment(system, members, tmp / f"{system}-{members}" / "footprint") as dep:
                rows["footprint"] = _guarded(w.footprint, w.Bench(config, loadgen, dep))
        except (RuntimeError, TimeoutError, OSError) as exc:
            rows["footprint"] = {"ok": False, "check": f"FAILED to start: {exc}"}
        progress(f"{system + '-' + str(members):10} {'footprint':24} {summary(rows['footprint'])}")
        runs[system]["status"] = "ok"
    return list(runs.values())


def floor_plan() -> Plan:
    """What the floor serves: the figures of the targets that depend on gRPC alone."""
    return [
        ("put.seq", w.put(1)),
        ("put.c128", w.put(128)),
        ("get.serializable.c1", w.get(True, 1)),
        ("get.serializable.c128", w.get(True, 128)),
        # the floor reads alike either way; a row of its own sits beside the target's
        ("get.linearizable.c128", w.get(False, 128)),
    ]


def run_floor(
    config: BenchConfig, loadgen: LoadGenerator, members: int, tmp: Path, progress: Progress
) -> dict[str, Any]:
    """The floor's figures: one empty grpcio server per member of the deployment compared."""
    run: dict[str, Any] = {"system": FLOOR, "members": members, "workloads": {}}
    label = f"{FLOOR}-{members}"
    try:
        with deployment(FLOOR, members, tmp / label, config.sizes.value_bytes) as dep:
            bench = w.Bench(config, loadgen, dep)
            for name, step in floor_plan():
                row = run["workloads"][name] = _guarded(step, bench)
                progress(f"{label:10} {name:24} {summary(row)}")
    except (RuntimeError, TimeoutError, OSError) as exc:
        run.update(status="failed", reason=f"set-up: {exc}")
        progress(f"{label:10} FAILED to set up: {exc}")
        return run
    run["status"] = "ok"
    return run


def summary(row: w.Row) -> str:
    if "failover_ms" in row:
        return (
            f"failover {row['failover_ms']} ms  catch-up {row['catchup_s']} s "
            f"({row['catchup_keys']} keys)  degraded puts {row['degraded_put_rate']}/s"
        )
    if "ops_per_s" not in row:
        return str(row.get("check") or row.get("skipped"))
    text = f"{row['ops_per_s']:>10} ops/s  p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms"
    if "rss_mb" in row:
        text += f"  rss {row['rss_mb']} MB  db {row['db_size_mb']} MB"
    if row.get("errors"):
        text += f"  errors {row['errors']}"
    if row.get("ok") is False:
        text += f"  !! {row.get('check')}"
    return text


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def metadata(config: BenchConfig) -> dict[str, Any]:
    versions = {
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "protobuf": importlib.metadata.version("protobuf"),
        "kvstore": importlib.metadata.version("kvstore"),
    }
    if "etcd" in config.systems:
        versions["etcd"] = etcd_version()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": config.mode,
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "ram_gib": _ram_gib(),
            "kernel": platform.release(),
        },
        "versions": versions,
        # Taken before any server starts: other work on the machine skews every figure.
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "loadgen_procs": config.loadgen_procs,
        "timing": {"warmup_s": config.timing.warmup, "duration_s": config.timing.duration},
        "sizes": {k: v for k, v in vars(config.sizes).items()},
    }


def run(config: BenchConfig, progress: Progress) -> dict[str, Any]:
    """Run every system for every cluster size; servers and workers are gone when it returns."""
    result: dict[str, Any] = {"meta": metadata(config), "runs": []}
    loadgen = LoadGenerator(config.loadgen_procs)
    try:
        loadgen.start()
        with tempfile.TemporaryDirectory(prefix="kvstore-bench-") as tmp:
            for members in config.members:
                result["runs"] += run_size(config, loadgen, members, Path(tmp), progress)
    finally:
        loadgen.close()
    return result
