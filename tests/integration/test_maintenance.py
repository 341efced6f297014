"""Maintenance (Status, Alarm, Defragment, Snapshot, HashKV) and Cluster.MemberList."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import grpc
import pytest

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.rpc import open_channel, rpc_error


def write(kv: rpc_pb2_grpc.KVStub) -> None:
    kv.Put(rpc_pb2.PutRequest(key=b"a", value=b"1"))
    kv.Put(rpc_pb2.PutRequest(key=b"b", value=b"2"))
    kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"a"))
    kv.Put(rpc_pb2.PutRequest(key=b"a", value=b"3"))


def test_status_fields(kv: rpc_pb2_grpc.KVStub, maint: rpc_pb2_grpc.MaintenanceStub) -> None:
    before = maint.Status(rpc_pb2.StatusRequest())
    assert before.header.revision == 1
    assert re.fullmatch(r"\d+\.\d+\.\d+", before.version)
    assert before.dbSize > 0
    assert 0 < before.dbSizeInUse <= before.dbSize
    assert before.leader == before.header.member_id != 0
    assert before.raftTerm >= 1
    assert before.raftIndex >= 1
    assert before.raftAppliedIndex >= 1
    assert list(before.errors) == []
    assert not before.isLearner
    kv.Put(rpc_pb2.PutRequest(key=b"k"))
    after = maint.Status(rpc_pb2.StatusRequest())
    assert after.header.revision == 2
    assert after.raftIndex > before.raftIndex
    assert after.raftAppliedIndex > before.raftAppliedIndex


def test_alarm_get_is_empty(maint: rpc_pb2_grpc.MaintenanceStub) -> None:
    resp = maint.Alarm(rpc_pb2.AlarmRequest(action=rpc_pb2.AlarmRequest.GET))
    assert list(resp.alarms) == []


def test_defragment_keeps_data(
    kv: rpc_pb2_grpc.KVStub, maint: rpc_pb2_grpc.MaintenanceStub
) -> None:
    write(kv)
    maint.Defragment(rpc_pb2.DefragmentRequest())
    resp = kv.Range(rpc_pb2.RangeRequest(key=b"a"))
    assert [(x.value, x.create_revision) for x in resp.kvs] == [(b"3", 5)]
    assert resp.header.revision == 5


def test_snapshot_stream(kv: rpc_pb2_grpc.KVStub, maint: rpc_pb2_grpc.MaintenanceStub) -> None:
    write(kv)
    chunks = list(maint.Snapshot(rpc_pb2.SnapshotRequest()))
    blob = b"".join(c.blob for c in chunks)
    assert len(blob) % 512 == 32  # the database pages, then a sha256 of them
    assert hashlib.sha256(blob[:-32]).digest() == blob[-32:]
    assert chunks[-1].remaining_bytes == 0
    assert all(c.remaining_bytes >= chunks[-1].remaining_bytes for c in chunks)


def test_hashkv_is_stable_and_follows_writes(
    kv: rpc_pb2_grpc.KVStub, maint: rpc_pb2_grpc.MaintenanceStub
) -> None:
    def hashkv(rev: int = 0) -> rpc_pb2.HashKVResponse:
        return maint.HashKV(rpc_pb2.HashKVRequest(revision=rev))

    write(kv)
    first = hashkv()
    assert first.compact_revision == -1  # never compacted
    assert first.header.revision == 5
    assert hashkv().hash == first.hash
    at3 = hashkv(3).hash
    kv.Put(rpc_pb2.PutRequest(key=b"c"))
    assert hashkv().hash != first.hash
    assert hashkv(5).hash == first.hash  # a past revision's hash does not change
    assert hashkv(3).hash == at3
    kv.Compact(rpc_pb2.CompactionRequest(revision=4))
    compacted = hashkv()
    assert compacted.compact_revision == 4
    assert hashkv().hash == compacted.hash
    with rpc_error(
        grpc.StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"
    ):
        hashkv(3)
    with rpc_error(
        grpc.StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision"
    ):
        hashkv(100)


def test_hashkv_equal_after_same_writes(start_endpoint: Callable[[], str]) -> None:
    hashes = []
    for _ in range(2):
        with open_channel(start_endpoint()) as chan:
            write(rpc_pb2_grpc.KVStub(chan))
            hashes.append(rpc_pb2_grpc.MaintenanceStub(chan).HashKV(rpc_pb2.HashKVRequest()).hash)
    assert hashes[0] == hashes[1]


@pytest.mark.parametrize("linearizable", [False, True])
def test_member_list(
    kv: rpc_pb2_grpc.KVStub,
    cluster: rpc_pb2_grpc.ClusterStub,
    maint: rpc_pb2_grpc.MaintenanceStub,
    linearizable: bool,
) -> None:
    kv.Put(rpc_pb2.PutRequest(key=b"k"))
    resp = cluster.MemberList(rpc_pb2.MemberListRequest(linearizable=linearizable))
    status = maint.Status(rpc_pb2.StatusRequest())
    assert len(resp.members) == 1
    member = resp.members[0]
    assert status.header.member_id == member.ID
    assert member.name  # the exact name and URLs are checked on real processes (compat)
    assert len(member.clientURLs) == 1
    assert not member.isLearner
    assert resp.header.cluster_id == status.header.cluster_id
    assert resp.header.member_id == member.ID
    # etcd's Cluster service states no revision in its headers
    assert resp.header.revision == 0
    assert resp.header.raft_term >= 1
