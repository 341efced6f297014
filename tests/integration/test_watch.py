"""Watch: one bidi stream, many watchers; history, filters, cancel, progress."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstore.pb import kv_pb2, rpc_pb2, rpc_pb2_grpc
from tests.support.ops import event_view, kvt, op_delete, op_put
from tests.support.procs import ServerProcess, etcd_process, kvstore_process, running
from tests.support.rpc import open_channel
from tests.support.watching import WatchStream

WCR = rpc_pb2.WatchCreateRequest
PUT, DELETE = "PUT", "DELETE"


@pytest.fixture
def stream(watch: rpc_pb2_grpc.WatchStub) -> Iterator[WatchStream]:
    with WatchStream(watch) as ws:
        yield ws


def put(kv: rpc_pb2_grpc.KVStub, key: bytes, value: bytes = b"v") -> int:
    return kv.Put(rpc_pb2.PutRequest(key=key, value=value)).header.revision


def delete(kv: rpc_pb2_grpc.KVStub, key: bytes, range_end: bytes = b"") -> int:
    return kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=key, range_end=range_end)).header.revision


def assert_revisions_not_split(responses: list[rpc_pb2.WatchResponse]) -> None:
    seen: set[int] = set()
    for response in responses:
        revs = {e.kv.mod_revision for e in response.events}
        assert not revs & seen, "events of one revision were split across responses"
        seen |= revs


def test_create_is_answered_first_with_generated_ids(stream: WatchStream) -> None:
    first = stream.create(key=b"a")
    assert first.created
    assert first.watch_id == 0  # generated ids start at 0
    assert first.header.revision == 1
    assert list(first.events) == []
    assert not first.canceled
    second = stream.create(key=b"b")
    assert second.watch_id == 1


def test_events_after_create(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    wid = stream.create(key=b"k").watch_id
    put(kv, b"other")
    put(kv, b"k", b"v1")
    delete(kv, b"k")
    responses = stream.events_for(wid, 2)
    events = [e for r in responses for e in r.events]
    assert [event_view(e) for e in events] == [(PUT, b"k", b"v1", 3), (DELETE, b"k", b"", 4)]
    assert kvt(events[0].kv) == (b"k", b"v1", 3, 3, 1, 0)
    # a delete event carries the key and the deleting revision only
    assert events[1].kv == kv_pb2.KeyValue(key=b"k", mod_revision=4)
    assert not events[0].HasField("prev_kv")
    assert responses[0].header.revision == 3


def test_client_chosen_watch_id(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    created = stream.create(key=b"k", watch_id=100)
    assert created.watch_id == 100
    put(kv, b"k")
    assert stream.next_for(100).events[0].kv.key == b"k"


def test_duplicate_watch_id_is_refused(stream: WatchStream) -> None:
    stream.create(key=b"a", watch_id=7)
    dup = stream.create(key=b"b", watch_id=7)
    assert dup.created
    assert dup.canceled
    assert dup.watch_id == -1
    assert dup.cancel_reason == "mvcc: duplicate watch ID provided on the WatchStream"


@pytest.mark.parametrize(("key", "range_end"), [(b"z", b"a"), (b"k", b"k")])
def test_empty_watch_range_is_refused(stream: WatchStream, key: bytes, range_end: bytes) -> None:
    resp = stream.create(key=key, range_end=range_end)
    assert resp.canceled
    assert resp.watch_id == -1
    assert resp.cancel_reason == "mvcc: watcher range is empty"


def test_history_replay_from_past_revision(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    put(kv, b"k1", b"a")  # 2
    put(kv, b"k2", b"b")  # 3
    put(kv, b"x", b"c")  # 4
    delete(kv, b"k1")  # 5
    put(kv, b"k2", b"d")  # 6
    wid = stream.create(key=b"k", range_end=b"l", start_revision=3).watch_id
    responses = stream.events_for(wid, 3)
    events = [e for r in responses for e in r.events]
    assert [event_view(e) for e in events] == [
        (PUT, b"k2", b"b", 3),
        (DELETE, b"k1", b"", 5),
        (PUT, b"k2", b"d", 6),
    ]
    assert kvt(events[2].kv) == (b"k2", b"d", 3, 6, 2, 0)
    assert_revisions_not_split(responses)
    put(kv, b"k3", b"e")  # then live events follow
    assert [event_view(e) for e in stream.next_for(wid).events] == [(PUT, b"k3", b"e", 7)]


def test_start_revision_in_the_future(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    wid = stream.create(key=b"k", start_revision=4).watch_id
    put(kv, b"k", b"2")  # 2: before the start
    put(kv, b"k", b"3")  # 3: before the start
    put(kv, b"k", b"4")  # 4
    assert [event_view(e) for e in stream.next_for(wid).events] == [(PUT, b"k", b"4", 4)]


def test_compacted_start_revision_cancels(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    for i in range(4):
        put(kv, b"k", b"%d" % i)  # 2..5
    kv.Compact(rpc_pb2.CompactionRequest(revision=4))
    created = stream.create(key=b"k", start_revision=2)
    canceled = stream.next_for(created.watch_id)
    assert canceled.canceled
    assert canceled.compact_revision == 4
    assert list(canceled.events) == []
    assert canceled.cancel_reason == ""
    assert canceled.header.revision == 0  # etcd states none here
    assert canceled.header.member_id != 0


def test_start_revision_at_compaction_is_allowed(
    kv: rpc_pb2_grpc.KVStub, stream: WatchStream
) -> None:
    for i in range(4):
        put(kv, b"k", b"%d" % i)  # 2..5
    kv.Compact(rpc_pb2.CompactionRequest(revision=4))
    wid = stream.create(key=b"k", start_revision=4).watch_id
    events = [e for r in stream.events_for(wid, 2) for e in r.events]
    assert [event_view(e) for e in events] == [(PUT, b"k", b"2", 4), (PUT, b"k", b"3", 5)]


def test_from_key_watch(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    wid = stream.create(key=b"m", range_end=b"\0").watch_id
    for key in [b"a", b"m", b"l", b"zz"]:
        put(kv, key)
    events = [e for r in stream.events_for(wid, 2) for e in r.events]
    assert [e.kv.key for e in events] == [b"m", b"zz"]


def test_watch_everything(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    wid = stream.create(key=b"\0", range_end=b"\0").watch_id
    for key in [b"\x01", b"m", b"\xff"]:
        put(kv, key)
    events = [e for r in stream.events_for(wid, 3) for e in r.events]
    assert [e.kv.key for e in events] == [b"\x01", b"m", b"\xff"]


def test_prefix_watch(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    wid = stream.create(key=b"foo/", range_end=b"foo0").watch_id
    for key in [b"foo", b"foo/a", b"foo0", b"foo/b"]:
        put(kv, key)
    events = [e for r in stream.events_for(wid, 2) for e in r.events]
    assert [e.kv.key for e in events] == [b"foo/a", b"foo/b"]


def test_prev_kv(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    put(kv, b"k", b"old")  # 2
    wid = stream.create(key=b"k", prev_kv=True).watch_id
    put(kv, b"k", b"new")  # 3
    delete(kv, b"k")  # 4
    put(kv, b"k", b"again")  # 5
    events = [e for r in stream.events_for(wid, 3) for e in r.events]
    assert [event_view(e) for e in events] == [
        (PUT, b"k", b"new", 3),
        (DELETE, b"k", b"", 4),
        (PUT, b"k", b"again", 5),
    ]
    assert kvt(events[0].prev_kv) == (b"k", b"old", 2, 2, 1, 0)
    assert kvt(events[1].prev_kv) == (b"k", b"new", 2, 3, 2, 0)
    assert not events[2].HasField("prev_kv")


def test_prev_kv_in_history_replay(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    put(kv, b"k", b"1")  # 2
    put(kv, b"k", b"2")  # 3
    delete(kv, b"k")  # 4
    wid = stream.create(key=b"k", prev_kv=True, start_revision=2).watch_id
    events = [e for r in stream.events_for(wid, 3) for e in r.events]
    assert [e.prev_kv.value for e in events] == [b"", b"1", b"2"]
    assert not events[0].HasField("prev_kv")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([WCR.NOPUT], [(DELETE, b"k", b"", 4)]),
        ([WCR.NODELETE], [(PUT, b"k", b"1", 2), (PUT, b"k", b"2", 3), (PUT, b"k", b"3", 5)]),
    ],
    ids=["NOPUT", "NODELETE"],
)
def test_filters(
    kv: rpc_pb2_grpc.KVStub, stream: WatchStream, filters: list[int], expected: list[object]
) -> None:
    wid = stream.create(key=b"k", filters=filters).watch_id
    put(kv, b"k", b"1")  # 2
    put(kv, b"k", b"2")  # 3
    delete(kv, b"k")  # 4
    put(kv, b"k", b"3")  # 5
    # a plain watcher on "end", written last, tells when everything was delivered
    barrier = stream.create(key=b"end", start_revision=2).watch_id
    put(kv, b"end")  # 6
    events = []
    while True:
        resp = stream.next()
        if resp.watch_id == barrier:
            break
        assert resp.watch_id == wid
        events.extend(event_view(e) for e in resp.events)
    assert events == expected


def test_both_filters_deliver_nothing(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    wid = stream.create(key=b"k", filters=[WCR.NOPUT, WCR.NODELETE]).watch_id
    put(kv, b"k")
    delete(kv, b"k")
    barrier = stream.create(key=b"end").watch_id
    put(kv, b"end")
    resp = stream.next_matching(lambda r: bool(r.events) or r.watch_id == wid)
    assert resp.watch_id == barrier


def test_cancel(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    wid = stream.create(key=b"k").watch_id
    other = stream.create(key=b"o").watch_id
    stream.cancel(wid)
    resp = stream.next()
    assert resp.canceled
    assert resp.watch_id == wid
    assert not resp.created
    assert resp.cancel_reason == ""
    put(kv, b"k")
    put(kv, b"o")
    after = stream.next()
    assert after.watch_id == other
    assert [e.kv.key for e in after.events] == [b"o"]


def test_watches_go_on_after_the_client_closes_its_side(
    kv: rpc_pb2_grpc.KVStub, stream: WatchStream
) -> None:
    wid = stream.create(key=b"k").watch_id
    stream.close_sending()  # no more requests; the stream stays until canceled
    revision = put(kv, b"k", b"after")
    (response,) = stream.events_for(wid, 1)
    assert [event_view(e) for e in response.events] == [(PUT, b"k", b"after", revision)]


def test_cancel_unknown_watch_is_ignored(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    wid = stream.create(key=b"k").watch_id
    stream.cancel(555)
    put(kv, b"k")
    resp = stream.next()
    assert resp.watch_id == wid
    assert not resp.canceled
    assert [e.kv.key for e in resp.events] == [b"k"]


def test_progress_request(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    stream.create(key=b"k")
    put(kv, b"x")
    put(kv, b"y")
    stream.request_progress()
    resp = stream.next()
    assert resp.watch_id == -1
    assert resp.header.revision == 3
    assert list(resp.events) == []
    assert not resp.created
    assert not resp.canceled


def test_progress_request_without_watchers(stream: WatchStream) -> None:
    stream.request_progress()
    resp = stream.next()
    assert resp.watch_id == -1
    assert resp.header.revision == 1


def test_events_of_one_txn_arrive_in_one_response(
    kv: rpc_pb2_grpc.KVStub, stream: WatchStream
) -> None:
    put(kv, b"p/c", b"old")  # 2
    wid = stream.create(key=b"p/", range_end=b"p0", prev_kv=True).watch_id
    kv.Txn(
        rpc_pb2.TxnRequest(
            success=[op_put(b"p/b", b"1"), op_put(b"p/a", b"2"), op_delete(b"p/c"), op_put(b"x")]
        )
    )  # 3
    resp = stream.next_for(wid)
    assert [event_view(e) for e in resp.events] == [
        (PUT, b"p/b", b"1", 3),
        (PUT, b"p/a", b"2", 3),
        (DELETE, b"p/c", b"", 3),
    ]
    assert resp.header.revision == 3
    assert resp.events[2].prev_kv.value == b"old"


def test_delete_range_events_arrive_in_one_response(
    kv: rpc_pb2_grpc.KVStub, stream: WatchStream
) -> None:
    for key in [b"a", b"b", b"c"]:
        put(kv, key)
    wid = stream.create(key=b"\0", range_end=b"\0").watch_id
    delete(kv, b"a", b"\0")  # 5
    resp = stream.next_for(wid)
    assert [event_view(e) for e in resp.events] == [
        (DELETE, b"a", b"", 5),
        (DELETE, b"b", b"", 5),
        (DELETE, b"c", b"", 5),
    ]


def test_many_watchers_on_one_stream(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    ids = [stream.create(key=b"k").watch_id for _ in range(3)]
    ids.append(stream.create(key=b"k", watch_id=50).watch_id)
    assert ids == [0, 1, 2, 50]
    put(kv, b"k")
    got = {}
    while len(got) < 4:
        resp = stream.next()
        got[resp.watch_id] = [event_view(e) for e in resp.events]
    assert got == {wid: [(PUT, b"k", b"v", 2)] for wid in ids}


def test_revisions_never_go_back_on_a_stream(kv: rpc_pb2_grpc.KVStub, stream: WatchStream) -> None:
    for i in range(5):
        put(kv, b"h", b"%d" % i)  # 2..6
    live = stream.create(key=b"live").watch_id
    replay = stream.create(key=b"h", start_revision=2).watch_id
    for i in range(5):
        put(kv, b"live", b"%d" % i)  # 7..11
    per_watch: dict[int, list[int]] = {live: [], replay: []}
    while len(per_watch[live]) < 5 or len(per_watch[replay]) < 5:
        resp = stream.next()
        per_watch[resp.watch_id].extend(e.kv.mod_revision for e in resp.events)
    assert per_watch == {live: [7, 8, 9, 10, 11], replay: [2, 3, 4, 5, 6]}


def test_two_streams_see_the_same_events(
    kv: rpc_pb2_grpc.KVStub, watch: rpc_pb2_grpc.WatchStub, stream: WatchStream
) -> None:
    with WatchStream(watch) as second:
        a = stream.create(key=b"k").watch_id
        b = second.create(key=b"k").watch_id
        put(kv, b"k", b"1")
        delete(kv, b"k")
        ev_a = [e for r in stream.events_for(a, 2) for e in r.events]
        ev_b = [e for r in second.events_for(b, 2) for e in r.events]
    assert ev_a == ev_b


PROGRESS_FLAG = "--experimental-watch-progress-notify-interval=200ms"


@pytest.fixture
def fast_progress_server(backend: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server process that sends progress notifications every 200 ms."""
    if backend == "etcd":
        proc = etcd_process(tmp_path)
        proc.argv.append(PROGRESS_FLAG)
    else:
        proc = kvstore_process(tmp_path, extra=[PROGRESS_FLAG])
    with running(proc) as started:
        yield started


def test_progress_notify(fast_progress_server: ServerProcess) -> None:
    with open_channel(fast_progress_server.endpoint) as chan:
        kv = rpc_pb2_grpc.KVStub(chan)
        with WatchStream(rpc_pb2_grpc.WatchStub(chan)) as ws:
            quiet = ws.create(key=b"q").watch_id
            notified = ws.create(key=b"n", progress_notify=True, watch_id=9).watch_id
            assert notified == 9
            rev = put(kv, b"other")
            # skip notifications sent before the put was seen
            resp = ws.next_matching(lambda r: r.header.revision == rev, timeout=15)
            for _ in range(2):
                assert resp.watch_id == notified
                assert list(resp.events) == []
                assert not resp.created
                assert not resp.canceled
                assert resp.header.revision == rev
                resp = ws.next(timeout=15)
            assert quiet != notified
