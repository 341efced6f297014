"""Round trips to each peer, as etcd reports them on /metrics
(``etcd_network_peer_round_trip_time_seconds{To}``).

Every probe interval a member sends each peer it is linked to a ping carrying
its own clock; the peer sends it back at once, and the member observes the
time it took. Both ends handle the message on their tick thread, behind
whatever Raft work is queued there: the figure is how long a message to that
peer takes to be answered, which is what etcd's slow-member alert looks at
(its prober measures the same over HTTP, every few seconds).
"""

from __future__ import annotations

from typing import Any

PING = "kv_ping"
PONG = "kv_pong"
#: etcd's buckets: 0.1 ms doubling to 3.2768 s
RTT_BUCKETS = tuple(0.0001 * 2**i for i in range(16))
#: etcd's prober asks every 4 s (its connection read timeout less a second)
PROBE_INTERVAL = 4.0


class Prober:
    """When the next round of pings is due (tick thread)."""

    def __init__(self, interval: float = PROBE_INTERVAL) -> None:
        self._interval = interval
        self._next = 0.0

    def due(self, now: float) -> bool:
        if now < self._next:
            return False
        self._next = now + self._interval
        return True


def ping(now: float) -> dict[str, Any]:
    return {"type": PING, "sent": now}


def pong(message: dict[str, Any]) -> dict[str, Any]:
    return {"type": PONG, "sent": message.get("sent")}


def round_trip(message: dict[str, Any], now: float) -> float | None:
    """Seconds since the ping ``message`` answers was sent (None: malformed)."""
    sent = message.get("sent")
    if not isinstance(sent, float) or sent > now:
        return None
    return now - sent
