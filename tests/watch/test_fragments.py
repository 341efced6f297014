"""fragments(): the parts a watcher that asked for fragments receives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kvstore.pb import kv_pb2, rpc_pb2
from kvstore.watch.fragments import fragments


def response(sizes: list[int]) -> rpc_pb2.WatchResponse:
    events = [
        kv_pb2.Event(kv=kv_pb2.KeyValue(key=b"k%d" % i, value=b"v" * n, mod_revision=9))
        for i, n in enumerate(sizes)
    ]
    return rpc_pb2.WatchResponse(
        header=rpc_pb2.ResponseHeader(revision=9, member_id=3), watch_id=4, events=events
    )


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=300), max_size=12),
    limit=st.integers(min_value=1, max_value=2000),
)
def test_parts_join_to_the_response(sizes: list[int], limit: int) -> None:
    whole = response(sizes)
    parts = list(fragments(whole, limit))
    if len(sizes) < 2 or whole.ByteSize() < limit:
        assert parts == [whole]
        return
    assert [p.fragment for p in parts] == [True] * (len(parts) - 1) + [False]
    assert [e for p in parts for e in p.events] == list(whole.events)
    for i, part in enumerate(parts):
        assert part.header == whole.header and part.watch_id == whole.watch_id
        assert part.events
        assert len(part.events) == 1 or part.ByteSize() < limit
        if i + 1 < len(parts):  # full: its next event would have reached the limit
            fuller = rpc_pb2.WatchResponse()
            fuller.CopyFrom(part)
            fuller.events.append(parts[i + 1].events[0])
            assert fuller.ByteSize() >= limit


def test_a_large_response_is_split_in_order() -> None:
    whole = response([100] * 10)
    parts = list(fragments(whole, 400))
    assert [len(p.events) for p in parts] == [3, 3, 3, 1]
    assert [e.kv.key for p in parts for e in p.events] == [b"k%d" % i for i in range(10)]
