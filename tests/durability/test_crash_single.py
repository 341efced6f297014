"""An acknowledged write survives SIGKILL of the member right after the ack."""

from __future__ import annotations

import signal
from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.procs import kvstore_process, running


def _put_many(endpoint: str, n: int) -> dict[bytes, tuple[bytes, int]]:
    acked: dict[bytes, tuple[bytes, int]] = {}
    with grpc.insecure_channel(endpoint) as channel:
        kv = rpc_pb2_grpc.KVStub(channel)
        futures = []
        for i in range(n):
            key, value = f"/crash/{i:05d}".encode(), f"value-{i}".encode() * 8
            futures.append((key, value, kv.Put.future(rpc_pb2.PutRequest(key=key, value=value))))
        for key, value, fut in futures:
            acked[key] = (value, fut.result(timeout=30).header.revision)
    return acked


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    server = kvstore_process(tmp_path)
    with running(server):
        acked = _put_many(server.endpoint, 500)
        server.kill(signal.SIGKILL)  # no chance to flush or shut down cleanly
        server.start()
        with grpc.insecure_channel(server.endpoint) as channel:
            kv = rpc_pb2_grpc.KVStub(channel)
            resp = kv.Range(rpc_pb2.RangeRequest(key=b"/crash/", range_end=b"/crash0"))
    stored = {kv.key: (kv.value, kv.mod_revision) for kv in resp.kvs}
    assert stored == acked
    assert resp.header.revision == max(rev for _, rev in acked.values())


def test_restart_keeps_history_and_leases(tmp_path: Path) -> None:
    server = kvstore_process(tmp_path)
    with running(server):
        with grpc.insecure_channel(server.endpoint) as channel:
            kv = rpc_pb2_grpc.KVStub(channel)
            lease = rpc_pb2_grpc.LeaseStub(channel)
            for i in range(5):
                kv.Put(rpc_pb2.PutRequest(key=b"k", value=str(i).encode()))
            granted = lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=600))
            kv.Put(rpc_pb2.PutRequest(key=b"leased", value=b"v", lease=granted.ID))
            kv.Compact(rpc_pb2.CompactionRequest(revision=3))
        server.kill(signal.SIGKILL)
        server.start()
        with grpc.insecure_channel(server.endpoint) as channel:
            kv = rpc_pb2_grpc.KVStub(channel)
            lease = rpc_pb2_grpc.LeaseStub(channel)
            old = kv.Range(rpc_pb2.RangeRequest(key=b"k", revision=4))
            assert [x.value for x in old.kvs] == [b"2"]
            try:
                kv.Range(rpc_pb2.RangeRequest(key=b"k", revision=2))
                raise AssertionError("a compacted revision must stay compacted")
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.OUT_OF_RANGE
            ttl = lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=granted.ID, keys=True))
            assert ttl.grantedTTL == 600
            assert list(ttl.keys) == [b"leased"]
