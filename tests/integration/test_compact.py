"""KV.Compact: what stays readable, what errors, and the compacted revision itself."""

from __future__ import annotations

import grpc
import pytest

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.ops import EVERYTHING, keys, kvt
from tests.support.rpc import rpc_error

RR = rpc_pb2.RangeRequest
COMPACTED = "etcdserver: mvcc: required revision has been compacted"
FUTURE = "etcdserver: mvcc: required revision is a future revision"


@pytest.fixture
def history(kv: rpc_pb2_grpc.KVStub) -> None:
    """Revisions: 2 put a=1, 3 put b=1, 4 put a=2, 5 delete b, 6 put c=1."""
    kv.Put(rpc_pb2.PutRequest(key=b"a", value=b"1"))
    kv.Put(rpc_pb2.PutRequest(key=b"b", value=b"1"))
    kv.Put(rpc_pb2.PutRequest(key=b"a", value=b"2"))
    kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"b"))
    kv.Put(rpc_pb2.PutRequest(key=b"c", value=b"1"))


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("physical", [False, True])
def test_compact_then_read(kv: rpc_pb2_grpc.KVStub, physical: bool) -> None:
    resp = kv.Compact(rpc_pb2.CompactionRequest(revision=4, physical=physical))
    assert resp.header.revision == 6
    for rev in (1, 2, 3):
        with rpc_error(grpc.StatusCode.OUT_OF_RANGE, COMPACTED):
            kv.Range(RR(revision=rev, **EVERYTHING))
    at4 = kv.Range(RR(revision=4, **EVERYTHING))
    assert [kvt(kv) for kv in at4.kvs] == [(b"a", b"2", 2, 4, 2, 0), (b"b", b"1", 3, 3, 1, 0)]
    at5 = kv.Range(RR(revision=5, **EVERYTHING))
    assert keys(at5.kvs) == [b"a"]
    latest = kv.Range(RR(**EVERYTHING))
    assert keys(latest.kvs) == [b"a", b"c"]
    assert latest.header.revision == 6


@pytest.mark.usefixtures("history")
def test_compact_at_current_revision(kv: rpc_pb2_grpc.KVStub) -> None:
    kv.Compact(rpc_pb2.CompactionRequest(revision=6, physical=True))
    assert keys(kv.Range(RR(revision=6, **EVERYTHING)).kvs) == [b"a", b"c"]
    with rpc_error(grpc.StatusCode.OUT_OF_RANGE, COMPACTED):
        kv.Range(RR(revision=5, **EVERYTHING))
    # writes continue from the same revision
    assert kv.Put(rpc_pb2.PutRequest(key=b"d")).header.revision == 7


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("again", [4, 3, 1, -1])
def test_compact_at_or_below_compacted_revision(kv: rpc_pb2_grpc.KVStub, again: int) -> None:
    kv.Compact(rpc_pb2.CompactionRequest(revision=4))
    with rpc_error(grpc.StatusCode.OUT_OF_RANGE, COMPACTED):
        kv.Compact(rpc_pb2.CompactionRequest(revision=again))


@pytest.mark.usefixtures("history")
def test_compact_future_revision(kv: rpc_pb2_grpc.KVStub) -> None:
    with rpc_error(grpc.StatusCode.OUT_OF_RANGE, FUTURE):
        kv.Compact(rpc_pb2.CompactionRequest(revision=7))
    # nothing was compacted
    assert keys(kv.Range(RR(revision=2, **EVERYTHING)).kvs) == [b"a"]


def test_compact_fresh_store_at_revision_1(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Compact(rpc_pb2.CompactionRequest(revision=1))
    assert resp.header.revision == 1
    assert kv.Put(rpc_pb2.PutRequest(key=b"a")).header.revision == 2


@pytest.mark.usefixtures("history")
def test_compaction_inside_txn_range(kv: rpc_pb2_grpc.KVStub) -> None:
    kv.Compact(rpc_pb2.CompactionRequest(revision=4))
    txn = rpc_pb2.TxnRequest(success=[rpc_pb2.RequestOp(request_range=RR(key=b"a", revision=3))])
    with rpc_error(grpc.StatusCode.OUT_OF_RANGE, COMPACTED):
        kv.Txn(txn)
    ok = kv.Txn(
        rpc_pb2.TxnRequest(success=[rpc_pb2.RequestOp(request_range=RR(key=b"a", revision=4))])
    )
    assert [kv.value for kv in ok.responses[0].response_range.kvs] == [b"2"]


@pytest.mark.usefixtures("history")
def test_compacted_key_history_keeps_latest_version(kv: rpc_pb2_grpc.KVStub) -> None:
    """Compacting at 5 keeps a's value as of 5 (written at 4) and b's tombstone."""
    kv.Compact(rpc_pb2.CompactionRequest(revision=5, physical=True))
    at5 = kv.Range(RR(revision=5, **EVERYTHING))
    assert [kvt(kv) for kv in at5.kvs] == [(b"a", b"2", 2, 4, 2, 0)]
