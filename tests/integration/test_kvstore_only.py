"""kvstore behaviour that etcd 3.4 lacks (run against kvstore only).

- Keys are limited to 511 bytes (LMDB's key size limit).
- An unknown sort order/target is refused with etcd 3.5's error. etcd 3.4.23
  ignores an unknown sort_order and *crashes* (nil sorter, SIGSEGV) on an unknown
  sort_target, so there is nothing of 3.4 to match.
- gRPC server reflection is on (etcd 3.4 has none).
"""

from __future__ import annotations

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.rpc import rpc_error

pytestmark = pytest.mark.backends("kvstore")


def test_key_of_511_bytes_is_accepted(kv: rpc_pb2_grpc.KVStub) -> None:
    key = b"k" * 511
    kv.Put(rpc_pb2.PutRequest(key=key, value=b"v"))
    assert [x.key for x in kv.Range(rpc_pb2.RangeRequest(key=key)).kvs] == [key]


@pytest.mark.parametrize(
    "call",
    [
        lambda kv: kv.Put(rpc_pb2.PutRequest(key=b"k" * 512, value=b"v")),
        lambda kv: kv.Txn(
            rpc_pb2.TxnRequest(
                success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"k" * 600))]
            )
        ),
    ],
    ids=["put", "txn-put"],
)
def test_key_over_511_bytes_is_refused(kv: rpc_pb2_grpc.KVStub, call: object) -> None:
    try:
        call(kv)  # type: ignore[operator]
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert "511" in (exc.details() or "")  # type: ignore[attr-defined]
    else:
        raise AssertionError("a 512-byte key was accepted")
    assert kv.Range(rpc_pb2.RangeRequest(key=b"\0", range_end=b"\0")).count == 0


@pytest.mark.parametrize(
    "request_fields",
    [{"sort_order": 7}, {"sort_target": 9}, {"sort_order": 1, "sort_target": 9}],
)
def test_invalid_sort_option(kv: rpc_pb2_grpc.KVStub, request_fields: dict[str, int]) -> None:
    with rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: invalid sort option"):
        kv.Range(rpc_pb2.RangeRequest(key=b"a", **request_fields))  # type: ignore[arg-type]


def test_deeply_nested_txn_is_refused_before_it_is_proposed(kv: rpc_pb2_grpc.KVStub) -> None:
    """A txn too deep to decode once wrapped in a Raft command must never be
    committed: a member that cannot decode a committed entry has to stop."""
    txn = rpc_pb2.TxnRequest(success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"d"))])
    for _ in range(40):
        txn = rpc_pb2.TxnRequest(success=[rpc_pb2.RequestOp(request_txn=txn)])
    with rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "kvstore: txn nested deeper than 32 levels"):
        kv.Txn(txn)
    kv.Put(rpc_pb2.PutRequest(key=b"still", value=b"serving"))
    assert kv.Range(rpc_pb2.RangeRequest(key=b"still")).kvs[0].value == b"serving"


def test_server_reflection_lists_and_describes_the_services(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    asks = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="etcdserverpb.KV"),
    ]
    listed, described = list(stub.ServerReflectionInfo(iter(asks), timeout=10))
    names = {s.name for s in listed.list_services_response.service}
    assert {"etcdserverpb.KV", "etcdserverpb.Watch", "grpc.health.v1.Health"} <= names
    assert described.file_descriptor_response.file_descriptor_proto
