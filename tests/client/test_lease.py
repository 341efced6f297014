"""Leases and keep-alive against a real server."""

from __future__ import annotations

import asyncio

import pytest

from kvstore.client import (
    Client,
    EventType,
    LeaseExistsError,
    LeaseExpiredError,
    LeaseNotFoundError,
    LeaseTTLTooLargeError,
)


async def test_grant_ttl_keys_list_and_revoke(client: Client, ns: bytes) -> None:
    lease = await client.grant(20)
    assert lease.ttl == 20 and lease.id > 0
    await client.put(ns + b"a", b"1", lease=lease.id)
    await client.put(ns + b"b", b"1", lease=lease.id)
    ttl = await client.time_to_live(lease.id, keys=True)
    assert ttl.granted_ttl == 20 and 0 < ttl.ttl <= 20
    assert sorted(ttl.keys) == [ns + b"a", ns + b"b"]
    assert lease.id in await client.leases()

    async with client.watch(ns, prefix=True) as w:
        revoked = await client.revoke(lease.id)
        deletes = []
        async for event in w:
            deletes.append(event)
            if len(deletes) == 2:
                break
    assert {e.type for e in deletes} == {EventType.DELETE}
    assert {e.revision for e in deletes} == {revoked}
    assert (await client.get_prefix(ns)).count == 0
    assert (await client.time_to_live(lease.id)).ttl == -1
    assert lease.id not in await client.leases()


async def test_minimum_ttl_and_chosen_id(client: Client) -> None:
    lease = await client.grant(1, lease_id=0x5EED0001 + (id(client) & 0xFFFF))
    assert lease.ttl >= 1
    with pytest.raises(LeaseExistsError):
        await client.grant(5, lease_id=lease.id)
    await client.revoke(lease.id)


async def test_lease_errors(client: Client) -> None:
    with pytest.raises(LeaseNotFoundError):
        await client.revoke(0x7777777)
    with pytest.raises(LeaseTTLTooLargeError):
        await client.grant(9_000_000_001)


async def test_keep_alive_renews_and_reports_loss(client: Client, ns: bytes) -> None:
    lease = await client.grant(2)
    losses: list[Exception] = []
    async with client.keep_alive(lease.id, on_lost=losses.append) as ka:
        await ka.wait_renewed(3)  # renewed at ttl/3: three renewals outlive nothing
        assert ka.ttl == 2
        assert (await client.time_to_live(lease.id)).ttl > 0
        await client.revoke(lease.id)
        error = await asyncio.wait_for(ka.wait_lost(), 10)
    assert isinstance(error, LeaseExpiredError) and error.lease_id == lease.id
    assert losses == [error]


async def test_keep_alive_keeps_lease_past_its_ttl(client: Client, ns: bytes) -> None:
    lease = await client.grant(2)
    await client.put(ns + b"k", b"v", lease=lease.id)
    async with client.keep_alive(lease.id) as ka:
        await ka.wait_renewed(8)  # about 5 s > 2 s TTL
        assert not ka.lost.is_set()
        assert (await client.get(ns + b"k")).value == b"v"
    await client.revoke(lease.id)
