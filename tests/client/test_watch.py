"""Watches against a real server: events, replay, filters, progress, multiplexing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from kvstore.client import Client, Event, EventType, Watch, WatchFilter
from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.procs import ServerProcess
from tests.support.progress import next_is_progress


async def take(watch: Watch, n: int, within: float = 10.0) -> list[Event]:
    """The next ``n`` events of ``watch`` (fails rather than hangs)."""
    out: list[Event] = []

    async def collect() -> None:
        async for event in watch:
            out.append(event)
            if len(out) == n:
                return

    await asyncio.wait_for(collect(), within)
    return out


async def test_watch_key_sees_puts_and_deletes_with_prev_kv(client: Client, ns: bytes) -> None:
    key = ns + b"w"
    async with client.watch(key, prev_kv=True) as w:
        p1 = await client.put(key, b"1")
        p2 = await client.put(key, b"2")
        d = await client.delete(key)
        await client.put(ns + b"other", b"x")
        events = await take(w, 3)
    assert [e.type for e in events] == [EventType.PUT, EventType.PUT, EventType.DELETE]
    assert [e.revision for e in events] == [p1.revision, p2.revision, d.revision]
    assert events[0].prev_kv is None
    assert events[1].prev_kv is not None and events[1].prev_kv.value == b"1"
    assert events[2].prev_kv is not None and events[2].prev_kv.value == b"2"
    assert events[2].kv.key == key and events[2].kv.value == b""
    assert w.revision >= d.revision


async def test_watch_prefix_replays_from_start_revision(client: Client, ns: bytes) -> None:
    first = await client.put(ns + b"a", b"1")
    await client.put(ns + b"b", b"2")
    await client.put(ns + b"a", b"3")
    async with client.watch(ns, prefix=True, start_revision=first.revision) as w:
        events = await take(w, 3)
    assert [(e.key, e.kv.value) for e in events] == [
        (ns + b"a", b"1"),
        (ns + b"b", b"2"),
        (ns + b"a", b"3"),
    ]


async def test_watch_filters(client: Client, ns: bytes) -> None:
    async with client.watch(ns, prefix=True, filters=[WatchFilter.NOPUT]) as w:
        await client.put(ns + b"a", b"1")
        deleted = await client.delete(ns + b"a")
        events = await take(w, 1)
    assert events[0].type is EventType.DELETE and events[0].revision == deleted.revision


async def test_many_watches_share_one_stream_and_cancel_independently(
    client: Client, ns: bytes
) -> None:
    async with client.watch(ns + b"x") as wx:
        async with client.watch(ns + b"y") as wy:
            await client.put(ns + b"y", b"1")
            assert [e.key for e in await take(wy, 1)] == [ns + b"y"]
        # wy is canceled; wx still works on the same stream
        await client.put(ns + b"y", b"2")
        await client.put(ns + b"x", b"1")
        assert [e.key for e in await take(wx, 1)] == [ns + b"x"]


async def test_request_progress_gives_progress_notification(client: Client, ns: bytes) -> None:
    async with client.watch(ns + b"quiet") as w:
        written = await client.put(ns + b"elsewhere", b"v")
        await w.request_progress()
        await next_is_progress(w, written.revision, 10)


async def test_events_of_one_txn_arrive_together(client: Client, ns: bytes) -> None:
    from kvstore.client import put

    async with client.watch(ns, prefix=True) as w:
        result = await client.txn().then(put(ns + b"a", b"1"), put(ns + b"b", b"1")).commit()

        async def first_response() -> list[Event]:
            async for response in w.responses():
                return response.events
            return []

        events = await asyncio.wait_for(first_response(), 10)
    assert [e.revision for e in events] == [result.revision, result.revision]


async def test_client_closes_right_after_a_watch_is_abandoned(server: ServerProcess) -> None:
    """A watch given up while its stream opens (Ctrl-C in ``kvctl watch -i``),
    then the client closed a moment later: grpc.aio left the stream's read
    waiting for a status that only closing the channel brings, and ``aclose``
    waited for that read (4 times in 20 with a 1 ms pause)."""
    for attempt in range(24):
        client = await Client([server.endpoint]).open()
        watch = client.watch(b"/abandoned")
        entering = asyncio.ensure_future(watch.__aenter__())
        await asyncio.sleep(0.001 * (attempt % 2))
        entering.cancel()
        await asyncio.gather(entering, return_exceptions=True)
        await asyncio.sleep(0.001)
        closing = asyncio.ensure_future(client.aclose())
        done, _ = await asyncio.wait({closing}, timeout=10)
        if not done:
            await client._conn.aclose()  # what frees the read, so the test can end
        assert done, f"aclose still waiting after 10 s (attempt {attempt})"


@pytest.mark.parametrize(
    "failure",
    [RuntimeError("unforeseen"), asyncio.CancelledError()],
    ids=["exception", "call-cancelled"],
)
async def test_watches_outlive_a_stream_that_fails_unforeseen(
    client: Client, ns: bytes, failure: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream that ends in a way the hub does not expect (a bug, or grpc
    cancelling the call itself: ``read()`` then raises CancelledError) is
    resumed like a lost one. The hub used to end with it, and every watch of
    the client, and every watch created after, waited forever."""
    hub = client._hub
    dispatch = hub._dispatch
    failed: list[int] = []

    def failing_once(pb: rpc_pb2.WatchResponse) -> None:
        if pb.events and not failed:
            failed.append(pb.header.revision)
            raise failure
        dispatch(pb)

    monkeypatch.setattr(hub, "_dispatch", failing_once)
    key = ns + b"k"
    async with client.watch(key) as w:
        first = await client.put(key, b"1")
        second = await client.put(key, b"2")
        events = await take(w, 2)
    assert failed == [first.revision]
    assert [e.revision for e in events] == [first.revision, second.revision]
    async with client.watch(ns + b"later") as later:
        third = await client.put(ns + b"later", b"3")
        assert [e.revision for e in await take(later, 1)] == [third.revision]


class _Mute(rpc_pb2_grpc.WatchServicer):  # type: ignore[misc]
    """A member whose watch streams take every request and answer none."""

    async def Watch(
        self, request_iterator: AsyncIterator[rpc_pb2.WatchRequest], context: object
    ) -> AsyncIterator[rpc_pb2.WatchResponse]:
        async for _ in request_iterator:
            pass
        if False:  # an async generator that yields nothing
            yield rpc_pb2.WatchResponse()


async def test_a_watch_create_left_unanswered_gives_the_stream_up(
    server: ServerProcess, client: Client, ns: bytes
) -> None:
    """The hub used to wait for ever on a create its member never answered
    (and every watch after it); now, after the request timeout, it resumes
    the stream on another endpoint."""
    mute = grpc.aio.server()
    rpc_pb2_grpc.add_WatchServicer_to_server(_Mute(), mute)
    port = mute.add_insecure_port("127.0.0.1:0")
    await mute.start()
    try:
        async with Client([f"127.0.0.1:{port}", server.endpoint], request_timeout=1.0) as both:
            key = ns + b"k"
            async with both.watch(key) as w:
                put = await client.put(key, b"v")
                events = await take(w, 1)
            assert [e.revision for e in events] == [put.revision]
            assert both._hub.creates_unanswered == 1
    finally:
        await mute.stop(None)
