"""KV.Txn: compares, branches, responses, nesting and revisions."""

from __future__ import annotations

import operator
from collections.abc import Callable

import pytest

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.ops import EVERYTHING, keys, kvt, op_delete, op_put, op_range, op_txn

C = rpc_pb2.Compare
TR = rpc_pb2.TxnRequest
RR = rpc_pb2.RangeRequest

RESULTS: dict[str, tuple[int, Callable[[object, object], bool]]] = {
    "EQUAL": (C.EQUAL, operator.eq),
    "GREATER": (C.GREATER, operator.gt),
    "LESS": (C.LESS, operator.lt),
    "NOT_EQUAL": (C.NOT_EQUAL, operator.ne),
}
# The key "k" after the fixture: value b"m", create 2, mod 4, version 3, lease 9.
TARGETS: dict[str, tuple[int, str, object, list[object]]] = {
    "VERSION": (C.VERSION, "version", 3, [2, 3, 4]),
    "CREATE": (C.CREATE, "create_revision", 2, [1, 2, 3]),
    "MOD": (C.MOD, "mod_revision", 4, [3, 4, 5]),
    "VALUE": (C.VALUE, "value", b"m", [b"l", b"m", b"mm", b"n", b""]),
    "LEASE": (C.LEASE, "lease", 9, [8, 9, 10, 0]),
}


@pytest.fixture
def k_key(kv: rpc_pb2_grpc.KVStub, lease: rpc_pb2_grpc.LeaseStub) -> None:
    lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(ID=9, TTL=100))
    kv.Put(rpc_pb2.PutRequest(key=b"k", value=b"a"))  # 2
    kv.Put(rpc_pb2.PutRequest(key=b"k", value=b"b"))  # 3
    kv.Put(rpc_pb2.PutRequest(key=b"k", value=b"m", lease=9))  # 4


def compare(key: bytes, target_name: str, result_name: str, operand: object, **kw: bytes) -> C:
    target, field, _, _ = TARGETS[target_name]
    return C(key=key, target=target, result=RESULTS[result_name][0], **{field: operand}, **kw)  # type: ignore[arg-type]


def succeeded(kv: rpc_pb2_grpc.KVStub, *compares: C) -> bool:
    return kv.Txn(TR(compare=list(compares))).succeeded


@pytest.mark.usefixtures("k_key")
@pytest.mark.parametrize("result_name", list(RESULTS))
@pytest.mark.parametrize("target_name", list(TARGETS))
def test_compare_existing_key(kv: rpc_pb2_grpc.KVStub, target_name: str, result_name: str) -> None:
    _, _, actual, operands = TARGETS[target_name]
    op = RESULTS[result_name][1]
    outcomes = {
        repr(x): succeeded(kv, compare(b"k", target_name, result_name, x)) for x in operands
    }
    assert outcomes == {repr(x): op(actual, x) for x in operands}


@pytest.mark.parametrize("result_name", list(RESULTS))
@pytest.mark.parametrize("target_name", ["VERSION", "CREATE", "MOD", "LEASE"])
def test_compare_missing_key_compares_zero(
    kv: rpc_pb2_grpc.KVStub, target_name: str, result_name: str
) -> None:
    op = RESULTS[result_name][1]
    outcomes = {x: succeeded(kv, compare(b"nope", target_name, result_name, x)) for x in (0, 1)}
    assert outcomes == {x: op(0, x) for x in (0, 1)}


@pytest.mark.parametrize("result_name", list(RESULTS))
def test_compare_value_of_missing_key_always_fails(
    kv: rpc_pb2_grpc.KVStub, result_name: str
) -> None:
    for operand in (b"", b"x"):
        assert not succeeded(kv, compare(b"nope", "VALUE", result_name, operand))


@pytest.fixture
def abc(kv: rpc_pb2_grpc.KVStub) -> None:
    kv.Put(rpc_pb2.PutRequest(key=b"a", value=b"1"))  # 2
    kv.Put(rpc_pb2.PutRequest(key=b"b", value=b"2"))  # 3
    kv.Put(rpc_pb2.PutRequest(key=b"c", value=b"3"))  # 4


@pytest.mark.usefixtures("abc")
def test_compare_range_end_requires_every_key(kv: rpc_pb2_grpc.KVStub) -> None:
    assert succeeded(kv, compare(b"a", "VALUE", "GREATER", b"0", range_end=b"c"))
    assert not succeeded(kv, compare(b"a", "VALUE", "GREATER", b"1", range_end=b"c"))
    assert succeeded(kv, compare(b"a", "MOD", "LESS", 4, range_end=b"c"))
    assert not succeeded(kv, compare(b"a", "MOD", "LESS", 4, range_end=b"\0"))
    assert succeeded(kv, compare(b"a", "MOD", "GREATER", 1, range_end=b"\0"))
    assert succeeded(kv, compare(b"\0", "VERSION", "EQUAL", 1, range_end=b"\0"))


@pytest.mark.usefixtures("abc")
def test_compare_empty_range(kv: rpc_pb2_grpc.KVStub) -> None:
    assert succeeded(kv, compare(b"x", "VERSION", "EQUAL", 0, range_end=b"y"))
    assert succeeded(kv, compare(b"x", "CREATE", "LESS", 1, range_end=b"y"))
    assert not succeeded(kv, compare(b"x", "VALUE", "EQUAL", b"", range_end=b"y"))


@pytest.mark.usefixtures("abc")
def test_all_compares_must_hold(kv: rpc_pb2_grpc.KVStub) -> None:
    yes = compare(b"a", "VALUE", "EQUAL", b"1")
    no = compare(b"b", "VALUE", "EQUAL", b"1")
    assert succeeded(kv, yes, yes)
    assert not succeeded(kv, yes, no)
    assert not succeeded(kv, no, yes)


@pytest.mark.usefixtures("abc")
def test_success_branch_and_responses(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Txn(
        TR(
            compare=[compare(b"a", "VERSION", "EQUAL", 1)],
            success=[
                op_put(b"d", b"4", prev_kv=True),
                op_put(b"a", b"11", prev_kv=True),
                op_range(b"a", b"e"),
                op_delete(b"b", prev_kv=True),
                op_range(b"a", b"e", count_only=True),
            ],
            failure=[op_put(b"failed", b"x")],
        )
    )
    assert resp.succeeded
    assert resp.header.revision == 5  # several writes, one revision
    r = resp.responses
    assert [x.WhichOneof("response") for x in r] == [
        "response_put",
        "response_put",
        "response_range",
        "response_delete_range",
        "response_range",
    ]
    # inner headers carry only the revision
    assert r[0].response_put == rpc_pb2.PutResponse(header=rpc_pb2.ResponseHeader(revision=5))
    assert kvt(r[1].response_put.prev_kv) == (b"a", b"1", 2, 2, 1, 0)
    # a range sees the writes made earlier in the same txn
    assert [kvt(x) for x in r[2].response_range.kvs] == [
        (b"a", b"11", 2, 5, 2, 0),
        (b"b", b"2", 3, 3, 1, 0),
        (b"c", b"3", 4, 4, 1, 0),
        (b"d", b"4", 5, 5, 1, 0),
    ]
    assert r[2].response_range.header == rpc_pb2.ResponseHeader(revision=5)
    assert r[3].response_delete_range.deleted == 1
    assert [kvt(x) for x in r[3].response_delete_range.prev_kvs] == [(b"b", b"2", 3, 3, 1, 0)]
    assert r[4].response_range.count == 3
    assert list(r[4].response_range.kvs) == []
    assert keys(kv.Range(RR(**EVERYTHING)).kvs) == [b"a", b"c", b"d"]


@pytest.mark.usefixtures("abc")
def test_failure_branch(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Txn(
        TR(
            compare=[compare(b"a", "VALUE", "EQUAL", b"nope")],
            success=[op_put(b"s", b"x")],
            failure=[op_put(b"f", b"y"), op_range(b"f")],
        )
    )
    assert not resp.succeeded
    assert resp.header.revision == 5
    assert [kvt(x) for x in resp.responses[1].response_range.kvs] == [(b"f", b"y", 5, 5, 1, 0)]
    assert kv.Range(RR(key=b"s")).count == 0


@pytest.mark.usefixtures("abc")
def test_read_only_txn_keeps_the_revision(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Txn(TR(success=[op_range(b"a"), op_range(b"b", revision=2)]))
    assert resp.succeeded
    assert resp.header.revision == 4
    assert list(resp.responses[1].response_range.kvs) == []
    assert kv.Put(rpc_pb2.PutRequest(key=b"z")).header.revision == 5


@pytest.mark.usefixtures("abc")
def test_txn_deleting_nothing_keeps_the_revision(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Txn(TR(success=[op_delete(b"x"), op_delete(b"y", b"z")]))
    assert resp.header.revision == 4
    assert [x.response_delete_range.deleted for x in resp.responses] == [0, 0]


def test_empty_txn(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Txn(TR())
    assert resp == rpc_pb2.TxnResponse(header=resp.header, succeeded=True)
    assert resp.header.revision == 1


def test_empty_failed_branch(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Txn(TR(compare=[compare(b"a", "VERSION", "EQUAL", 1)]))
    assert not resp.succeeded
    assert list(resp.responses) == []


@pytest.mark.usefixtures("abc")
def test_kubernetes_create_update_delete_shapes(kv: rpc_pb2_grpc.KVStub) -> None:
    key = b"/registry/pods/default/p"
    create = kv.Txn(
        TR(compare=[C(key=key, target=C.MOD, mod_revision=0)], success=[op_put(key, b"v1")])
    )
    assert create.succeeded
    assert create.header.revision == 5
    again = kv.Txn(
        TR(
            compare=[C(key=key, target=C.MOD, mod_revision=0)],
            success=[op_put(key, b"v1")],
            failure=[op_range(key)],
        )
    )
    assert not again.succeeded
    assert [kvt(x) for x in again.responses[0].response_range.kvs] == [(key, b"v1", 5, 5, 1, 0)]
    stale = kv.Txn(
        TR(
            compare=[C(key=key, target=C.MOD, mod_revision=4)],
            success=[op_put(key, b"v2")],
            failure=[op_range(key)],
        )
    )
    assert not stale.succeeded
    update = kv.Txn(
        TR(
            compare=[C(key=key, target=C.MOD, mod_revision=5)],
            success=[op_put(key, b"v2")],
            failure=[op_range(key)],
        )
    )
    assert update.succeeded
    assert update.header.revision == 6
    delete = kv.Txn(
        TR(
            compare=[C(key=key, target=C.MOD, mod_revision=6)],
            success=[op_delete(key)],
            failure=[op_range(key)],
        )
    )
    assert delete.succeeded
    assert delete.responses[0].response_delete_range.deleted == 1
    assert delete.header.revision == 7


@pytest.mark.usefixtures("abc")
def test_nested_txn(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Txn(
        TR(
            compare=[compare(b"a", "VALUE", "EQUAL", b"1")],
            success=[
                op_put(b"x", b"outer"),
                op_txn(
                    compare=[compare(b"b", "VALUE", "EQUAL", b"nope")],
                    success=[op_put(b"y", b"inner-success")],
                    failure=[op_put(b"z", b"inner-failure"), op_range(b"x")],
                ),
                op_txn(success=[op_range(b"z")]),
            ],
        )
    )
    assert resp.succeeded
    assert resp.header.revision == 5
    inner = resp.responses[1].response_txn
    assert not inner.succeeded
    assert inner.header == rpc_pb2.ResponseHeader()  # etcd leaves a nested txn's header empty
    assert inner.responses[0].response_put.header.revision == 5
    assert [kvt(x) for x in inner.responses[1].response_range.kvs] == [(b"x", b"outer", 5, 5, 1, 0)]
    second = resp.responses[2].response_txn
    assert second.succeeded
    assert [x.value for x in second.responses[0].response_range.kvs] == [b"inner-failure"]
    assert keys(kv.Range(RR(**EVERYTHING)).kvs) == [b"a", b"b", b"c", b"x", b"z"]


@pytest.mark.usefixtures("abc")
def test_nested_compares_see_the_state_before_the_txn(kv: rpc_pb2_grpc.KVStub) -> None:
    """etcd evaluates every compare of the txn tree first, before any op runs."""
    resp = kv.Txn(
        TR(
            success=[
                op_put(b"a", b"changed"),
                op_txn(
                    compare=[compare(b"a", "VALUE", "EQUAL", b"1")],
                    success=[op_range(b"a")],
                ),
                op_txn(compare=[compare(b"a", "VALUE", "EQUAL", b"changed")]),
            ]
        )
    )
    first, second = resp.responses[1].response_txn, resp.responses[2].response_txn
    assert first.succeeded
    assert [x.value for x in first.responses[0].response_range.kvs] == [b"changed"]
    assert not second.succeeded


@pytest.mark.usefixtures("abc")
def test_txn_with_deletes_of_overlapping_ranges(kv: rpc_pb2_grpc.KVStub) -> None:
    """Two deletes may overlap (only puts may not); the second finds nothing left."""
    resp = kv.Txn(TR(success=[op_delete(b"a", b"c"), op_delete(b"b"), op_delete(b"a")]))
    assert [x.response_delete_range.deleted for x in resp.responses] == [2, 0, 0]
    assert resp.header.revision == 5


@pytest.mark.usefixtures("abc")
def test_txn_put_then_range_of_the_same_key(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Txn(TR(success=[op_put(b"a", b"new"), op_range(b"a")]))
    assert [kvt(x) for x in resp.responses[1].response_range.kvs] == [(b"a", b"new", 2, 5, 2, 0)]


def test_txn_with_128_ops_per_branch(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Txn(
        TR(
            success=[op_put(b"k%03d" % i, b"v") for i in range(128)],
            failure=[op_range(b"k%03d" % i) for i in range(128)],
        )
    )
    assert resp.succeeded
    assert resp.header.revision == 2
    assert kv.Range(RR(**EVERYTHING, count_only=True)).count == 128
