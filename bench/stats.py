"""Latency summaries and merging of worker results."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from bench.jobs import JobResult


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0..100) of an ascending sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_ms(latencies: Iterable[float]) -> dict[str, float | int]:
    """p50/p99/p99.9 in milliseconds plus the sample count."""
    values = sorted(latencies)
    return {
        "samples": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 3) if values else math.nan,
        "p99_ms": round(percentile(values, 99) * 1000, 3) if values else math.nan,
        "p999_ms": round(percentile(values, 99.9) * 1000, 3) if values else math.nan,
    }


def merge(results: Iterable[JobResult]) -> JobResult:
    """Sum of worker results; a crash of any worker is kept."""
    total = JobResult()
    failures = []
    for r in results:
        total.ops += r.ops
        total.latencies.extend(r.latencies)
        for code, n in r.errors.items():
            total.errors[code] = total.errors.get(code, 0) + n
        for name, n in r.counters.items():
            total.count(name, n)
        if r.failure:
            failures.append(r.failure)
    if failures:
        total.failure = "\n---\n".join(failures)
    return total
