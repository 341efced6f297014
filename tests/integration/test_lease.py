"""Lease: grant, revoke, keepalive, time-to-live, listing and expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.ops import EVERYTHING, event_view, keys
from tests.support.procs import wait_until
from tests.support.watching import WatchStream

# etcd's minimum TTL follows its election timeout; these tests need the default (2 s).
pytestmark = pytest.mark.etcd_default_timing

LGR = rpc_pb2.LeaseGrantRequest


def grant(lease: rpc_pb2_grpc.LeaseStub, ttl: int, lease_id: int = 0) -> rpc_pb2.LeaseGrantResponse:
    return lease.LeaseGrant(LGR(TTL=ttl, ID=lease_id))


def test_grant_with_given_id(lease: rpc_pb2_grpc.LeaseStub) -> None:
    resp = grant(lease, 60, 1234)
    assert resp.ID == 1234
    assert resp.TTL == 60
    assert resp.error == ""
    assert resp.header.revision == 1  # granting is not a KV write


def test_grant_generates_distinct_positive_ids(lease: rpc_pb2_grpc.LeaseStub) -> None:
    ids = {grant(lease, 60).ID for _ in range(5)}
    assert len(ids) == 5
    assert all(0 < i < 2**63 for i in ids)


@pytest.mark.parametrize(("asked", "granted"), [(1, 2), (0, 2), (-5, 2), (2, 2), (3, 3)])
def test_minimum_ttl_is_2_seconds(lease: rpc_pb2_grpc.LeaseStub, asked: int, granted: int) -> None:
    assert granted == grant(lease, asked).TTL


def test_max_ttl_is_accepted(lease: rpc_pb2_grpc.LeaseStub) -> None:
    assert grant(lease, 9_000_000_000).TTL == 9_000_000_000


def test_time_to_live(kv: rpc_pb2_grpc.KVStub, lease: rpc_pb2_grpc.LeaseStub) -> None:
    grant(lease, 100, 5)
    kv.Put(rpc_pb2.PutRequest(key=b"b", value=b"1", lease=5))
    kv.Put(rpc_pb2.PutRequest(key=b"a", value=b"1", lease=5))
    with_keys = lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=5, keys=True))
    assert with_keys.ID == 5
    assert with_keys.grantedTTL == 100
    assert 0 < with_keys.TTL <= 100
    assert sorted(with_keys.keys) == [b"a", b"b"]
    without = lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=5))
    assert list(without.keys) == []
    assert without.grantedTTL == 100


def test_time_to_live_of_unknown_lease(lease: rpc_pb2_grpc.LeaseStub) -> None:
    resp = lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=999, keys=True))
    assert resp.ID == 999
    assert resp.TTL == -1
    assert resp.grantedTTL == 0
    assert list(resp.keys) == []


def test_leases_lists_all(lease: rpc_pb2_grpc.LeaseStub) -> None:
    assert list(lease.LeaseLeases(rpc_pb2.LeaseLeasesRequest()).leases) == []
    generated = grant(lease, 60).ID
    grant(lease, 60, 77)
    grant(lease, 60, 78)
    lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=78))
    resp = lease.LeaseLeases(rpc_pb2.LeaseLeasesRequest())
    assert sorted(s.ID for s in resp.leases) == sorted([generated, 77])
    assert resp.header.revision == 1


def test_revoke_deletes_keys_in_one_revision(
    kv: rpc_pb2_grpc.KVStub, lease: rpc_pb2_grpc.LeaseStub, watch: rpc_pb2_grpc.WatchStub
) -> None:
    grant(lease, 100, 8)
    kv.Put(rpc_pb2.PutRequest(key=b"a", value=b"1", lease=8))  # 2
    kv.Put(rpc_pb2.PutRequest(key=b"b", value=b"2", lease=8))  # 3
    kv.Put(rpc_pb2.PutRequest(key=b"c", value=b"3"))  # 4
    with WatchStream(watch) as ws:
        wid = ws.create(key=b"\0", range_end=b"\0", prev_kv=True).watch_id
        resp = lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=8))
        assert resp.header.revision == 5
        events = ws.next_for(wid).events
    assert sorted(event_view(e) for e in events) == [
        ("DELETE", b"a", b"", 5),
        ("DELETE", b"b", b"", 5),
    ]
    assert sorted(e.prev_kv.value for e in events) == [b"1", b"2"]
    assert keys(kv.Range(rpc_pb2.RangeRequest(**EVERYTHING)).kvs) == [b"c"]
    ttl = lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=8))
    assert ttl.TTL == -1


def test_revoke_lease_without_keys_keeps_revision(lease: rpc_pb2_grpc.LeaseStub) -> None:
    grant(lease, 100, 8)
    assert lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=8)).header.revision == 1


def keepalive(lease: rpc_pb2_grpc.LeaseStub, *ids: int) -> list[rpc_pb2.LeaseKeepAliveResponse]:
    requests = [rpc_pb2.LeaseKeepAliveRequest(ID=i) for i in ids]
    gate: list[int] = []

    def feed() -> Iterator[rpc_pb2.LeaseKeepAliveRequest]:
        yield from requests
        # keep the send side open until every answer came back
        deadline = time.monotonic() + 10
        while len(gate) < len(requests) and time.monotonic() < deadline:
            time.sleep(0.01)

    call = lease.LeaseKeepAlive(feed())
    answers = []
    for answer in call:
        answers.append(answer)
        gate.append(1)
        if len(answers) == len(requests):
            break
    call.cancel()
    return answers


def test_keepalive_stream(lease: rpc_pb2_grpc.LeaseStub) -> None:
    grant(lease, 30, 5)
    grant(lease, 40, 6)
    answers = keepalive(lease, 5, 999, 6, 5)
    assert [(a.ID, a.TTL) for a in answers] == [(5, 30), (999, 0), (6, 40), (5, 30)]
    assert all(a.header.revision == 1 for a in answers)


def test_keepalive_refreshes_the_ttl(lease: rpc_pb2_grpc.LeaseStub) -> None:
    grant(lease, 3, 5)
    wait_until(
        lambda: lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=5)).TTL < 3, timeout=5
    )
    assert keepalive(lease, 5)[0].TTL == 3
    assert lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=5)).TTL >= 2


def test_expiry_deletes_keys(
    kv: rpc_pb2_grpc.KVStub, lease: rpc_pb2_grpc.LeaseStub, watch: rpc_pb2_grpc.WatchStub
) -> None:
    lease_id = grant(lease, 2).ID
    kv.Put(rpc_pb2.PutRequest(key=b"e1", value=b"x", lease=lease_id))  # 2
    kv.Put(rpc_pb2.PutRequest(key=b"e2", value=b"y", lease=lease_id))  # 3
    kv.Put(rpc_pb2.PutRequest(key=b"stay", value=b"z"))  # 4
    with WatchStream(watch) as ws:
        wid = ws.create(key=b"e", range_end=b"f").watch_id
        resp = ws.next_for(wid, timeout=15)
    assert sorted(event_view(e) for e in resp.events) == [
        ("DELETE", b"e1", b"", 5),
        ("DELETE", b"e2", b"", 5),
    ]
    wait_until(lambda: kv.Range(rpc_pb2.RangeRequest(key=b"e", range_end=b"f")).count == 0)
    assert kv.Range(rpc_pb2.RangeRequest(key=b"stay")).count == 1
    wait_until(lambda: lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=lease_id)).TTL == -1)
    leases = lease.LeaseLeases(rpc_pb2.LeaseLeasesRequest()).leases
    assert lease_id not in [s.ID for s in leases]
