"""What each peer link carried, as etcd reports it on /metrics
(``etcd_network_peer_sent_bytes_total``, ``..._received_bytes_total``,
``..._sent_failures_total``, ``etcd_network_active_peers``,
``etcd_network_peer_round_trip_time_seconds``).

The transport counts on the tick thread, by the peer's Raft address: bytes of
the frames it handed to a link and read from one, and messages it could not
hand to a link (not connected, or the keys not swapped yet). A peer that is
down so shows a steady rate of failed sends, which etcd's members-down alert
reads. The counts are plain integers, read when /metrics is scraped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kvstore.durations import Durations
from kvstore.raft.rtt import RTT_BUCKETS


def _rtt() -> Durations:
    return Durations(RTT_BUCKETS)


@dataclass
class PeerCounts:
    sent_bytes: int = 0
    received_bytes: int = 0
    sent_failures: int = 0
    #: round trips of the probes answered by the peer (see ``rtt``)
    round_trips: Durations = field(default_factory=_rtt)


@dataclass(frozen=True)
class PeerReport:
    """One peer as /metrics shows it."""

    member_id: int
    counts: PeerCounts
    active: bool


class PeerTraffic:
    def __init__(self) -> None:
        self._peers: dict[str, PeerCounts] = {}

    def of(self, address: str) -> PeerCounts:
        counts = self._peers.get(address)
        if counts is None:
            counts = self._peers[address] = PeerCounts()
        return counts

    def items(self) -> list[tuple[str, PeerCounts]]:
        """Every peer counted so far (a copy: safe off the tick thread)."""
        return list(self._peers.items())
