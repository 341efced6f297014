"""Live watch responses joined from shared parts parse as the whole message would."""

from __future__ import annotations

from kvstore.pb import kv_pb2, rpc_pb2
from kvstore.watch.encoding import BatchEncoder
from kvstore.watch.watcher import shape


def _header(revision: int) -> rpc_pb2.ResponseHeader:
    return rpc_pb2.ResponseHeader(cluster_id=7, member_id=9, revision=revision, raft_term=3)


def _put(key: bytes, rev: int, prev: bool) -> kv_pb2.Event:
    event = kv_pb2.Event(type=kv_pb2.Event.PUT)
    event.kv.key, event.kv.value, event.kv.mod_revision = key, b"v%d" % rev, rev
    if prev:
        event.prev_kv.key, event.prev_kv.value = key, b"old"
    return event


def _expected(watch_id: int, rev: int, events: list[kv_pb2.Event], prev_kv: bool) -> bytes:
    shaped = [shape(e, prev_kv) for e in events]
    whole = rpc_pb2.WatchResponse(header=_header(rev), watch_id=watch_id, events=shaped)
    return whole.SerializeToString(deterministic=True)


def _reencoded(raw: bytes) -> bytes:
    return rpc_pb2.WatchResponse.FromString(raw).SerializeToString(deterministic=True)


def test_joined_responses_parse_as_whole_messages() -> None:
    events = [_put(b"a", 5, prev=True), _put(b"b", 5, prev=False), _put(b"c", 6, prev=True)]
    encoder = BatchEncoder(_header)
    cases = [(0, 5, events[:2], False), (1, 6, events, True), (2, 6, events[2:], False)]
    for watch_id, rev, chosen, prev_kv in cases:
        raw = encoder.response(watch_id, rev, chosen, prev_kv)
        assert _reencoded(raw) == _expected(watch_id, rev, chosen, prev_kv)


def test_watchers_without_prev_kv_do_not_see_it() -> None:
    event = _put(b"k", 4, prev=True)
    raw = BatchEncoder(_header).response(3, 4, [event], prev_kv=False)
    (got,) = rpc_pb2.WatchResponse.FromString(raw).events
    assert not got.HasField("prev_kv") and got.kv == event.kv
    assert event.HasField("prev_kv")  # the published event is left as it was


def test_each_event_and_header_is_encoded_once_for_all_watchers() -> None:
    events = [_put(b"k%d" % i, 10, prev=False) for i in range(3)]
    encoder = BatchEncoder(_header)
    for watch_id in range(100):
        encoder.response(watch_id, 10, events, False)
    assert len(encoder._events) == len(events) and len(encoder._heads) == 1
