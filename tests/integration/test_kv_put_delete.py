"""KV.Put and KV.DeleteRange: revisions, versions, prev_kv, lease options, tombstones."""

from __future__ import annotations

import grpc
import pytest

from kvstore.pb import kv_pb2, rpc_pb2, rpc_pb2_grpc
from tests.support.ops import EVERYTHING, keys, kvt
from tests.support.rpc import rpc_error

PR = rpc_pb2.PutRequest
DR = rpc_pb2.DeleteRangeRequest
RR = rpc_pb2.RangeRequest


def get(kv: rpc_pb2_grpc.KVStub, key: bytes) -> tuple[bytes, bytes, int, int, int, int] | None:
    resp = kv.Range(RR(key=key))
    return kvt(resp.kvs[0]) if resp.kvs else None


def test_put_creates_and_updates(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Put(PR(key=b"k", value=b"v1"))
    assert resp.header.revision == 2
    assert not resp.HasField("prev_kv")
    assert get(kv, b"k") == (b"k", b"v1", 2, 2, 1, 0)
    assert kv.Put(PR(key=b"k", value=b"v2")).header.revision == 3
    assert get(kv, b"k") == (b"k", b"v2", 2, 3, 2, 0)


def test_each_put_is_one_revision_even_with_the_same_value(kv: rpc_pb2_grpc.KVStub) -> None:
    revs = [kv.Put(PR(key=b"k", value=b"same")).header.revision for _ in range(3)]
    assert revs == [2, 3, 4]
    assert get(kv, b"k") == (b"k", b"same", 2, 4, 3, 0)


def test_empty_value_is_a_value(kv: rpc_pb2_grpc.KVStub) -> None:
    kv.Put(PR(key=b"k"))
    assert get(kv, b"k") == (b"k", b"", 2, 2, 1, 0)


def test_put_prev_kv(kv: rpc_pb2_grpc.KVStub) -> None:
    first = kv.Put(PR(key=b"k", value=b"v1", prev_kv=True))
    assert not first.HasField("prev_kv")  # nothing before
    second = kv.Put(PR(key=b"k", value=b"v2", prev_kv=True))
    assert kvt(second.prev_kv) == (b"k", b"v1", 2, 2, 1, 0)
    third = kv.Put(PR(key=b"k", value=b"v3"))
    assert not third.HasField("prev_kv")  # not asked for


def test_put_after_delete_starts_a_new_generation(kv: rpc_pb2_grpc.KVStub) -> None:
    kv.Put(PR(key=b"k", value=b"v1"))  # 2
    kv.Put(PR(key=b"k", value=b"v2"))  # 3
    kv.DeleteRange(DR(key=b"k"))  # 4
    resp = kv.Put(PR(key=b"k", value=b"v3", prev_kv=True))  # 5
    assert not resp.HasField("prev_kv")
    assert get(kv, b"k") == (b"k", b"v3", 5, 5, 1, 0)


def test_put_ignore_value_keeps_the_value(kv: rpc_pb2_grpc.KVStub) -> None:
    kv.Put(PR(key=b"k", value=b"v1"))
    resp = kv.Put(PR(key=b"k", ignore_value=True, prev_kv=True))
    assert resp.header.revision == 3
    assert kvt(resp.prev_kv) == (b"k", b"v1", 2, 2, 1, 0)
    assert get(kv, b"k") == (b"k", b"v1", 2, 3, 2, 0)


def test_put_with_lease_and_ignore_lease(
    kv: rpc_pb2_grpc.KVStub, lease: rpc_pb2_grpc.LeaseStub
) -> None:
    lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(ID=42, TTL=100))
    kv.Put(PR(key=b"k", value=b"v1", lease=42))
    assert get(kv, b"k") == (b"k", b"v1", 2, 2, 1, 42)
    kv.Put(PR(key=b"k", value=b"v2", ignore_lease=True))
    assert get(kv, b"k") == (b"k", b"v2", 2, 3, 2, 42)
    kv.Put(PR(key=b"k", value=b"v3"))  # a put without a lease detaches it
    assert get(kv, b"k") == (b"k", b"v3", 2, 4, 3, 0)
    ttl = lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=42, keys=True))
    assert list(ttl.keys) == []


def test_put_ignore_value_and_ignore_lease_together(
    kv: rpc_pb2_grpc.KVStub, lease: rpc_pb2_grpc.LeaseStub
) -> None:
    lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(ID=7, TTL=100))
    kv.Put(PR(key=b"k", value=b"v", lease=7))
    kv.Put(PR(key=b"k", ignore_value=True, ignore_lease=True))
    assert get(kv, b"k") == (b"k", b"v", 2, 3, 2, 7)


def test_delete_single_key(kv: rpc_pb2_grpc.KVStub) -> None:
    kv.Put(PR(key=b"a", value=b"1"))
    kv.Put(PR(key=b"b", value=b"2"))
    resp = kv.DeleteRange(DR(key=b"a"))
    assert resp.deleted == 1
    assert resp.header.revision == 4
    assert list(resp.prev_kvs) == []
    assert keys(kv.Range(RR(**EVERYTHING)).kvs) == [b"b"]


def test_delete_missing_key_changes_nothing(kv: rpc_pb2_grpc.KVStub) -> None:
    kv.Put(PR(key=b"a", value=b"1"))
    resp = kv.DeleteRange(DR(key=b"zz", prev_kv=True))
    assert resp == rpc_pb2.DeleteRangeResponse(header=resp.header)
    assert resp.header.revision == 2
    assert kv.Put(PR(key=b"n")).header.revision == 3


def test_delete_prev_kv(kv: rpc_pb2_grpc.KVStub) -> None:
    kv.Put(PR(key=b"a", value=b"1"))
    kv.Put(PR(key=b"a", value=b"2"))
    resp = kv.DeleteRange(DR(key=b"a", prev_kv=True))
    assert resp.deleted == 1
    assert [kvt(kv) for kv in resp.prev_kvs] == [(b"a", b"2", 2, 3, 2, 0)]


@pytest.mark.parametrize(
    ("key", "range_end", "deleted"),
    [
        (b"b", b"d", [b"b", b"c"]),
        (b"b", b"\0", [b"b", b"c", b"d"]),
        (b"\0", b"\0", [b"a", b"b", b"c", b"d"]),
        (b"c", b"c", []),
        (b"c", b"a", []),
    ],
    ids=["range", "from-key", "all", "end-equals-key", "end-below-key"],
)
def test_delete_ranges_in_one_revision(
    kv: rpc_pb2_grpc.KVStub, key: bytes, range_end: bytes, deleted: list[bytes]
) -> None:
    for k in [b"a", b"b", b"c", b"d"]:
        kv.Put(PR(key=k, value=k.upper()))
    resp = kv.DeleteRange(DR(key=key, range_end=range_end, prev_kv=True))
    assert resp.deleted == len(deleted)
    assert keys(resp.prev_kvs) == deleted
    assert [kv.value for kv in resp.prev_kvs] == [k.upper() for k in deleted]
    assert resp.header.revision == (6 if deleted else 5)
    remaining = keys(kv.Range(RR(**EVERYTHING)).kvs)
    assert remaining == [k for k in [b"a", b"b", b"c", b"d"] if k not in deleted]


def test_tombstone_keeps_history_readable(kv: rpc_pb2_grpc.KVStub) -> None:
    kv.Put(PR(key=b"a", value=b"1"))  # 2
    kv.DeleteRange(DR(key=b"a"))  # 3
    assert kv.Range(RR(key=b"a")).count == 0
    old = kv.Range(RR(key=b"a", revision=2))
    assert [kvt(kv) for kv in old.kvs] == [(b"a", b"1", 2, 2, 1, 0)]
    assert kv.Range(RR(key=b"a", revision=3)).count == 0


def test_delete_with_prefix_leaves_neighbours(kv: rpc_pb2_grpc.KVStub) -> None:
    for k in [b"fo", b"foo", b"foo/1", b"foo/2", b"fop"]:
        kv.Put(PR(key=k))
    resp = kv.DeleteRange(DR(key=b"foo/", range_end=b"foo0"))
    assert resp.deleted == 2
    assert keys(kv.Range(RR(**EVERYTHING)).kvs) == [b"fo", b"foo", b"fop"]


def test_lease_is_reported_on_the_key(
    kv: rpc_pb2_grpc.KVStub, lease: rpc_pb2_grpc.LeaseStub
) -> None:
    lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(ID=0x1234, TTL=100))
    kv.Put(PR(key=b"k", value=b"v", lease=0x1234))
    resp = kv.Range(RR(key=b"k"))
    assert resp.kvs[0] == kv_pb2.KeyValue(
        key=b"k", value=b"v", create_revision=2, mod_revision=2, version=1, lease=0x1234
    )


def test_put_to_a_revoked_lease_fails(
    kv: rpc_pb2_grpc.KVStub, lease: rpc_pb2_grpc.LeaseStub
) -> None:
    lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(ID=5, TTL=100))
    lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=5))
    with rpc_error(grpc.StatusCode.NOT_FOUND, "etcdserver: requested lease not found"):
        kv.Put(PR(key=b"k", value=b"v", lease=5))
