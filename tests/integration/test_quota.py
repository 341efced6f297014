"""--quota-backend-bytes: past the quota, the NOSPACE alarm and etcd's error;
deletes, compaction, defragment and disarming bring writes back."""

from __future__ import annotations

from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.procs import kvstore_process, running
from tests.support.rpc import rpc_error

QUOTA = 2 * 1024 * 1024
VALUE = b"x" * 64 * 1024
NOSPACE = "etcdserver: mvcc: database space exceeded"


def fill(kv: rpc_pb2_grpc.KVStub) -> int:
    """Put 64 KiB values until the store refuses; return how many went in."""
    for i in range(200):
        try:
            kv.Put(rpc_pb2.PutRequest(key=b"/fill/%03d" % i, value=VALUE), timeout=10)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
            assert exc.details() == NOSPACE
            return i
    raise AssertionError("a 2 MiB quota took 200 x 64 KiB")


def alarms(channel: grpc.Channel) -> list[int]:
    resp = rpc_pb2_grpc.MaintenanceStub(channel).Alarm(
        rpc_pb2.AlarmRequest(action=rpc_pb2.AlarmRequest.GET), timeout=10
    )
    return [a.alarm for a in resp.alarms]


def test_over_quota_raises_the_alarm_and_recovers(tmp_path: Path) -> None:
    extra = ["--quota-backend-bytes", str(QUOTA)]
    with (
        running(kvstore_process(tmp_path, extra=extra)) as server,
        grpc.insecure_channel(server.endpoint) as channel,
    ):
        kv = rpc_pb2_grpc.KVStub(channel)
        stored = fill(kv)
        assert 5 < stored < 40
        assert alarms(channel) == [rpc_pb2.NOSPACE]
        # refused, small or not, put or writing txn; reads and deletes go on
        with rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, NOSPACE):
            kv.Put(rpc_pb2.PutRequest(key=b"/small", value=b"v"), timeout=10)
        put = rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"/t", value=b"v"))
        with rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, NOSPACE):
            kv.Txn(rpc_pb2.TxnRequest(success=[put]), timeout=10)
        got = kv.Range(rpc_pb2.RangeRequest(key=b"/fill/000"), timeout=10)
        assert got.kvs[0].value == VALUE
        deleted = kv.DeleteRange(
            rpc_pb2.DeleteRangeRequest(key=b"/fill/", range_end=b"/fill0"), timeout=10
        )
        assert deleted.deleted == stored
        kv.Compact(rpc_pb2.CompactionRequest(revision=deleted.header.revision), timeout=10)
        maintenance = rpc_pb2_grpc.MaintenanceStub(channel)
        maintenance.Defragment(rpc_pb2.DefragmentRequest(), timeout=30)
        maintenance.Alarm(
            rpc_pb2.AlarmRequest(action=rpc_pb2.AlarmRequest.DEACTIVATE, alarm=rpc_pb2.NOSPACE),
            timeout=10,
        )
        assert alarms(channel) == []
        kv.Put(rpc_pb2.PutRequest(key=b"/small", value=b"v"), timeout=10)
