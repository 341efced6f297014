"""Raft timing from the command line: the heartbeat follows the election timeout."""

from __future__ import annotations

import pytest

from kvstore.main import UsageError, build_cluster, parser

PEERS = ["--name", "a", "--initial-cluster", "a=http://127.0.0.1:1,b=http://127.0.0.1:2"]


def _timing(*flags: str) -> tuple[float, float, float]:
    args = parser().parse_args([*PEERS, "--insecure-peers", *flags])
    cluster, _ = build_cluster(args)
    assert cluster is not None
    return cluster.append_entries_period, cluster.tick_period, cluster.election_timeout_min


def test_the_default_heartbeat_is_etcds_100_ms() -> None:
    assert _timing() == (0.1, 0.005, 0.5)


def test_a_short_election_timeout_brings_the_default_heartbeat_down_to_a_fifth() -> None:
    assert _timing("--election-timeout", "100") == (0.02, 0.005, 0.1)
    assert _timing("--election-timeout", "20") == (0.004, 0.002, 0.02)


def test_an_explicit_heartbeat_is_kept() -> None:
    assert _timing("--heartbeat-interval", "10") == (0.01, 0.005, 0.5)


def test_a_heartbeat_too_long_for_the_election_timeout_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="more than 3 x --heartbeat-interval"):
        _timing("--heartbeat-interval", "200")
