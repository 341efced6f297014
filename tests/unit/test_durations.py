"""``Durations``: the buckets /metrics shows as a histogram."""

from __future__ import annotations

import math

import pytest

from kvstore.durations import SYNC_BUCKETS, Durations


def test_etcds_sync_buckets() -> None:
    assert len(SYNC_BUCKETS) == 14
    assert SYNC_BUCKETS[0] == pytest.approx(0.001)
    assert SYNC_BUCKETS[-1] == pytest.approx(8.192)


def test_an_observation_counts_in_the_first_bucket_it_fits_and_every_one_above() -> None:
    durations = Durations((0.001, 0.002, 0.004))
    for seconds in (0.0005, 0.001, 0.0011, 0.004, 9.0):
        durations.observe(seconds)
    # a bucket counts what is at or below its bound, as Prometheus's "le"
    assert durations.cumulative() == [(0.001, 2), (0.002, 3), (0.004, 4), (math.inf, 5)]
    assert durations.sum == pytest.approx(9.0066)
