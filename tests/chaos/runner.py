"""One chaos run: cluster, workloads, faults, then every checker; returns a :class:`Report`.

::

    report = run(RunConfig(seed=7, duration=60), tmp_dir)
    print(report.render()); assert not report.anomalies
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from tests.chaos.collect import member_state
from tests.chaos.durability import (
    MemberState,
    check_durability,
    check_fencing,
    check_transfers,
)
from tests.chaos.history import Anomaly, History, Status
from tests.chaos.injector import Injector
from tests.chaos.linearizability import (
    KeyResult,
    check_registers,
    check_revision_order,
    register_anomalies,
)
from tests.chaos.watch_validator import validate
from tests.chaos.watching import Watcher, make_watchers
from tests.chaos.workloads import (
    ACCOUNTS,
    FENCE_KEY,
    WorkloadConfig,
    lock_worker,
    register_worker,
    setup_accounts,
    transfer_worker,
)
from tests.support.kvcluster import Cluster, Member, kv_cluster

SERVER_FLAGS = [
    "--request-timeout",
    "3s",
    "--experimental-watch-progress-notify-interval",
    "2s",
    "--snapshot-count",
    "200",
]


@dataclass(frozen=True)
class RunConfig:
    seed: int = 1
    duration: float = 60.0
    """Seconds of fault injection (at least ``min_faults`` are injected regardless)."""
    min_faults: int = 6
    checker_budget: float = 30.0
    """Seconds the linearizability search may spend in total."""
    pace: float = 0.05
    register_workers: int = 4
    watch_resume_every: float = 8.0


@dataclass
class Report:
    seed: int
    duration: float = 0.0
    operations: int = 0
    unknown: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    fault_log: list[str] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    keys: list[KeyResult] = field(default_factory=list)
    watch_events: int = 0
    watch_resumes: int = 0
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        kinds = ", ".join(f"{k}={n}" for k, n in sorted(self.faults.items())) or "none"
        verdicts = Counter(r.verdict for r in self.keys)
        lines = [
            f"chaos run seed={self.seed} duration={self.duration:.1f}s",
            f"  operations: {self.operations} (unknown outcome: {self.unknown})",
            f"  faults: {self.faults.total()} ({kinds})",
            f"  linearizability: {dict(verdicts)} over {len(self.keys)} keys",
            f"  watch: {self.watch_events} events checked, {self.watch_resumes} resumes",
            f"  anomalies: {len(self.anomalies)}",
        ]
        lines += [f"    {a}" for a in self.anomalies[:20]]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  fault {line}" for line in self.fault_log]
        return "\n".join(lines)


def run(config: RunConfig, tmp: Path) -> Report:
    """Start a 3-member cluster in ``tmp``, run everything, check, and reap all processes."""
    started = time.monotonic()
    report = Report(config.seed)
    with kv_cluster(tmp, extra=SERVER_FLAGS) as cluster:
        asyncio.run(_run(cluster, config, report))
    report.duration = time.monotonic() - started
    return report


async def _run(cluster: Cluster, config: RunConfig, report: Report) -> None:
    endpoints = tuple(m.endpoint for m in cluster.members)
    workload = WorkloadConfig(
        endpoints, config.seed, register_workers=config.register_workers, pace=config.pace
    )
    history = History()
    await setup_accounts(workload)
    watchers = make_watchers([(m.name, m.endpoint) for m in cluster.members], config.seed)
    injector = Injector(cluster, config.seed)
    stop, stop_faults = asyncio.Event(), threading.Event()
    tasks: list[asyncio.Task[None]] = []
    watch_tasks = [asyncio.create_task(w.run(stop, config.watch_resume_every)) for w in watchers]
    try:
        for i in range(workload.register_workers):
            tasks.append(asyncio.create_task(register_worker(i, workload, history, stop)))
        for i in range(workload.transfer_workers):
            tasks.append(asyncio.create_task(transfer_worker(100 + i, workload, history, stop)))
        for i in range(workload.lock_workers):
            tasks.append(asyncio.create_task(lock_worker(200 + i, workload, history, stop)))
        try:
            await asyncio.to_thread(injector.run, stop_faults, config.duration, config.min_faults)
        finally:
            stop_faults.set()
            stop.set()
            await _finish(tasks, 60)
            await asyncio.to_thread(injector.restore)
        final = cluster.status(cluster.leader()).header.revision
        await _finish(watch_tasks, 5)
        settled = await asyncio.gather(*(w.settle(final, 60) for w in watchers))
        for watcher, ok in zip(watchers, settled, strict=True):
            if not ok:
                detail = f"{watcher.record.name} never caught up to {final}"
                name = watcher.record.name.split("/")[0]
                member = next(m for m in cluster.members if m.name == name)
                report.anomalies.append(
                    Anomaly("watch", f"{detail} ({_explain(cluster, member, watcher)})")
                )
        await asyncio.to_thread(injector.restore)
        final = max(final, cluster.status(cluster.leader()).header.revision)
        states = [await member_state(m.name, m.endpoint, final) for m in cluster.members]
    finally:
        await _finish(watch_tasks, 5)
        for client in {id(w.client): w.client for w in watchers}.values():
            with contextlib.suppress(Exception):
                await client.aclose()
    report.faults = injector.done
    report.fault_log = injector.log
    unanswered = {
        w.record.name.split("/")[0]: w.client._hub.creates_unanswered
        for w in watchers
        if w.client._hub.creates_unanswered
    }
    if unanswered:
        # the client resumed those streams itself; a member left a create unanswered
        report.notes.append(f"watch streams given up on an unanswered create: {unanswered}")
    _check(report, history, watchers, states, workload, config)


def _explain(cluster: Cluster, member: Member, watcher: Watcher) -> str:
    """What the member and the watcher said: the clues to a watch that never caught up."""
    try:
        status = cluster.status(member)
        said = f"member at revision {status.header.revision}, leader {status.leader:x}"
    except grpc.RpcError as exc:
        said = f"member status: {exc.code().name} {exc.details()}"
    hub = watcher.client._hub
    task = hub._task
    running = task is not None and not task.done()
    client = (
        f"hub task {'running' if running else 'ended'}, streams lost {hub.streams_lost}, "
        f"create in flight {hub._in_flight is not None}, to create {len(hub._to_create)}"
    )
    levels = ('"level": "warning"', '"level": "error"', '"level": "critical"')
    lines = member.server.log().splitlines()
    warnings = [line for line in lines if any(level in line for level in levels)]
    return f"{said}; last errors: {watcher.errors[-3:]}; {client}; member warnings: {warnings[-3:]}"


async def _finish(tasks: list[asyncio.Task[None]], grace: float) -> None:
    """Wait up to ``grace`` seconds for tasks to end, then cancel the rest."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _check(
    report: Report,
    history: History,
    watchers: list[Watcher],
    states: list[MemberState],
    workload: WorkloadConfig,
    config: RunConfig,
) -> None:
    report.operations = history.operations
    report.unknown = history.unknown
    anomalies = report.anomalies
    anomalies += check_revision_order(history.registers)
    report.keys = check_registers(history.registers, config.checker_budget)
    anomalies += register_anomalies(report.keys)
    reference = states[0].history
    final = reference.final_state()
    accounts = {k: int(kv.value) for k, kv in final.items() if k.startswith(ACCOUNTS)}
    anomalies += check_transfers(
        workload.total, [*history.transfer_reads, (states[0].revision, accounts)]
    )
    fence = [
        (e.revision, int(e.kv.value))
        for e in reference.events
        if e.kv.key == FENCE_KEY and e.type == "PUT"
    ]
    anomalies += check_fencing(fence)
    anomalies += validate([w.record for w in watchers], reference)
    anomalies += check_durability(history.acked, states)
    report.watch_events = sum(
        len(r.events) for w in watchers for s in w.record.segments for r in s.responses
    )
    report.watch_resumes = sum(w.resumes for w in watchers)
    unknown = sum(1 for r in report.keys if r.verdict == "unknown")
    if unknown:
        report.notes.append(f"{unknown} keys without a verdict within the time budget")
    report.notes.append(
        f"transfers: {dict((s.value, n) for s, n in history.transfers.items())}; "
        f"lock holds: {len(history.lock_holds)}; lock errors: {history.lock_errors}; "
        f"acknowledged puts: {len(history.acked)}"
    )
    failed = sum(1 for op in history.registers if op.status is Status.FAIL)
    report.notes.append(f"register ops: {len(history.registers)} ({failed} failed cleanly)")
