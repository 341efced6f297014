"""Sizes and time bounds of one bench run, chosen once in the CLI and passed down.

Three modes share one shape: ``smoke`` (seconds, for the test suite), ``quick``
(both systems in under three minutes) and ``full`` (under fifteen minutes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Timing:
    """How long one closed-loop workload runs."""

    #: Seconds of load before measuring starts (connections, caches, JIT-free warm-up).
    warmup: float
    #: Seconds measured.
    duration: float
    #: Hard cap on operations per worker task, so a very fast system still stops.
    max_ops_per_task: int = 5_000_000


@dataclass(frozen=True)
class Sizes:
    """Data set sizes and load shapes."""

    #: Keys written by the put workload and read by the get workloads.
    keyspace: int
    #: Value size of every key the bench writes.
    value_bytes: int
    #: Keys listed by the Kubernetes-style paging workload.
    list_keys: int
    #: Keys loaded before measuring RSS and db size.
    footprint_keys: int
    #: Target puts/s of the put→event latency workload, one run per rate.
    watch_put_rates: tuple[float, ...]
    #: Puts sent in each fan-out round.
    fanout_puts: int
    #: Watcher counts of the fan-out workload.
    fanout_watchers: tuple[int, ...]
    #: Hot keys of the compare-and-swap workload (fewer keys, more conflicts).
    cas_keys: int
    #: Keys written while a killed cluster member is down, before timing its catch-up.
    catchup_keys: int


@dataclass(frozen=True)
class BenchConfig:
    """Everything one ``python -m bench`` invocation needs."""

    mode: str
    timing: Timing
    sizes: Sizes
    systems: tuple[str, ...]
    members: tuple[int, ...]
    #: Worker processes of the load generator.
    loadgen_procs: int
    out_dir: Path
    markdown_path: Path
    #: Per-RPC deadline in seconds; a stuck server fails a call instead of the run.
    rpc_timeout: float = 10.0


def mode_settings(mode: str) -> tuple[Timing, Sizes]:
    """The timing and sizes of ``mode`` (smoke, quick or full)."""
    if mode == "smoke":
        return Timing(warmup=0.2, duration=0.5), Sizes(
            keyspace=300,
            value_bytes=256,
            list_keys=300,
            footprint_keys=300,
            watch_put_rates=(100.0,),
            fanout_puts=50,
            fanout_watchers=(1, 10),
            cas_keys=4,
            catchup_keys=300,
        )
    if mode == "quick":
        return Timing(warmup=0.5, duration=2.0), Sizes(
            keyspace=10_000,
            value_bytes=256,
            list_keys=1_000,
            footprint_keys=10_000,
            watch_put_rates=(200.0,),
            fanout_puts=200,
            fanout_watchers=(1, 100),
            cas_keys=8,
            catchup_keys=10_000,
        )
    if mode == "full":
        return Timing(warmup=2.0, duration=10.0), Sizes(
            keyspace=10_000,
            value_bytes=256,
            list_keys=1_000,
            footprint_keys=100_000,
            watch_put_rates=(200.0, 1_000.0),
            fanout_puts=500,
            fanout_watchers=(1, 100, 1_000),
            cas_keys=8,
            catchup_keys=100_000,
        )
    raise ValueError(f"unknown mode {mode!r}")
