"""Errors etcd returns: exact gRPC code and message."""

from __future__ import annotations

import re

import grpc
import pytest

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.ops import op_delete, op_put, op_range, op_txn
from tests.support.rpc import rpc_error

IA = grpc.StatusCode.INVALID_ARGUMENT
NO_KEY = "etcdserver: key is not provided"
TOO_MANY = "etcdserver: too many operations in txn request"
DUPLICATE = "etcdserver: duplicate key given in txn request"
TOO_LARGE = "etcdserver: request is too large"
COMPACTED = "etcdserver: mvcc: required revision has been compacted"
FUTURE = "etcdserver: mvcc: required revision is a future revision"
NO_LEASE = "etcdserver: requested lease not found"
MAX_REQUEST = 1536 * 1024  # etcd's default --max-request-bytes
TR = rpc_pb2.TxnRequest


@pytest.mark.parametrize(
    "call",
    [
        lambda kv: kv.Range(rpc_pb2.RangeRequest()),
        lambda kv: kv.Range(rpc_pb2.RangeRequest(range_end=b"z")),
        lambda kv: kv.Put(rpc_pb2.PutRequest(value=b"v")),
        lambda kv: kv.DeleteRange(rpc_pb2.DeleteRangeRequest()),
        lambda kv: kv.DeleteRange(rpc_pb2.DeleteRangeRequest(range_end=b"\0")),
        lambda kv: kv.Txn(TR(success=[op_put(b"")])),
        lambda kv: kv.Txn(TR(failure=[op_range(b"")])),
        lambda kv: kv.Txn(TR(success=[op_delete(b"")])),
        lambda kv: kv.Txn(TR(compare=[rpc_pb2.Compare(key=b"", target=rpc_pb2.Compare.VERSION)])),
        lambda kv: kv.Txn(TR(success=[op_txn(success=[op_put(b"")])])),
    ],
    ids=[
        "range",
        "range-with-end",
        "put",
        "delete",
        "delete-with-end",
        "txn-put",
        "txn-range",
        "txn-delete",
        "txn-compare",
        "nested-txn-put",
    ],
)
def test_empty_key(kv: rpc_pb2_grpc.KVStub, call: object) -> None:
    with rpc_error(IA, NO_KEY):
        call(kv)  # type: ignore[operator]
    assert kv.Range(rpc_pb2.RangeRequest(key=b"a")).header.revision == 1


@pytest.mark.parametrize(
    "txn",
    [
        TR(success=[op_put(b"k%d" % i) for i in range(129)]),
        TR(failure=[op_range(b"k%d" % i) for i in range(129)]),
        TR(
            compare=[
                rpc_pb2.Compare(key=b"k%d" % i, target=rpc_pb2.Compare.VERSION) for i in range(129)
            ]
        ),
        TR(success=[op_txn(success=[op_range(b"k%d" % i) for i in range(129)])]),
    ],
    ids=["success-puts", "failure-ranges", "compares", "nested"],
)
def test_too_many_ops_in_txn(kv: rpc_pb2_grpc.KVStub, txn: rpc_pb2.TxnRequest) -> None:
    with rpc_error(IA, TOO_MANY):
        kv.Txn(txn)


DUPLICATES = {
    "put-put": [op_put(b"a"), op_put(b"a")],
    "put-delete": [op_put(b"a"), op_delete(b"a")],
    "delete-put": [op_delete(b"a"), op_put(b"a")],
    "put-inside-deleted-range": [op_put(b"b"), op_delete(b"a", b"c")],
    "deleted-range-then-put": [op_delete(b"a", b"c"), op_put(b"b")],
    "put-and-nested-put": [op_put(b"a"), op_txn(success=[op_put(b"a")])],
    "put-and-nested-failure-put": [op_put(b"a"), op_txn(failure=[op_put(b"a")])],
    "two-nested-puts": [op_txn(success=[op_put(b"a")]), op_txn(failure=[op_put(b"a")])],
    "delete-and-nested-put": [op_delete(b"a", b"c"), op_txn(success=[op_put(b"b")])],
    "nested-put-then-delete": [op_txn(success=[op_put(b"b")]), op_delete(b"a", b"c")],
}


@pytest.mark.parametrize("branch", ["success", "failure"])
@pytest.mark.parametrize("ops", list(DUPLICATES.values()), ids=list(DUPLICATES))
def test_duplicate_keys_in_txn(
    kv: rpc_pb2_grpc.KVStub, ops: list[rpc_pb2.RequestOp], branch: str
) -> None:
    with rpc_error(IA, DUPLICATE):
        kv.Txn(TR(**{branch: ops}))  # type: ignore[arg-type]


ALLOWED = {
    "delete-delete": [op_delete(b"a"), op_delete(b"a")],
    "overlapping-deletes": [op_delete(b"a", b"c"), op_delete(b"b")],
    "put-range": [op_put(b"a"), op_range(b"a")],
    "put-in-success-and-failure": None,
    "put-outside-deleted-range": [op_put(b"c"), op_delete(b"a", b"c")],
    # etcd 3.4 checks a delete as the interval [key, range_end): a from-key delete
    # (range_end "\0") is an empty interval there and never conflicts with a put.
    "put-then-delete-from-key": [op_put(b"b"), op_delete(b"a", b"\0")],
}


@pytest.mark.parametrize("name", list(ALLOWED))
def test_overlaps_etcd_allows(kv: rpc_pb2_grpc.KVStub, name: str) -> None:
    ops = ALLOWED[name]
    txn = TR(success=[op_put(b"a")], failure=[op_put(b"a")]) if ops is None else TR(success=ops)
    assert kv.Txn(txn).succeeded


def test_request_too_large(kv: rpc_pb2_grpc.KVStub) -> None:
    with rpc_error(IA, TOO_LARGE):
        kv.Put(rpc_pb2.PutRequest(key=b"big", value=b"x" * MAX_REQUEST))
    with rpc_error(IA, TOO_LARGE):
        kv.Put(rpc_pb2.PutRequest(key=b"big", value=b"x" * (1900 * 1024)))
    with rpc_error(IA, TOO_LARGE):
        kv.Txn(TR(success=[op_put(b"big", b"x" * (1600 * 1024))]))
    with rpc_error(IA, TOO_LARGE):
        kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"x" * (1600 * 1024)))
    assert kv.Range(rpc_pb2.RangeRequest(key=b"big")).count == 0
    # just below the limit (leaving room for the request's envelope) is accepted
    resp = kv.Put(rpc_pb2.PutRequest(key=b"big", value=b"x" * (MAX_REQUEST - 1024)))
    assert resp.header.revision == 2


def test_reads_are_not_limited_to_the_request_size(kv: rpc_pb2_grpc.KVStub) -> None:
    """etcd only limits what goes through consensus: ranges and read-only txns pass."""
    huge = b"x" * (1600 * 1024)
    assert kv.Range(rpc_pb2.RangeRequest(key=huge)).count == 0
    assert kv.Txn(TR(success=[op_range(huge)])).succeeded


@pytest.mark.parametrize(
    "call",
    [
        lambda kv: kv.Put(rpc_pb2.PutRequest(key=b"big", value=b"x" * (2 * 1024 * 1024 + 10))),
        lambda kv: kv.Range(rpc_pb2.RangeRequest(key=b"x" * (2 * 1024 * 1024 + 10))),
    ],
    ids=["put", "range"],
)
def test_message_over_2_mib(kv: rpc_pb2_grpc.KVStub, call: object) -> None:
    # etcd (grpc-go): "grpc: received message larger than max (N vs. 2097152)";
    # grpc core words it with a capital R. Only the code is exact.
    with rpc_error(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        re.compile(r"(?i).*received message larger than max \(\d+ vs\. 2097152\)"),
    ):
        call(kv)  # type: ignore[operator]


def test_compacted_and_future_revision(kv: rpc_pb2_grpc.KVStub) -> None:
    for i in range(3):
        kv.Put(rpc_pb2.PutRequest(key=b"k", value=b"%d" % i))  # 2..4
    kv.Compact(rpc_pb2.CompactionRequest(revision=3))
    with rpc_error(grpc.StatusCode.OUT_OF_RANGE, COMPACTED):
        kv.Range(rpc_pb2.RangeRequest(key=b"k", revision=2))
    with rpc_error(grpc.StatusCode.OUT_OF_RANGE, FUTURE):
        kv.Range(rpc_pb2.RangeRequest(key=b"k", revision=5))
    with rpc_error(grpc.StatusCode.OUT_OF_RANGE, FUTURE):
        kv.Txn(TR(success=[op_range(b"k", revision=5)]))


def test_lease_not_found(kv: rpc_pb2_grpc.KVStub, lease: rpc_pb2_grpc.LeaseStub) -> None:
    with rpc_error(grpc.StatusCode.NOT_FOUND, NO_LEASE):
        kv.Put(rpc_pb2.PutRequest(key=b"k", value=b"v", lease=12345))
    with rpc_error(grpc.StatusCode.NOT_FOUND, NO_LEASE):
        kv.Txn(TR(success=[op_put(b"k", b"v", lease=12345)]))
    with rpc_error(grpc.StatusCode.NOT_FOUND, NO_LEASE):
        lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=12345))
    assert kv.Range(rpc_pb2.RangeRequest(key=b"k")).header.revision == 1


def test_lease_already_exists(lease: rpc_pb2_grpc.LeaseStub) -> None:
    lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(ID=77, TTL=60))
    with rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "etcdserver: lease already exists"):
        lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(ID=77, TTL=60))


def test_lease_ttl_too_large(lease: rpc_pb2_grpc.LeaseStub) -> None:
    with rpc_error(grpc.StatusCode.OUT_OF_RANGE, "etcdserver: too large lease TTL"):
        lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=9_000_000_001))


def test_ignore_value_and_ignore_lease_errors(
    kv: rpc_pb2_grpc.KVStub, lease: rpc_pb2_grpc.LeaseStub
) -> None:
    with rpc_error(IA, "etcdserver: key not found"):
        kv.Put(rpc_pb2.PutRequest(key=b"missing", ignore_value=True))
    with rpc_error(IA, "etcdserver: key not found"):
        kv.Put(rpc_pb2.PutRequest(key=b"missing", value=b"v", ignore_lease=True))
    kv.Put(rpc_pb2.PutRequest(key=b"k", value=b"v"))
    with rpc_error(IA, "etcdserver: value is provided"):
        kv.Put(rpc_pb2.PutRequest(key=b"k", value=b"v", ignore_value=True))
    lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(ID=5, TTL=60))
    with rpc_error(IA, "etcdserver: lease is provided"):
        kv.Put(rpc_pb2.PutRequest(key=b"k", value=b"v", lease=5, ignore_lease=True))
    with rpc_error(IA, "etcdserver: key not found"):
        kv.Txn(TR(success=[op_put(b"missing", ignore_value=True)]))
    assert kv.Range(rpc_pb2.RangeRequest(key=b"k")).header.revision == 2
