"""A client that streams requests and never reads the answers costs a member
little memory: its answers are not queued without bound (kvstore only, on a
real member process, whose memory is read from /proc)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from bench.servers import rss_bytes
from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.procs import kvstore_process, running

pytestmark = pytest.mark.backends("kvstore")

MB = 1024 * 1024
REQUESTS = 100_000
#: what unread keep-alive answers queued in Python took per 100,000 (~55 MB
#: measured) is far above this; gRPC's own buffer for them is ~4 MB
MAX_GROWTH = 20 * MB


def test_unread_keepalive_answers_do_not_pile_up_in_the_member(tmp_path: Path) -> None:
    with running(kvstore_process(tmp_path)) as member:
        assert member.proc is not None
        pid = member.proc.pid
        # the client's window stays at gRPC's initial 64 KiB: answers back up early
        options = [("grpc.http2.bdp_probe", 0)]
        with grpc.insecure_channel(member.endpoint, options=options) as channel:
            lease = rpc_pb2_grpc.LeaseStub(channel)
            lease_id = lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=600), timeout=10).ID
            before = rss_bytes(pid)
            sent = 0

            def requests() -> Iterator[rpc_pb2.LeaseKeepAliveRequest]:
                nonlocal sent
                request = rpc_pb2.LeaseKeepAliveRequest(ID=lease_id)
                while sent < REQUESTS:
                    sent += 1
                    yield request

            call = lease.LeaseKeepAlive(requests())  # the answers are never read
            try:
                last, still_since = -1, time.monotonic()
                deadline = time.monotonic() + 90
                while sent < REQUESTS and time.monotonic() < deadline:
                    if sent != last:
                        last, still_since = sent, time.monotonic()
                    elif time.monotonic() - still_since > 3.0:
                        break  # flow control stopped the client: nothing more to pile up
                    time.sleep(0.1)
                time.sleep(1.0)  # what was sent is handled
                growth = rss_bytes(pid) - before
            finally:
                call.cancel()
        assert growth < MAX_GROWTH, f"{sent} unread answers grew the member by {growth / MB:.0f} MB"
        # and it still serves
        with grpc.insecure_channel(member.endpoint) as channel:
            status = rpc_pb2_grpc.MaintenanceStub(channel).Status(
                rpc_pb2.StatusRequest(), timeout=10
            )
            assert status.header.member_id
