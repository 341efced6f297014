"""A progress request is always answered, also when its answer finds the
stream's send queue full (a slow client): it goes out once there is room."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

from kvstore.api.context import Member
from kvstore.api.watch import PROGRESS_WATCH_ID, WatchStream
from kvstore.config import ServerConfig, WatchConfig
from kvstore.pb import rpc_pb2


def _member(queue_size: int) -> Member:
    config = SimpleNamespace(watch=WatchConfig(send_queue_size=queue_size))
    hub = SimpleNamespace(header=lambda: rpc_pb2.ResponseHeader(revision=7))
    return cast(Member, SimpleNamespace(config=cast(ServerConfig, config), hub=hub))


async def _requests(*requests: rpc_pb2.WatchRequest) -> AsyncIterator[rpc_pb2.WatchRequest]:
    for request in requests:
        yield request


def test_a_progress_answer_that_found_the_queue_full_goes_out_later() -> None:
    async def scenario() -> list[Any]:
        stream = WatchStream(_member(queue_size=1))
        queued = rpc_pb2.WatchResponse(watch_id=3)
        assert stream.offer(queued)  # the queue is full now
        progress = rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest())
        receiving = asyncio.create_task(stream.receive(_requests(progress)))
        await receiving
        got: list[Any] = []

        async def read_two() -> None:
            async for response in stream.responses():
                got.append(response)
                if len(got) == 2:
                    return

        await asyncio.wait_for(read_two(), 5)
        return got

    first, second = asyncio.run(scenario())
    assert first.watch_id == 3
    assert second.watch_id == PROGRESS_WATCH_ID and second.header.revision == 7
