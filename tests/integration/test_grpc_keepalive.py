"""--grpc-keepalive-interval / --grpc-keepalive-timeout, as etcd's: the server
pings a client connection idle for the interval and closes it when the ping is
not answered within the timeout. A client that stops answering (a kvctl watch
process stopped with SIGSTOP) has its connection closed by the server, on Debian's
etcd and on kvstore alike; with the defaults (2 h) it would stay up."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.cli.test_watch_lease import kvctl_process
from tests.client.helpers import reap
from tests.support.procs import (
    etcd_process,
    kvstore_process,
    running,
    socket_inodes,
    wait_until,
)

KEEPALIVE = ["--grpc-keepalive-interval=1s", "--grpc-keepalive-timeout=1s"]
ESTABLISHED = "01"


def _connections(pid: int, port: int) -> list[str]:
    """TCP states of ``pid``'s sockets connected to ``port`` (/proc/net/tcp, tcp6:
    grpc's sockets to 127.0.0.1 may be IPv4-mapped IPv6 ones)."""
    inodes = socket_inodes(pid)
    states = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            if remote_port == port and fields[9] in inodes:
                states.append(fields[3])
    return states


@pytest.mark.parametrize("system", ["etcd", "kvstore"])
def test_a_client_that_stops_answering_pings_is_disconnected(system: str, tmp_path: Path) -> None:
    make = etcd_process if system == "etcd" else kvstore_process
    server = make(tmp_path, "keepalive", extra=KEEPALIVE)
    with running(server):
        watcher = kvctl_process(server.endpoint, "watch", "/keepalive")
        try:
            port = server.client_port
            wait_until(lambda: ESTABLISHED in _connections(watcher.pid, port), timeout=20)
            watcher.send_signal(signal.SIGSTOP)
            try:
                # the server closes it: the stopped client's end is left half-closed
                wait_until(lambda: ESTABLISHED not in _connections(watcher.pid, port), timeout=20)
            finally:
                watcher.send_signal(signal.SIGCONT)
        finally:
            reap(watcher)  # type: ignore[arg-type]
