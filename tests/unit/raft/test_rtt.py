"""Round-trip probes between peers (kvstore.raft.rtt) on a real RaftNode."""

from __future__ import annotations

from typing import Any

from kvstore.raft import clock, rtt
from tests.unit.raft.conftest import Follower


def test_a_ping_is_answered_with_its_own_clock(
    follower: Follower, sent: list[dict[str, Any]]
) -> None:
    follower.receive({"type": rtt.PING, "sent": 12.5})
    assert sent == [{"type": rtt.PONG, "sent": 12.5}]


def test_an_answered_ping_is_observed_for_its_peer(follower: Follower) -> None:
    transport = follower.transport
    follower.receive({"type": rtt.PONG, "sent": clock.now() - 0.02})
    follower.receive({"type": rtt.PONG, "sent": "garbled"})
    observed = transport.counts_of(follower.leader).round_trips
    assert sum(observed.counts) == 1
    assert 0.02 <= observed.sum < 1.0
    below = dict(observed.cumulative())
    assert below[0.0001 * 2**7] == 0  # not within 12.8 ms
    assert below[0.0001 * 2**15] == 1  # within etcd's last bound, 3.2768 s


def test_pings_are_due_once_per_interval() -> None:
    prober = rtt.Prober(4.0)
    assert prober.due(100.0)
    assert not prober.due(103.9)
    assert prober.due(104.0)
    assert not prober.due(104.1)
