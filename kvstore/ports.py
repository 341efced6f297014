"""Picking a TCP port to listen on, outside the kernel's ephemeral range.

A port taken with bind(0) comes from the ephemeral range, which the kernel also
hands out as source ports of outgoing connections: between picking the port and
binding it for real, a long-lived outgoing connection (a Raft peer link, a
proxy's upstream) can take it, and the server then never binds. Ports below the
ephemeral range are only ever taken by listeners.
"""

from __future__ import annotations

import random
import socket
from collections import deque
from pathlib import Path

LOWEST = 10000
ATTEMPTS = 200

#: Ports this process handed out lately. A port picked for a child process
#: stays free until the child binds it, so without this a second pick (the
#: same server's peer port, say) could return it again. Process-wide, as ports are.
_ISSUED: deque[int] = deque(maxlen=4096)


def ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def pick_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that was free a moment ago, below the ephemeral range
    when there is room there (else any free port)."""
    low, _ = ephemeral_range()
    if low - LOWEST > 1000:
        for _ in range(ATTEMPTS):
            port = random.randint(LOWEST, low - 1)
            if port in _ISSUED:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
            _ISSUED.append(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
