"""KV.Range: key selection, limits, history, projections, sorting, filters."""

from __future__ import annotations

import pytest

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.ops import EVERYTHING, keys, kvt

RR = rpc_pb2.RangeRequest

# Final state after SORT_WRITES (revisions 2..11), chosen so that every sort
# target orders the four keys differently:
#   key  value  create  mod  version
#   a    "2"    3       5    3
#   b    "3"    7       7    1
#   c    "1"    2       11   4
#   d    "0"    6       9    2
SORT_WRITES = [
    (b"c", b"1"),
    (b"a", b"2"),
    (b"a", b"2"),
    (b"a", b"2"),
    (b"d", b"0"),
    (b"b", b"3"),
    (b"c", b"1"),
    (b"d", b"0"),
    (b"c", b"1"),
    (b"c", b"1"),
]
ASCENDING = {
    RR.KEY: [b"a", b"b", b"c", b"d"],
    RR.VERSION: [b"b", b"d", b"a", b"c"],
    RR.CREATE: [b"c", b"a", b"d", b"b"],
    RR.MOD: [b"a", b"b", b"d", b"c"],
    RR.VALUE: [b"d", b"c", b"a", b"b"],
}


def put(kv: rpc_pb2_grpc.KVStub, key: bytes, value: bytes = b"v") -> int:
    return kv.Put(rpc_pb2.PutRequest(key=key, value=value)).header.revision


@pytest.fixture
def sort_data(kv: rpc_pb2_grpc.KVStub) -> None:
    for key, value in SORT_WRITES:
        put(kv, key, value)


def test_fresh_store_is_at_revision_1(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Range(RR(key=b"a"))
    assert resp.header.revision == 1
    assert list(resp.kvs) == []
    assert resp.count == 0
    assert not resp.more


def test_header_identifies_cluster_and_member(kv: rpc_pb2_grpc.KVStub) -> None:
    header = kv.Range(RR(key=b"a")).header
    assert header.cluster_id != 0
    assert header.member_id != 0
    assert header.raft_term >= 1


def test_single_key(kv: rpc_pb2_grpc.KVStub) -> None:
    assert put(kv, b"foo", b"bar") == 2
    put(kv, b"foo1", b"x")
    resp = kv.Range(RR(key=b"foo"))
    assert [kvt(kv) for kv in resp.kvs] == [(b"foo", b"bar", 2, 2, 1, 0)]
    assert resp.count == 1
    assert not resp.more
    assert resp.header.revision == 3


def test_missing_key_returns_only_the_header(kv: rpc_pb2_grpc.KVStub) -> None:
    put(kv, b"a")
    resp = kv.Range(RR(key=b"zz"))
    assert resp == rpc_pb2.RangeResponse(header=resp.header)
    assert resp.header.revision == 2


def test_prefix(kv: rpc_pb2_grpc.KVStub) -> None:
    for key in [b"fo", b"foo", b"foo/bar", b"foo1", b"fop", b"g"]:
        put(kv, key)
    resp = kv.Range(RR(key=b"foo", range_end=b"fop"))
    assert keys(resp.kvs) == [b"foo", b"foo/bar", b"foo1"]
    assert resp.count == 3


def test_binary_keys_and_prefix_ending_in_ff(kv: rpc_pb2_grpc.KVStub) -> None:
    for key in [b"a\xfe", b"a\xff", b"a\xff\x00", b"a\xff\xff", b"b"]:
        put(kv, key, key + b"\x00value")
    resp = kv.Range(RR(key=b"a\xff", range_end=b"b"))
    assert keys(resp.kvs) == [b"a\xff", b"a\xff\x00", b"a\xff\xff"]
    assert resp.kvs[1].value == b"a\xff\x00\x00value"


def test_from_key(kv: rpc_pb2_grpc.KVStub) -> None:
    for key in [b"a", b"b", b"c", b"\xff"]:
        put(kv, key)
    resp = kv.Range(RR(key=b"b", range_end=b"\0"))
    assert keys(resp.kvs) == [b"b", b"c", b"\xff"]


def test_all_keys(kv: rpc_pb2_grpc.KVStub) -> None:
    for key in [b"\x01", b"a", b"z", b"\xff\xff"]:
        put(kv, key)
    resp = kv.Range(RR(**EVERYTHING))
    assert keys(resp.kvs) == [b"\x01", b"a", b"z", b"\xff\xff"]
    assert resp.count == 4


def test_key_nul_alone_is_a_single_key(kv: rpc_pb2_grpc.KVStub) -> None:
    put(kv, b"a")
    assert kv.Range(RR(key=b"\0")).count == 0


@pytest.mark.parametrize("range_end", [b"c", b"a"], ids=["end-equals-key", "end-below-key"])
def test_range_end_not_above_key_is_empty(kv: rpc_pb2_grpc.KVStub, range_end: bytes) -> None:
    for key in [b"a", b"b", b"c", b"d"]:
        put(kv, key)
    resp = kv.Range(RR(key=b"c", range_end=range_end))
    assert list(resp.kvs) == []
    assert resp.count == 0


@pytest.mark.parametrize(
    ("limit", "expected", "more"),
    [
        (0, [b"a", b"b", b"c", b"d"], False),
        (1, [b"a"], True),
        (2, [b"a", b"b"], True),
        (3, [b"a", b"b", b"c"], True),
        (4, [b"a", b"b", b"c", b"d"], False),
        (5, [b"a", b"b", b"c", b"d"], False),
        (-1, [b"a", b"b", b"c", b"d"], False),
    ],
)
def test_limit_more_and_count(
    kv: rpc_pb2_grpc.KVStub, limit: int, expected: list[bytes], more: bool
) -> None:
    for key in [b"a", b"b", b"c", b"d"]:
        put(kv, key)
    resp = kv.Range(RR(limit=limit, **EVERYTHING))
    assert keys(resp.kvs) == expected
    assert resp.more is more
    assert resp.count == 4


def test_paging_from_last_key(kv: rpc_pb2_grpc.KVStub) -> None:
    """Kubernetes pages a list by restarting at lastKey + "\\0" at a fixed revision."""
    for i in range(5):
        put(kv, b"/registry/pods/p%d" % i)
    rev = put(kv, b"/registry/zzz")
    put(kv, b"/registry/pods/p9")  # after the snapshot revision: must not appear
    seen: list[bytes] = []
    start = b"/registry/pods/"
    end = b"/registry/pods0"
    while True:
        resp = kv.Range(RR(key=start, range_end=end, limit=2, revision=rev))
        seen.extend(keys(resp.kvs))
        if not resp.more:
            break
        start = resp.kvs[-1].key + b"\0"
    assert seen == [b"/registry/pods/p%d" % i for i in range(5)]


def test_a_range_over_thousands_of_keys(kv: rpc_pb2_grpc.KVStub) -> None:
    """More keys than kvstore reads on its event loop (it hands such a range
    to a worker thread); etcd answers the same."""
    total, per_txn = 5000, 100
    for first in range(0, total, per_txn):
        puts = [
            rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"big/%05d" % i, value=b"v"))
            for i in range(first, first + per_txn)
        ]
        kv.Txn(rpc_pb2.TxnRequest(success=puts))
    whole = kv.Range(RR(key=b"big/", range_end=b"big0"))
    assert (whole.count, len(whole.kvs), whole.more) == (total, total, False)
    assert keys(whole.kvs) == [b"big/%05d" % i for i in range(total)]
    page = kv.Range(RR(key=b"big/", range_end=b"big0", limit=10, serializable=True))
    assert (page.count, keys(page.kvs), page.more) == (
        total,
        [b"big/%05d" % i for i in range(10)],
        True,
    )
    history = kv.Range(RR(key=b"big/", range_end=b"big0", revision=whole.header.revision - 1))
    assert history.count == total - per_txn


def test_revision_history(kv: rpc_pb2_grpc.KVStub) -> None:
    assert put(kv, b"k", b"v1") == 2
    assert put(kv, b"k", b"v2") == 3
    assert put(kv, b"other", b"o") == 4
    assert kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"k")).header.revision == 5
    assert put(kv, b"k", b"v3") == 6

    def at(rev: int) -> list[tuple[bytes, bytes, int, int, int, int]]:
        resp = kv.Range(RR(key=b"k", revision=rev))
        assert resp.header.revision == 6  # the header reports the current revision
        return [kvt(kv) for kv in resp.kvs]

    assert at(1) == []
    assert at(2) == [(b"k", b"v1", 2, 2, 1, 0)]
    assert at(3) == [(b"k", b"v2", 2, 3, 2, 0)]
    assert at(4) == [(b"k", b"v2", 2, 3, 2, 0)]
    assert at(5) == []
    assert at(6) == [(b"k", b"v3", 6, 6, 1, 0)]


@pytest.mark.parametrize("revision", [0, -1, -100])
def test_revision_not_positive_means_latest(kv: rpc_pb2_grpc.KVStub, revision: int) -> None:
    put(kv, b"k", b"old")
    put(kv, b"k", b"new")
    resp = kv.Range(RR(key=b"k", revision=revision))
    assert [kv.value for kv in resp.kvs] == [b"new"]


def test_keys_only(kv: rpc_pb2_grpc.KVStub) -> None:
    put(kv, b"a", b"1")
    put(kv, b"a", b"2")
    put(kv, b"b", b"3")
    resp = kv.Range(RR(keys_only=True, **EVERYTHING))
    assert [kvt(kv) for kv in resp.kvs] == [(b"a", b"", 2, 3, 2, 0), (b"b", b"", 4, 4, 1, 0)]
    assert resp.count == 2


@pytest.mark.parametrize("limit", [0, 1])
def test_count_only(kv: rpc_pb2_grpc.KVStub, limit: int) -> None:
    for key in [b"a", b"b", b"c"]:
        put(kv, key)
    resp = kv.Range(RR(count_only=True, limit=limit, **EVERYTHING))
    assert list(resp.kvs) == []
    assert resp.count == 3
    assert not resp.more  # even when limit < count


def test_serializable_read(kv: rpc_pb2_grpc.KVStub) -> None:
    put(kv, b"a", b"1")
    resp = kv.Range(RR(key=b"a", serializable=True))
    assert [kv.value for kv in resp.kvs] == [b"1"]
    assert resp.header.revision == 2


ORDERS = {"NONE": RR.NONE, "ASCEND": RR.ASCEND, "DESCEND": RR.DESCEND}
TARGETS = {
    "KEY": RR.KEY,
    "VERSION": RR.VERSION,
    "CREATE": RR.CREATE,
    "MOD": RR.MOD,
    "VALUE": RR.VALUE,
}


@pytest.mark.usefixtures("sort_data")
@pytest.mark.parametrize("order_name", list(ORDERS))
@pytest.mark.parametrize("target_name", list(TARGETS))
def test_sort(kv: rpc_pb2_grpc.KVStub, order_name: str, target_name: str) -> None:
    """NONE with a target other than KEY sorts ascending by that target."""
    target = TARGETS[target_name]
    expected = list(ASCENDING[target])
    if order_name == "DESCEND":
        expected.reverse()
    resp = kv.Range(RR(sort_order=ORDERS[order_name], sort_target=target, **EVERYTHING))
    assert keys(resp.kvs) == expected
    assert resp.count == 4


@pytest.mark.usefixtures("sort_data")
@pytest.mark.parametrize(
    ("order", "target", "expected"),
    [
        (RR.DESCEND, RR.KEY, [b"d", b"c"]),
        (RR.DESCEND, RR.VALUE, [b"b", b"a"]),
        (RR.ASCEND, RR.MOD, [b"a", b"b"]),
        (RR.NONE, RR.CREATE, [b"c", b"a"]),
    ],
)
def test_sort_happens_before_limit(
    kv: rpc_pb2_grpc.KVStub, order: int, target: int, expected: list[bytes]
) -> None:
    resp = kv.Range(RR(sort_order=order, sort_target=target, limit=2, **EVERYTHING))
    assert keys(resp.kvs) == expected
    assert resp.more
    assert resp.count == 4


@pytest.mark.usefixtures("sort_data")
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"min_mod_revision": 7}, [b"b", b"c", b"d"]),
        ({"min_mod_revision": 8}, [b"c", b"d"]),
        ({"max_mod_revision": 7}, [b"a", b"b"]),
        ({"max_mod_revision": 4}, []),
        ({"min_create_revision": 3}, [b"a", b"b", b"d"]),
        ({"max_create_revision": 3}, [b"a", b"c"]),
        ({"min_create_revision": 3, "max_create_revision": 6}, [b"a", b"d"]),
        ({"min_mod_revision": 6, "max_mod_revision": 10}, [b"b", b"d"]),
        ({"min_mod_revision": 5, "max_create_revision": 3}, [b"a", b"c"]),
    ],
)
def test_revision_filters(
    kv: rpc_pb2_grpc.KVStub, fields: dict[str, int], expected: list[bytes]
) -> None:
    resp = kv.Range(RR(**EVERYTHING, **fields))
    assert keys(resp.kvs) == expected
    assert resp.count == 4  # count ignores the filters
    assert not resp.more


@pytest.mark.usefixtures("sort_data")
def test_revision_filters_with_limit_and_count_only(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Range(RR(min_create_revision=3, limit=1, **EVERYTHING))
    assert keys(resp.kvs) == [b"a"]
    assert resp.more
    assert resp.count == 4
    resp = kv.Range(RR(min_create_revision=3, limit=3, **EVERYTHING))
    assert keys(resp.kvs) == [b"a", b"b", b"d"]
    assert not resp.more
    resp = kv.Range(RR(min_mod_revision=8, count_only=True, **EVERYTHING))
    assert resp.count == 4
    assert list(resp.kvs) == []


@pytest.mark.usefixtures("sort_data")
def test_revision_filters_with_sort(kv: rpc_pb2_grpc.KVStub) -> None:
    resp = kv.Range(
        RR(min_mod_revision=7, sort_order=RR.DESCEND, sort_target=RR.VALUE, **EVERYTHING)
    )
    assert keys(resp.kvs) == [b"b", b"c", b"d"]
