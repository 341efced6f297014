"""The hub's live fan-out: a lone write goes out at once; with many watchers,
writes committed while one fan-out is recent share the next one; nothing that
states a revision goes out ahead of that revision's events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from kvstore.config import WatchConfig
from kvstore.pb import kv_pb2, rpc_pb2
from kvstore.storage.effects import Effects
from kvstore.storage.keys import KeyRange
from kvstore.watch.hub import WatchHub
from kvstore.watch.watcher import Watcher

WATCHERS = 100
#: 100 watchers: fan-outs at least 0.1 s apart
CONFIG = WatchConfig(fanout_spacing_per_watcher=0.001, max_fanout_spacing=1.0)


class Sink:
    def __init__(self) -> None:
        self.responses: list[rpc_pb2.WatchResponse] = []

    def offer(self, response: rpc_pb2.WatchResponse | bytes) -> bool:
        if isinstance(response, bytes):
            response = rpc_pb2.WatchResponse.FromString(response)
        self.responses.append(response)
        return True

    async def send(self, response: rpc_pb2.WatchResponse) -> None:
        self.offer(response)

    def watcher_synced(self, watcher: Watcher) -> None:
        pass

    def revisions(self) -> list[list[int]]:
        """The events' revisions, one list per response."""
        return [[e.kv.mod_revision for e in r.events] for r in self.responses]


class FakeStore:
    revision = 1  # all the hub reads of a store whose watchers never catch up


def _header(revision: int) -> rpc_pb2.ResponseHeader:
    return rpc_pb2.ResponseHeader(revision=revision)


def _write(revision: int) -> Effects:
    event = kv_pb2.Event(type=kv_pb2.Event.PUT)
    event.kv.key, event.kv.mod_revision = b"/k", revision
    return Effects(events=[(revision, [event])], revision=revision)


@contextmanager
def _hub(watchers: int) -> Iterator[tuple[WatchHub, list[Sink]]]:
    hub = WatchHub(FakeStore(), CONFIG, _header)  # type: ignore[arg-type]
    sinks = [Sink() for _ in range(watchers)]
    for i, sink in enumerate(sinks):
        hub.add(Watcher(watch_id=i, kr=KeyRange.of(b"/", b"0"), sink=sink, next_rev=2))
    yield hub, sinks


def test_a_lone_write_reaches_every_watcher_at_once() -> None:
    async def scenario() -> None:
        with _hub(WATCHERS) as (hub, sinks):
            hub.publish(_write(2))
            assert all(s.revisions() == [[2]] for s in sinks)

    asyncio.run(scenario())


def test_writes_committed_meanwhile_share_the_next_fan_out() -> None:
    async def scenario() -> None:
        with _hub(WATCHERS) as (hub, sinks):
            hub.publish(_write(2))
            hub.publish(_write(3))
            hub.publish(_write(4))
            assert hub.revision == 4
            assert all(s.revisions() == [[2]] for s in sinks), "not spaced"
            await asyncio.sleep(0.2)
            assert all(s.revisions() == [[2], [3, 4]] for s in sinks)
            await hub.aclose()

    asyncio.run(scenario())


def test_one_watcher_is_not_kept_waiting() -> None:
    async def scenario() -> None:
        with _hub(1) as (hub, (sink,)):
            hub.publish(_write(2))
            hub.publish(_write(3))
            await asyncio.sleep(0.01)  # spacing: 1 ms for one watcher
            assert sink.revisions() == [[2], [3]]
            await hub.aclose()

    asyncio.run(scenario())


def test_a_header_is_stated_only_after_its_events_are_queued() -> None:
    """What a progress notification or a catch-up response relies on."""

    async def scenario() -> None:
        with _hub(WATCHERS) as (hub, sinks):
            hub.publish(_write(2))
            hub.publish(_write(3))
            assert hub.header().revision == 3
            assert all(s.revisions() == [[2], [3]] for s in sinks)
            await hub.aclose()

    asyncio.run(scenario())


def test_a_watcher_created_meanwhile_gets_only_later_revisions() -> None:
    async def scenario() -> None:
        with _hub(WATCHERS) as (hub, sinks):
            hub.publish(_write(2))
            hub.publish(_write(3))  # pending
            late = Sink()
            start = hub.revision + 1  # as a watch created now without a start revision
            hub.add(Watcher(watch_id=0, kr=KeyRange.of(b"/", b"0"), sink=late, next_rev=start))
            hub.publish(_write(4))
            hub.flush()
            assert late.revisions() == [[4]]
            assert sinks[0].revisions() == [[2], [3, 4]]
            await hub.aclose()

    asyncio.run(scenario())


def test_a_large_revision_reaches_only_the_watchers_of_its_keys() -> None:
    """A revision of many events (a DeleteRange of a prefix) is matched against
    a watcher's range by its lowest and highest key first: watchers elsewhere
    skip it without looking at each event; the others get exactly theirs."""
    events = []
    for i in range(50):
        event = kv_pb2.Event(type=kv_pb2.Event.DELETE)
        event.kv.key, event.kv.mod_revision = b"/big/%03d" % i, 2
        events.append(event)
    looked: list[int] = []

    class Counting(Watcher):
        def choose(self, events: list[kv_pb2.Event]) -> list[kv_pb2.Event]:
            looked.append(self.watch_id)
            return super().choose(events)

    async def scenario() -> None:
        hub = WatchHub(FakeStore(), CONFIG, _header)  # type: ignore[arg-type]
        ranges = [
            KeyRange.of(b"/registry/", b"/registry0"),  # after every key
            KeyRange.of(b"/a", b"/b"),  # before every key
            KeyRange.of(b"/big/01", b"/big/02"),
            KeyRange.of(b"/big/025"),
            KeyRange.of(b"/", b"\x00"),
        ]
        sinks = [Sink() for _ in ranges]
        for i, (kr, sink) in enumerate(zip(ranges, sinks, strict=True)):
            hub.add(Counting(watch_id=i, kr=kr, sink=sink, next_rev=2))
        hub.publish(Effects(events=[(2, events)], revision=2))
        got = [[e.kv.key for r in s.responses for e in r.events] for s in sinks]
        assert got[0] == [] and got[1] == []
        assert got[2] == [b"/big/%03d" % i for i in range(10, 20)]
        assert got[3] == [b"/big/025"]
        assert len(got[4]) == 50
        assert sorted(looked) == [2, 3, 4]
        await hub.aclose()

    asyncio.run(scenario())
