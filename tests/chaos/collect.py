"""Read back what each member holds once the cluster is healed and caught up."""

from __future__ import annotations

import asyncio

from kvstore.client import Client
from tests.chaos.durability import MemberState
from tests.chaos.watch_validator import RecordedEvent, Reference
from tests.chaos.watching import to_event, to_kv


async def replay(client: Client, final_revision: int, within: float = 60.0) -> Reference:
    """Every event from revision 1 to ``final_revision`` (all keys, with prev_kv)."""
    events: list[RecordedEvent] = []
    if final_revision < 2:
        return Reference(events)
    async with (
        asyncio.timeout(within),
        client.watch(b"\0", b"\0", start_revision=1, prev_kv=True) as watch,
    ):
        async for response in watch.responses():
            events += [to_event(e) for e in response.events]
            if events and events[-1].revision >= final_revision:
                break
    return Reference([e for e in events if e.revision <= final_revision])


async def member_state(name: str, endpoint: str, revision: int) -> MemberState:
    """History, final Range (serializable, at ``revision``) and HashKV of one member."""
    async with Client([endpoint], dial_timeout=2.0, request_timeout=20.0) as client:
        history = await replay(client, revision)
        final = await client.range(b"\0", b"\0", revision=revision, serializable=True)
        hashed = await client.hash_kv(revision, endpoint=endpoint)
    return MemberState(
        name, revision, history, {kv.key: to_kv(kv) for kv in final.kvs}, int(hashed.hash)
    )
