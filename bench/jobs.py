"""What the bench process sends to a load-generator worker, and what comes back.

Both are plain picklable dataclasses: a worker process is started with the
``spawn`` method and receives jobs over a queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Job:
    """One worker's share of a workload.

    Time fields are ``time.monotonic()`` values: CLOCK_MONOTONIC is shared by all
    processes of one Linux machine, so every worker starts and stops together.
    """

    #: Name of the operation (see ``unary.OPS`` and ``streams.STREAM_JOBS``).
    op: str
    #: gRPC targets (host:port); task ``i`` talks to ``endpoints[i % len]``.
    endpoints: tuple[str, ...]
    #: Concurrent asyncio tasks in this worker (the "in flight" share).
    tasks: int
    #: Global index of this worker's first task, and the total over all workers.
    task_offset: int
    total_tasks: int
    #: Load begins at ``start_at``; measuring at ``start_at + warmup``.
    start_at: float
    warmup: float
    duration: float
    #: Hard bound on operations per task.
    max_ops_per_task: int
    rpc_timeout: float
    #: Operation-specific parameters (key prefix, limit, rate, ...).
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def measure_from(self) -> float:
        return self.start_at + self.warmup

    @property
    def measure_until(self) -> float:
        return self.start_at + self.warmup + self.duration


@dataclass
class JobResult:
    """Measured operations of one job (those completing inside the measuring window)."""

    ops: int = 0
    #: Latency of each measured operation, in seconds.
    latencies: list[float] = field(default_factory=list)
    #: gRPC failures by status code name.
    errors: dict[str, int] = field(default_factory=dict)
    #: Operation-specific counts (txn success/conflict, keys listed, events, ...).
    counters: dict[str, int] = field(default_factory=dict)
    #: Operation-specific values (first send time, missing sequence numbers, ...).
    extra: dict[str, Any] = field(default_factory=dict)
    #: Set when the job itself crashed; the traceback text.
    failure: str | None = None

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1
