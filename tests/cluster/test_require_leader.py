"""``hasleader: true`` (clientv3's WithRequireLeader): a member cut off from
the cluster refuses such calls and ends such streams, so that clients move to
a member that sees new writes instead of waiting in silence."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from kvstore.client import Client, Event
from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.kvcluster import Cluster, Member, kv_cluster, retry_write
from tests.support.procs import wait_until

REQUIRE_LEADER = (("hasleader", "true"),)
NO_LEADER = "etcdserver: no leader"


def _isolable_follower(cluster: Cluster) -> Member:
    """The member whose peer links all pass its own proxy (``lowest``: its
    ``proxy.block()`` cuts it off), made a follower."""
    target = cluster.lowest
    leader = cluster.leader()
    if leader is target:
        cluster.make_leader(next(m for m in cluster.members if m is not target))
    return target


def _watch(
    channel: grpc.Channel, key: bytes, metadata: tuple[tuple[str, str], ...] = ()
) -> Iterator[rpc_pb2.WatchResponse]:
    """A watch on ``key`` (created; 90 s at most, so a stream that is never
    ended fails the test with DeadlineExceeded instead of hanging it)."""
    requests: queue.Queue[rpc_pb2.WatchRequest | None] = queue.Queue()
    requests.put(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=key)))
    stream = rpc_pb2_grpc.WatchStub(channel).Watch(
        iter(requests.get, None), metadata=metadata, timeout=90
    )
    assert next(stream).created
    return stream


def _refused_for_no_leader(stub: rpc_pb2_grpc.KVStub) -> bool:
    request = rpc_pb2.RangeRequest(key=b"k", serializable=True)
    try:
        stub.Range(request, metadata=REQUIRE_LEADER, timeout=5)
    except grpc.RpcError as err:
        assert (err.code(), err.details()) == (grpc.StatusCode.UNAVAILABLE, NO_LEADER)
        return True
    return False


def test_a_cut_off_member_ends_the_streams_that_require_a_leader(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        target = _isolable_follower(cluster)
        others = [m for m in cluster.members if m is not target]
        with grpc.insecure_channel(target.endpoint) as channel:
            stub = rpc_pb2_grpc.KVStub(channel)
            assert not _refused_for_no_leader(stub)
            required = _watch(channel, b"k", REQUIRE_LEADER)
            plain = _watch(channel, b"k")

            target.proxy.block()
            # calls that require a leader are refused once the member has none
            wait_until(lambda: _refused_for_no_leader(stub), timeout=30)
            # ... and such a stream is ended, a few election timeouts later
            with pytest.raises(grpc.RpcError) as ended:
                next(required)
            assert (ended.value.code(), ended.value.details()) == (
                grpc.StatusCode.UNAVAILABLE,
                NO_LEADER,
            )
            assert cluster.status(target).leader == 0  # as Status tells it
            # the rest is served as before: a serializable read, the other stream
            local = stub.Range(rpc_pb2.RangeRequest(key=b"k", serializable=True), timeout=5)
            assert local.header.member_id == cluster.status(target).header.member_id

            target.proxy.heal()
            with grpc.insecure_channel(others[0].endpoint) as other:
                put = rpc_pb2.PutRequest(key=b"k", value=b"healed")
                retry_write(lambda: rpc_pb2_grpc.KVStub(other).Put(put, timeout=5))
            (event,) = next(plain).events
            assert event.kv.value == b"healed"
            wait_until(lambda: not _refused_for_no_leader(stub), timeout=30)


async def _first(events: AsyncIterator[Event]) -> Event:
    async for event in events:
        return event
    raise AssertionError("the watch ended")


async def test_the_client_moves_its_watch_off_a_cut_off_member(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        target = _isolable_follower(cluster)
        others = [m.endpoint for m in cluster.members if m is not target]
        async with (
            Client([target.endpoint, *others]) as watcher,
            Client(others) as writer,
            watcher.watch(b"/w/", prefix=True) as events,
        ):
            assert watcher.endpoint == target.endpoint
            target.proxy.block()
            await writer.put(b"/w/during", b"written while the member was cut off")
            # the kvstore client requires a leader: it resumes on another member
            event = await asyncio.wait_for(_first(events), 60)
            assert event.key == b"/w/during"
            assert watcher.endpoint != target.endpoint
