"""--max-txn-ops on etcd and kvstore (real processes), through etcdctl txn."""

from __future__ import annotations

from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.conftest import process_for
from tests.support.etcdctl import Etcdctl
from tests.support.procs import running
from tests.support.rpc import open_channel, rpc_error

TOO_MANY = "etcdserver: too many operations in txn request"


def _txn(puts: int, compares: int = 0) -> rpc_pb2.TxnRequest:
    return rpc_pb2.TxnRequest(
        compare=[
            rpc_pb2.Compare(
                key=f"c{i}".encode(),
                target=rpc_pb2.Compare.VERSION,
                result=rpc_pb2.Compare.EQUAL,
                version=0,
            )
            for i in range(compares)
        ],
        success=[
            rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=f"k{i}".encode(), value=b"v"))
            for i in range(puts)
        ],
    )


def test_max_txn_ops_bounds_a_txn_as_etcd_does(backend: str, tmp_path: Path) -> None:
    proc = process_for(backend, tmp_path)
    proc.argv.append("--max-txn-ops=3")
    with running(proc) as server, open_channel(server.endpoint) as channel:
        kv = rpc_pb2_grpc.KVStub(channel)
        assert kv.Txn(_txn(puts=3, compares=3), timeout=10).succeeded
        for request in (_txn(puts=4), _txn(puts=1, compares=4)):
            with rpc_error(grpc.StatusCode.INVALID_ARGUMENT, TOO_MANY):
                kv.Txn(request, timeout=10)
        # etcdctl's txn, over the limit: refused, nothing written
        script = "\n\n" + "".join(f"put big{i} v\n" for i in range(4)) + "\n"
        result = Etcdctl(server.url).run("txn", stdin=script)
        assert result.returncode != 0 and TOO_MANY in result.stderr
        assert Etcdctl(server.url).ok("get", "big0") == ""
