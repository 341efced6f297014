"""``--heartbeat-interval`` and ``--election-timeout``: what a member's Raft runs with."""

from __future__ import annotations

import pytest

from kvstore.config import ClusterConfig
from kvstore.main import UsageError, build_cluster, parser

PEERS = ["--name", "a", "--insecure-peers", "--initial-cluster"]
CLUSTER = "a=http://127.0.0.1:2380,b=http://127.0.0.1:2390,c=http://127.0.0.1:2400"


def _cluster(*flags: str) -> ClusterConfig:
    cluster, _ = build_cluster(parser().parse_args([*PEERS, CLUSTER, *flags]))
    assert cluster is not None
    return cluster


def test_the_default_heartbeat_is_etcds() -> None:
    cluster = _cluster()
    assert cluster.heartbeat == pytest.approx(0.1)
    assert cluster.election_timeout_min == pytest.approx(0.5)
    # a follower that is behind still hears from the leader every 10 ms
    assert cluster.append_entries_period == pytest.approx(0.01)


def test_a_short_election_timeout_shortens_the_default_heartbeat() -> None:
    cluster = _cluster("--election-timeout", "100")
    assert cluster.heartbeat == pytest.approx(0.02)
    assert cluster.election_timeout_min == pytest.approx(0.1)


def test_a_heartbeat_given_is_used_and_bounds_the_other_periods() -> None:
    cluster = _cluster("--heartbeat-interval", "4", "--election-timeout", "100")
    assert cluster.heartbeat == pytest.approx(0.004)
    assert cluster.append_entries_period == pytest.approx(0.004)
    assert cluster.tick_period == pytest.approx(0.002)


def test_a_heartbeat_too_long_for_the_election_timeout_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="more than 3 x --heartbeat-interval"):
        _cluster("--heartbeat-interval", "200", "--election-timeout", "500")
