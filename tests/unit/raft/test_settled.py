"""A member answers writes to keys before their batch is visible in its store;
its local reads wait until it is (``RaftProposer.settled``).

Driven on a RaftProposer that never starts pysyncobj: the test makes the tick
thread's two calls per batch itself (results before the commit, then results
and effects after it), on the event loop as the tick thread would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from kvstore.errors import StoppedError
from kvstore.pb import kv_pb2, rpc_pb2
from kvstore.raft.fsm import Applied
from kvstore.raft.replicated import Peer, RaftProposer
from kvstore.storage.effects import Effects

ME = Peer(member_id=7, name="m7", address="127.0.0.1:1")


def _proposer(effects_seen: list[Effects]) -> RaftProposer:
    proposer = RaftProposer(
        None,  # type: ignore[arg-type]  # no state machine: nothing is applied here
        ME,
        [ME],
        None,  # type: ignore[arg-type]  # never started
        [effects_seen.append],
        5.0,
        lambda exc: None,
        lambda question: (0, 0),
    )
    proposer._loop = asyncio.get_running_loop()
    return proposer


def _waiting(proposer: RaftProposer, request_id: int) -> asyncio.Future[Any]:
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    proposer._waiting[request_id] = fut
    return fut


async def _turn() -> None:
    """Let the loop run what the 'tick thread' scheduled."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_write_is_answered_before_its_batch_is_visible_and_reads_wait() -> None:
    effects_seen: list[Effects] = []
    proposer = _proposer(effects_seen)
    put_done, grant_done = _waiting(proposer, 11), _waiting(proposer, 12)
    batch = [
        Applied(5, rpc_pb2.PutResponse(), 9, member_id=ME.member_id, request_id=11),
        Applied(6, rpc_pb2.LeaseGrantResponse(ID=3), 9, member_id=ME.member_id, request_id=12),
    ]
    await proposer.settled()  # nothing answered early yet: no wait

    proposer._on_released_threadsafe(batch, Effects(revision=9))  # before the commit
    await _turn()
    assert put_done.done(), "the write was not answered before its commit"
    assert not grant_done.done(), "a lease grant was answered before its effects were out"
    read = asyncio.ensure_future(proposer.settled())
    await asyncio.sleep(0.05)
    assert not read.done(), "a read went on before the answered write was visible"

    proposer._on_applied_threadsafe(batch, Effects(revision=9))  # after the commit
    await asyncio.wait_for(read, 1)
    assert [e.revision for e in effects_seen] == [9], "the read went on before the effects"
    assert grant_done.done() and grant_done.result().ID == 3
    await proposer.settled()


async def test_other_members_writes_are_not_answered_here() -> None:
    proposer = _proposer([])
    fut = _waiting(proposer, 11)
    proposer._on_released_threadsafe(
        [Applied(5, rpc_pb2.PutResponse(), 9, member_id=ME.member_id + 1, request_id=11)],
        Effects(revision=9),
    )
    await _turn()
    assert not fut.done()
    await asyncio.wait_for(proposer.settled(), 1)  # nothing of this member's is pending


async def test_a_waiting_read_fails_when_the_member_stops() -> None:
    proposer = _proposer([])
    _waiting(proposer, 11)
    proposer._on_released_threadsafe(
        [Applied(5, rpc_pb2.PutResponse(), 9, member_id=ME.member_id, request_id=11)],
        Effects(revision=9),
    )
    await _turn()
    read = asyncio.ensure_future(proposer.settled())
    await _turn()
    await proposer.aclose()
    with pytest.raises(StoppedError):
        await asyncio.wait_for(read, 1)


def _event(revision: int) -> kv_pb2.Event:
    event = kv_pb2.Event(type=kv_pb2.Event.PUT)
    event.kv.key, event.kv.mod_revision = b"k", revision
    return event


async def test_watch_events_go_out_at_release_once_and_reads_wait_for_them() -> None:
    """Another member's write: nothing to answer here, but its events go out
    before the commit, so a read here waits until the store shows them. A
    batch released twice (redone after a full map) publishes its events once."""
    effects_seen: list[Effects] = []
    proposer = _proposer(effects_seen)
    batch = [Applied(5, rpc_pb2.PutResponse(), 9, member_id=ME.member_id + 1, request_id=11)]
    effects = Effects(events=[(9, [_event(9)])], revision=9)
    proposer._on_released_threadsafe(batch, effects)
    proposer._on_released_threadsafe(batch, effects)
    await _turn()
    assert [[rev for rev, _ in e.events] for e in effects_seen] == [[9]]
    read = asyncio.ensure_future(proposer.settled())
    await asyncio.sleep(0.05)
    assert not read.done(), "a read went on before the published event's write was visible"
    proposer._on_applied_threadsafe(batch, effects)
    await asyncio.wait_for(read, 1)
    assert [[rev for rev, _ in e.events] for e in effects_seen] == [[9], []], "published twice"


class _Node:
    """What ``settled`` asks of the tick thread, run when the test says so."""

    def __init__(self) -> None:
        self.calls: list[Callable[[], None]] = []
        self.commits = 0

    def call_on_tick(self, call: Callable[[], None]) -> None:
        self.calls.append(call)

    def commit_held(self) -> None:
        self.commits += 1


async def test_a_waiting_read_has_the_held_batches_committed() -> None:
    proposer = _proposer([])
    node = proposer._node = _Node()  # type: ignore[assignment]
    batch = [Applied(5, rpc_pb2.PutResponse(), 9, member_id=ME.member_id, request_id=11)]
    proposer._on_released_threadsafe(batch, Effects(revision=9))
    await _turn()
    reads = [asyncio.ensure_future(proposer.settled()) for _ in range(3)]
    await _turn()
    assert len(node.calls) == 1, "no commit asked for, or one per read"
    node.calls.pop()()
    assert node.commits == 1
    proposer._on_applied_threadsafe(batch, Effects(revision=9))
    await asyncio.wait_for(asyncio.gather(*reads), 1)
