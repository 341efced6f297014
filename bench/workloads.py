"""The workloads, each a function of a ``Bench`` that returns one result row.

A row is a flat dict: ``ops``, ``ops_per_s``, ``p50_ms``/``p99_ms``/``p999_ms``,
``errors`` by gRPC code, workload counters, and ``ok`` plus ``check`` for
workloads that verify something (exactly-once watch delivery, list sizes).
Every workload is bounded by the mode's timing and a deadline on the load
generator; nothing waits without a bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import grpc

from bench.config import BenchConfig
from bench.cpu import ServerCpu
from bench.jobs import Job, JobResult
from bench.loadgen import LoadGenerator
from bench.servers import Deployment, Member, cpu_seconds, rss_bytes
from bench.stats import latency_ms, merge
from kvstore.pb import rpc_pb2, rpc_pb2_grpc

logger = logging.getLogger(__name__)

Row = dict[str, Any]

KV_PREFIX = "bench/kv/"
LIST_PREFIX = "bench/list/"
CAS_PREFIX = "bench/cas/"
WATCH_PREFIX = "bench/watch/"
FOOTPRINT_PREFIX = "bench/load/"
FAILOVER_PREFIX = "bench/failover/"
CATCHUP_PREFIX = "bench/catchup/"
#: Delay between submitting a job and its start, so every worker starts together.
_START_DELAY = 0.5
_SLACK = 20.0
#: Slowest event delivery a watch workload waits for before declaring events missing.
_MIN_EVENT_RATE = 2_000.0
_MB = 1024 * 1024
#: Failover: a new probe put starts this often; bound on leader kill → first put.
_FAILOVER_PROBE_S = 0.02
_FAILOVER_BOUND_S = 60.0
#: Catch-up: Status poll interval; bound is this plus keys at the slowest rate we accept.
_CATCHUP_POLL_S = 0.02
_CATCHUP_BOUND_S = 60.0
_MIN_CATCHUP_RATE = 100.0


@dataclass
class Bench:
    """What a workload runs against."""

    config: BenchConfig
    loadgen: LoadGenerator
    deployment: Deployment

    def job(
        self,
        op: str,
        tasks: int,
        offset: int,
        total: int,
        endpoints: tuple[str, ...] | None = None,
        **params: Any,
    ) -> Job:
        """A job of ``op``; on every member's endpoint unless ``endpoints`` names some."""
        t = self.config.timing
        return Job(
            op=op,
            endpoints=endpoints or tuple(self.deployment.endpoints),
            tasks=tasks,
            task_offset=offset,
            total_tasks=total,
            start_at=time.monotonic() + _START_DELAY,
            warmup=t.warmup,
            duration=t.duration,
            max_ops_per_task=t.max_ops_per_task,
            rpc_timeout=self.config.rpc_timeout,
            params={"value_bytes": self.config.sizes.value_bytes, **params},
        )

    def spread(
        self,
        op: str,
        in_flight: int,
        duration: float | None = None,
        endpoints: tuple[str, ...] | None = None,
        **params: Any,
    ) -> JobResult:
        """Run ``in_flight`` tasks of ``op``, spread over as many workers as help;
        ``extra["server_cpu_s"]``: the members' CPU time in the measured window."""
        workers = min(self.loadgen.procs, in_flight)
        shares = [
            in_flight // workers + (1 if i < in_flight % workers else 0) for i in range(workers)
        ]
        base = self.job(op, 0, 0, in_flight, endpoints, **params)
        if duration is not None:
            base = replace(base, warmup=0.0, duration=duration)
        jobs, offset = {}, 0
        for worker, share in enumerate(shares):
            jobs[worker] = replace(base, tasks=share, task_offset=offset)
            offset += share
        timeout = _START_DELAY + base.warmup + base.duration + base.rpc_timeout + _SLACK
        pids = [m.pid for m in self.deployment.running()]
        with ServerCpu(pids, base.measure_from, base.measure_until) as cpu:
            result = merge(self.loadgen.run(jobs, timeout).values())
        result.extra["server_cpu_s"] = cpu.seconds
        return result


def _row(result: JobResult, seconds: float) -> Row:
    row: Row = {"ops": result.ops, "ops_per_s": round(result.ops / seconds, 1) if seconds else 0.0}
    cpu = result.extra.get("server_cpu_s")
    if isinstance(cpu, float) and result.ops:
        # all members together; the load generator's share is not in it
        row["cpu_us_per_op"] = round(cpu / result.ops * 1e6, 1)
    row.update(latency_ms(result.latencies))
    row["errors"] = result.errors
    row.update(result.counters)
    if result.failure:
        row["ok"] = False
        row["check"] = f"worker crashed: {result.failure.strip().splitlines()[-1]}"
    return row


def load(
    bench: Bench, prefix: str, count: int, endpoints: tuple[str, ...] | None = None
) -> tuple[JobResult, float]:
    """Write ``count`` keys under ``prefix`` once each, 64 in flight; result and seconds."""
    started = time.monotonic()
    result = bench.spread(
        "load",
        64,
        duration=max(60.0, count / 50.0),
        endpoints=endpoints,
        prefix=prefix,
        count=count,
    )
    elapsed = time.monotonic() - started
    if result.ops != count:
        raise RuntimeError(
            f"loading {prefix}: {result.ops}/{count} puts ok, errors {result.errors}"
        )
    return result, elapsed


def setup(bench: Bench) -> None:
    """Keys read by get, listed by range and swapped by txn."""
    sizes = bench.config.sizes
    load(bench, KV_PREFIX, sizes.keyspace)
    load(bench, LIST_PREFIX, sizes.list_keys)
    load(bench, CAS_PREFIX, sizes.cas_keys)


def closed(bench: Bench, op: str, in_flight: int, **params: Any) -> Row:
    return _row(bench.spread(op, in_flight, **params), bench.config.timing.duration)


def put(in_flight: int) -> Callable[[Bench], Row]:
    def run(bench: Bench) -> Row:
        return closed(
            bench, "put", in_flight, prefix=KV_PREFIX, keyspace=bench.config.sizes.keyspace
        )

    return run


def get(serializable: bool, in_flight: int) -> Callable[[Bench], Row]:
    def run(bench: Bench) -> Row:
        return closed(
            bench,
            "get",
            in_flight,
            prefix=KV_PREFIX,
            keyspace=bench.config.sizes.keyspace,
            serializable=serializable,
        )

    return run


def txn_cas(bench: Bench) -> Row:
    return closed(bench, "txn_cas", 16, prefix=CAS_PREFIX, keys=bench.config.sizes.cas_keys)


def range_list(limit: int) -> Callable[[Bench], Row]:
    def run(bench: Bench) -> Row:
        expected = bench.config.sizes.list_keys
        row = closed(bench, "range_list", 4, prefix=LIST_PREFIX, limit=limit, expected=expected)
        row["keys_per_s"] = round(row.get("keys", 0) / bench.config.timing.duration, 1)
        wrong = row.get("wrong_size", 0)
        row.setdefault("ok", wrong == 0)
        row.setdefault(
            "check", "every list returned all keys" if wrong == 0 else f"{wrong} lists short"
        )
        return row

    return run


def lease_grant(bench: Bench) -> Row:
    return closed(bench, "lease_grant", 16)


def lease_keepalive(bench: Bench) -> Row:
    job = bench.job("keepalive", 1, 0, 1, leases=100, window=64)
    timeout = _START_DELAY + job.warmup + job.duration + job.rpc_timeout + _SLACK
    pids = [m.pid for m in bench.deployment.running()]
    with ServerCpu(pids, job.measure_from, job.measure_until) as cpu:
        result = bench.loadgen.run({0: job}, timeout)[0]
    result.extra["server_cpu_s"] = cpu.seconds
    row = _row(result, bench.config.timing.duration)
    row["stream"] = "1 stream, 64 requests in flight, 100 leases"
    return row


def watch(watchers: int, rate: float, count: int) -> Callable[[Bench], Row]:
    """Puts at ``rate``/s (0: 16 in flight, as fast as possible) seen by ``watchers``."""

    def run(bench: Bench) -> Row:
        procs = bench.loadgen.procs
        if procs < 2:
            raise ValueError("watch workloads need at least 2 load-generator processes")
        prefix = f"{WATCH_PREFIX}{watchers}w{int(rate)}r{time.monotonic_ns()}/"
        send_seconds = count / rate if rate else count / 500.0
        # Bound: sending, plus delivery at no less than _MIN_EVENT_RATE events/s.
        delivery = watchers * count / _MIN_EVENT_RATE
        deadline = time.monotonic() + _START_DELAY + send_seconds + delivery + _SLACK
        watcher_workers = list(range(1, procs))
        shares = [
            watchers // len(watcher_workers) + (1 if i < watchers % len(watcher_workers) else 0)
            for i in range(len(watcher_workers))
        ]
        jobs, offset = {}, 0
        for worker, share in zip(watcher_workers, shares, strict=True):
            if share:
                jobs[worker] = bench.job(
                    "watchers",
                    share,
                    offset,
                    watchers,
                    prefix=prefix,
                    count=count,
                    deadline=deadline,
                )
                offset += share
        for worker, job in jobs.items():
            bench.loadgen.submit(worker, job)
        bench.loadgen.wait_ready(set(jobs), deadline)
        putter = bench.job(
            "paced_puts",
            1,
            0,
            1,
            prefix=prefix,
            count=count,
            rate=rate,
            in_flight=16 if not rate else 64,
        )
        putter = replace(putter, warmup=0.0, duration=send_seconds + _SLACK / 2)
        pids = [m.pid for m in bench.deployment.running()]
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        bench.loadgen.submit(0, putter)
        results = bench.loadgen.collect({0, *jobs}, deadline + 5.0)
        # puts and their events, from the first put to the last event collected
        server_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        puts = results.pop(0)
        seen = merge(results.values())
        first_put = float(puts.extra.get("started_at", 0.0))
        last_event = max(float(r.extra.get("last_event_at", 0.0)) for r in results.values())
        elapsed = max(1e-9, last_event - first_put)
        row: Row = {"ops": seen.ops, "ops_per_s": round(seen.ops / elapsed, 1) if seen.ops else 0.0}
        if seen.ops:
            # per event delivered, the puts that made them included
            row["cpu_us_per_op"] = round(server_cpu / seen.ops * 1e6, 1)
        row.update(latency_ms(seen.latencies))
        row["watchers"] = watchers
        row["puts"] = puts.ops
        row["put_rate"] = round(puts.ops / max(1e-9, float(puts.extra.get("send_seconds", 1.0))), 1)
        row["target_put_rate"] = rate or "max (16 in flight)"
        row["errors"] = {**puts.errors, **seen.errors}
        row.update({k: v for k, v in seen.counters.items() if k != "events"})
        row["expected_events"] = watchers * count
        problems = []
        if puts.ops != count:
            problems.append(f"{count - puts.ops} puts failed")
        for name in ("duplicates", "missing", "canceled", "stream_ended", "timed_out"):
            if seen.counters.get(name, 0):
                problems.append(f"{seen.counters[name]} {name}")
        if seen.ops != watchers * count:
            problems.append(f"{seen.ops}/{watchers * count} events delivered")
        if seen.failure or puts.failure:
            problems.append(
                "worker crashed: " + (seen.failure or puts.failure or "").strip()[-300:]
            )
        row["ok"] = not problems
        row["check"] = (
            "every event arrived exactly once" if not problems else "FAILED: " + "; ".join(problems)
        )
        if "missing_sample" in seen.extra:
            row["missing_sample"] = seen.extra["missing_sample"]
        return row

    return run


def footprint(bench: Bench) -> Row:
    """Idle CPU of a fresh deployment, then RSS and db size after loading the
    mode's key count into it."""
    count = bench.config.sizes.footprint_keys
    dep = bench.deployment
    idle = idle_cpu_percent(dep, bench.config.timing.duration / 2)
    rss_before = [rss_bytes(pid) for pid in dep.pids]
    result, elapsed = load(bench, FOOTPRINT_PREFIX, count)
    rss_after = [rss_bytes(pid) for pid in dep.pids]
    db_sizes = [m.status(timeout=5.0).dbSize for m in dep.members]
    row = _row(result, elapsed)
    row.update(
        keys=count,
        idle_cpu_pct=round(max(idle), 2),
        rss_before_mb=round(max(rss_before) / _MB, 1),
        rss_mb=round(max(rss_after) / _MB, 1),
        rss_members_mb=[round(r / _MB, 1) for r in rss_after],
        db_size_mb=round(max(db_sizes) / _MB, 2),
        load_seconds=round(elapsed, 2),
    )
    return row


def idle_cpu_percent(dep: Deployment, seconds: float) -> list[float]:
    """Per member: the CPU it used, in % of a core, over ``seconds`` with no client."""
    pids = dep.pids
    before, started = [cpu_seconds(pid) for pid in pids], time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    return [(cpu_seconds(pid) - b) / elapsed * 100 for pid, b in zip(pids, before, strict=True)]


def _first_put(endpoints: list[str], deadline: float) -> tuple[float, int]:
    """Monotonic time at which the first of a stream of puts succeeded, and attempts made.

    A new put (2 s deadline, alternating over ``endpoints``) starts every
    ``_FAILOVER_PROBE_S``, so a put stuck behind the dead leader does not hide the
    moment the new one accepts writes.
    """
    channels = [grpc.insecure_channel(e) for e in endpoints]
    stubs = [rpc_pb2_grpc.KVStub(c) for c in channels]
    succeeded: list[float] = []
    lock = threading.Lock()
    pending: list[grpc.Future[Any]] = []

    def done(future: grpc.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            with lock:
                succeeded.append(time.monotonic())

    attempts = 0
    try:
        while time.monotonic() < deadline:
            with lock:
                if succeeded:
                    return min(succeeded), attempts
            request = rpc_pb2.PutRequest(key=f"{FAILOVER_PREFIX}{attempts}".encode(), value=b"x")
            future: grpc.Future[Any] = stubs[attempts % len(stubs)].Put.future(request, timeout=2.0)
            future.add_done_callback(done)
            pending.append(future)
            attempts += 1
            time.sleep(_FAILOVER_PROBE_S)
        raise TimeoutError(f"no put succeeded through {endpoints} after {attempts} attempts")
    finally:
        for future in pending:
            future.cancel()
        for channel in channels:
            channel.close()


def _wait_caught_up(member: Member, leader: Member, deadline: float) -> int:
    """Poll until ``member``'s Status revision equals ``leader``'s; that revision."""
    while True:
        try:
            target = leader.status(timeout=2.0).header.revision
            if member.status(timeout=2.0).header.revision == target:
                return int(target)
        except grpc.RpcError:
            pass  # still starting
        if member.proc is not None and member.proc.poll() is not None:
            raise RuntimeError(f"{member.name} exited while catching up:\n{member.log_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{member.name} did not catch up with {leader.name}")
        time.sleep(_CATCHUP_POLL_S)


def failover(bench: Bench) -> Row:
    """Leader kill -9 → first put through the survivors; then a restarted member's catch-up.

    The same procedure for both systems: find the leader (Status ``leader`` equals
    ``header.member_id``), SIGKILL it, time until a put through the surviving members
    succeeds. With it still down, write the mode's ``catchup_keys`` through the
    survivors; restart it on its old data dir and time until its Status revision
    equals the new leader's. The deployment is whole again afterwards.
    """
    dep = bench.deployment
    if len(dep.members) < 3:
        return {"skipped": "needs 3 members"}
    count = bench.config.sizes.catchup_keys
    victim = dep.members[dep.leader_index()]
    survivors = [m for m in dep.members if m is not victim]
    killed_at = time.monotonic()
    victim.kill()
    first_ok, attempts = _first_put([m.endpoint for m in survivors], killed_at + _FAILOVER_BOUND_S)
    new_leader = dep.members[_poll_leader(dep, time.monotonic() + _FAILOVER_BOUND_S)]
    prefix = f"{CATCHUP_PREFIX}{time.monotonic_ns()}/"
    result, load_seconds = load(bench, prefix, count, tuple(m.endpoint for m in survivors))
    restarted_at = time.monotonic()
    victim.start()
    revision = _wait_caught_up(
        victim, new_leader, restarted_at + _CATCHUP_BOUND_S + count / _MIN_CATCHUP_RATE
    )
    caught_up_at = time.monotonic()
    dep.wait_ready()
    return {
        "failover_ms": round((first_ok - killed_at) * 1000, 1),
        "catchup_s": round(caught_up_at - restarted_at, 2),
        "catchup_keys": count,
        "degraded_put_rate": round(result.ops / load_seconds, 1),
        "probe_puts": attempts,
        "killed": victim.name,
        "new_leader": new_leader.name,
        "revision": revision,
        "ok": True,
        "check": f"{victim.name} (leader) killed; caught up at revision {revision}",
    }


def _poll_leader(dep: Deployment, deadline: float) -> int:
    while True:
        try:
            return dep.leader_index()
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(_CATCHUP_POLL_S)
