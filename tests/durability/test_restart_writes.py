"""A restarted single member accepts writes at once (its proposals are not
mistaken for ones it applied before the restart)."""

from __future__ import annotations

from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.inproc import running_inproc


def test_writes_after_a_restart_are_applied(tmp_path: Path) -> None:
    revisions = []
    for value in (b"before", b"after"):
        with running_inproc(tmp_path) as srv, grpc.insecure_channel(srv.endpoint) as channel:
            kv = rpc_pb2_grpc.KVStub(channel)
            put = kv.Put(rpc_pb2.PutRequest(key=b"k", value=value), timeout=5)
            revisions.append(put.header.revision)
            got = kv.Range(rpc_pb2.RangeRequest(key=b"k"), timeout=5)
            assert [kv.value for kv in got.kvs] == [value]
    assert revisions[1] == revisions[0] + 1
