"""Lock and election: semantics, and interop with etcdctl on the same names."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from collections.abc import AsyncIterator

import pytest

from kvstore.client import (
    Client,
    Election,
    KeyValue,
    LeaseExpiredError,
    Lock,
    NoElectedLeaderError,
    NotLeaderError,
    Session,
)
from tests.client.helpers import eventually
from tests.support.procs import ServerProcess

ETCDCTL = shutil.which("etcdctl")
needs_etcdctl = pytest.mark.skipif(ETCDCTL is None, reason="etcdctl is not installed")


@contextlib.asynccontextmanager
async def etcdctl(server: ServerProcess, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run etcdctl against ``server``; always killed and reaped afterwards."""
    assert ETCDCTL is not None
    proc = await asyncio.create_subprocess_exec(
        ETCDCTL,
        f"--endpoints={server.url}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def line(proc: asyncio.subprocess.Process, within: float = 15.0) -> bytes:
    assert proc.stdout is not None
    return (await asyncio.wait_for(proc.stdout.readline(), within)).rstrip(b"\n")


async def count(client: Client, prefix: bytes) -> int:
    return (await client.get_prefix(prefix, count_only=True)).count


async def test_lock_excludes_and_is_fair(client: Client, ns: bytes) -> None:
    name = ns + b"lock"
    async with Session(client, ttl=10) as s1, Session(client, ttl=10) as s2:
        first = Lock(s1, name)
        rev1 = await first.acquire()
        assert first.key == name + b"/" + f"{s1.lease_id:x}".encode()
        assert (await client.get(first.key)).kvs[0].create_revision == rev1
        second = Lock(s2, name)
        assert not await second.try_acquire()
        waiter = asyncio.create_task(second.acquire())
        await eventually(lambda: _has(client, name, 2))
        assert not waiter.done()
        await first.release()
        rev2 = await asyncio.wait_for(waiter, 10)
        assert rev2 > rev1
        await second.release()
        assert await count(client, name + b"/") == 0


async def _has(client: Client, name: bytes, n: int) -> bool:
    return await count(client, name + b"/") == n


async def test_lock_waiter_fails_when_its_session_is_lost(client: Client, ns: bytes) -> None:
    name = ns + b"lock"
    async with Session(client, ttl=10) as s1, Session(client, ttl=10) as s2, Lock(s1, name):
        waiter = asyncio.create_task(Lock(s2, name).acquire())
        await eventually(lambda: _has(client, name, 2))
        await client.revoke(s2.lease_id)
        with pytest.raises(LeaseExpiredError):
            await asyncio.wait_for(waiter, 10)


@needs_etcdctl
async def test_our_lock_excludes_etcdctl_lock(
    client: Client, server: ServerProcess, ns: bytes
) -> None:
    name = ns + b"ctl"
    async with Session(client, ttl=10) as session:
        lock = Lock(session, name)
        await lock.acquire()
        async with etcdctl(server, "lock", name.decode()) as proc:
            await eventually(lambda: _has(client, name, 2))  # etcdctl is queued
            assert proc.stdout is not None
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(proc.stdout.readline(), 0.5)  # and did not acquire
            await lock.release()
            acquired = await line(proc)
            assert acquired.startswith(name + b"/")
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 10)
        await eventually(lambda: _has(client, name, 0))


@needs_etcdctl
async def test_etcdctl_lock_excludes_our_lock(
    client: Client, server: ServerProcess, ns: bytes
) -> None:
    name = ns + b"ctl"
    async with etcdctl(server, "lock", name.decode()) as proc:
        held = await line(proc)
        assert held.startswith(name + b"/")
        holder = await client.get(held)
        assert holder.kv is not None
        async with Session(client, ttl=10) as session:
            lock = Lock(session, name)
            waiter = asyncio.create_task(lock.acquire())
            await eventually(lambda: _has(client, name, 2))
            assert not waiter.done()
            proc.kill()  # etcdctl dies; its lease still holds the key until revoked
            await proc.wait()
            await client.revoke(holder.kv.lease)
            revision = await asyncio.wait_for(waiter, 10)
            assert revision > holder.kv.create_revision
            await lock.release()


async def test_election_campaign_proclaim_observe_resign(client: Client, ns: bytes) -> None:
    name = ns + b"elect"
    async with Session(client, ttl=10) as s1, Session(client, ttl=10) as s2:
        e1, e2 = Election(s1, name), Election(s2, name)
        with pytest.raises(NoElectedLeaderError):
            await e1.leader()
        with pytest.raises(NotLeaderError):
            await e1.proclaim(b"x")
        observed: list[KeyValue] = []
        observer = e2.observe()

        await e1.campaign(b"one")
        observed.append(await asyncio.wait_for(anext(observer), 10))
        assert observed[-1].value == b"one"
        await e1.proclaim(b"two")
        observed.append(await asyncio.wait_for(anext(observer), 10))
        assert observed[-1].value == b"two"
        assert (await e2.leader()).value == b"two"

        candidate = asyncio.create_task(e2.campaign(b"three"))
        await eventually(lambda: _has(client, name, 2))
        assert not candidate.done()
        await e1.resign()
        await asyncio.wait_for(candidate, 10)
        assert (await e1.leader()).value == b"three"
        observed.append(await asyncio.wait_for(anext(observer), 10))
        assert observed[-1].value == b"three"
        await observer.aclose()
        await e2.resign()


@needs_etcdctl
async def test_election_interop_with_etcdctl(
    client: Client, server: ServerProcess, ns: bytes
) -> None:
    name = ns + b"elect"
    async with Session(client, ttl=10) as session:
        ours = Election(session, name)
        await ours.campaign(b"ours")
        async with etcdctl(server, "elect", "-l", name.decode()) as observer:
            assert (await line(observer)).startswith(name + b"/")
            assert await line(observer) == b"ours"
            async with etcdctl(server, "elect", name.decode(), "theirs") as candidate:
                await eventually(lambda: _has(client, name, 2))
                await ours.proclaim(b"ours-2")
                assert (await line(observer)).startswith(name + b"/")
                assert await line(observer) == b"ours-2"
                await ours.resign()
                assert (await line(candidate)).startswith(name + b"/")
                assert await line(candidate) == b"theirs"
                assert (await ours.leader()).value == b"theirs"

                # and back: etcdctl leads, our campaign waits until it is gone
                waiting = asyncio.create_task(ours.campaign(b"ours-3"))
                await eventually(lambda: _has(client, name, 2))
                assert not waiting.done()
                candidate.send_signal(signal.SIGTERM)
                await asyncio.wait_for(candidate.wait(), 10)
                await asyncio.wait_for(waiting, 15)
                assert (await ours.leader()).value == b"ours-3"
        await ours.resign()
