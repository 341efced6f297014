"""Durations counted in fixed buckets: what /metrics shows as a Prometheus
histogram (``kvstore.api.monitoring``). Observed on one thread, read on
another: a scrape may miss the observation under way, no more."""

from __future__ import annotations

import bisect
import math

#: etcd's buckets for its WAL fsync and backend commit histograms: 1 ms to
#: 8.192 s, doubling
SYNC_BUCKETS = tuple(0.001 * 2**i for i in range(14))
#: Prometheus's default buckets, which go-grpc-prometheus's histograms use
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Durations:
    def __init__(self, buckets: tuple[float, ...] = SYNC_BUCKETS) -> None:
        self.buckets = buckets
        #: observations per bucket; the last one counts those above every bound
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.sum += seconds

    def exposition(self) -> list[tuple[str, int]]:
        """``cumulative`` with its bounds written as Go's Prometheus client
        writes them (etcd's ``le="10"``, not ``"10.0"``), "+Inf" last."""
        return [(_bound(le), n) for le, n in self.cumulative()]

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it), the last bound infinite."""
        total = 0
        out = []
        for bound, count in zip((*self.buckets, math.inf), list(self.counts), strict=True):
            total += count
            out.append((bound, total))
        return out


def _bound(le: float) -> str:
    if le == math.inf:
        return "+Inf"
    return str(int(le)) if le.is_integer() else repr(le)
