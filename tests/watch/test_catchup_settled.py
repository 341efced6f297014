"""A Raft member publishes a batch's events before its LMDB commit: a watcher
catching up from the store must wait until the store shows what was published,
or the revisions in between are skipped for good."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from kvstore.config import LeaseConfig, WatchConfig
from kvstore.pb import command_pb2, rpc_pb2
from kvstore.raft.fsm import Entry, StateMachine
from kvstore.storage.keys import KeyRange
from kvstore.watch.hub import WatchHub
from kvstore.watch.watcher import Watcher
from tests.support.stores import started_store
from tests.watch.test_fanout import Sink


def _put(key: bytes) -> bytes:
    return command_pb2.Command(put=rpc_pb2.PutRequest(key=key, value=b"v")).SerializeToString()


async def _synced(watcher: Watcher, within: float) -> bool:
    """Whether ``watcher`` is synced within ``within`` seconds."""
    for _ in range(int(within / 0.01)):
        if watcher.synced:
            return True
        await asyncio.sleep(0.01)
    return watcher.synced


def _run(tmp_path: Path, scenario: Callable[[StateMachine], Awaitable[None]]) -> None:
    """Run ``scenario`` with a state machine on a fresh store."""
    store = started_store(tmp_path)
    try:
        asyncio.run(scenario(StateMachine(store, LeaseConfig())))
    finally:
        store.close()


async def _revisions_from_the_start(hub: WatchHub, within: float) -> list[int]:
    """The revisions a watcher of everything from revision 1 received, once it is synced."""
    sink = Sink()
    watcher = Watcher(watch_id=1, kr=KeyRange.of(b"/", b"0"), sink=sink, next_rev=1)
    hub.add(watcher)  # catches up from the store
    assert await _synced(watcher, within)
    await hub.aclose()
    return [rev for revs in sink.revisions() for rev in revs]


def test_catch_up_waits_until_the_store_shows_the_published_revisions(tmp_path: Path) -> None:
    async def scenario(fsm: StateMachine) -> None:
        visible = asyncio.Event()
        hub = WatchHub(
            fsm.store, WatchConfig(), lambda rev: rpc_pb2.ResponseHeader(revision=rev), visible.wait
        )
        fsm.apply_batch([Entry(1, 1, _put(b"/a"))])  # revision 2, committed
        _, effects = fsm.apply_batch([Entry(2, 1, _put(b"/b"))], hold=True)  # 3, held
        hub.publish(effects)  # as the proposer does when the batch is released

        async def commit_later() -> None:  # revision 3 is not in the store yet
            await asyncio.sleep(0.1)
            fsm.commit_held()
            visible.set()

        committing = asyncio.create_task(commit_later())
        assert await _revisions_from_the_start(hub, within=1.0) == [2, 3]
        await committing

    _run(tmp_path, scenario)


def test_a_failed_catch_up_step_is_tried_again(tmp_path: Path) -> None:
    async def scenario(fsm: StateMachine) -> None:
        calls = 0

        async def settled() -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("the store is not readable for a moment")

        hub = WatchHub(
            fsm.store, WatchConfig(), lambda rev: rpc_pb2.ResponseHeader(revision=rev), settled
        )
        fsm.apply_batch([Entry(1, 1, _put(b"/a"))])  # revision 2
        hub.publish(fsm.apply_batch([Entry(2, 1, _put(b"/b"))])[1])  # revision 3
        assert await _revisions_from_the_start(hub, within=3.0) == [2, 3]
        assert calls >= 2

    _run(tmp_path, scenario)
