"""Failover and the retry contract, with real processes (a 3-member etcd cluster)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from kvstore.client import Client, ClientError, Event, OutcomeUnknownError, RequestTimeoutError
from tests.support.cluster_etcd import etcd_cluster
from tests.support.procs import ServerProcess, etcd_binary, free_port
from tests.support.progress import next_is_progress

needs_etcd = pytest.mark.skipif(etcd_binary() is None, reason="etcd is not installed")


async def test_get_and_put_fail_over_from_a_dead_first_endpoint(server: ServerProcess) -> None:
    dead = f"127.0.0.1:{free_port()}"
    async with Client([dead, server.endpoint], dial_timeout=2.0) as c:
        # nothing listens on `dead`: the put provably was not sent there, so it is retried
        written = await c.put(b"/failover/k", b"v")
        got = await c.get(b"/failover/k")
        assert got.value == b"v" and got.kv is not None
        assert got.kv.mod_revision == written.revision
        assert c.endpoint == server.endpoint


async def test_unanswered_write_is_outcome_unknown_not_retried(
    fresh_server: ServerProcess,
) -> None:
    async with Client([fresh_server.endpoint], request_timeout=1.0) as c:
        await c.put(b"k", b"before")
        assert fresh_server.proc is not None
        fresh_server.proc.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(OutcomeUnknownError) as unknown:
                await c.put(b"k", b"maybe")
            assert unknown.value.code is not None
            with pytest.raises(RequestTimeoutError):
                await c.get(b"k")
        finally:
            fresh_server.proc.send_signal(signal.SIGCONT)
        # the write was sent exactly once: it is either applied once or not at all
        got = await c.get(b"k")
        assert got.kv is not None and got.kv.version in (1, 2)


@needs_etcd
async def test_get_fails_over_when_a_cluster_member_is_killed(tmp_path: Path) -> None:
    with etcd_cluster(tmp_path) as members:
        async with Client([m.endpoint for m in members], dial_timeout=2.0) as c:
            await c.put(b"k", b"v")
            members[0].kill()
            assert (await c.get(b"k")).value == b"v"
            assert c.endpoint != members[0].endpoint


async def _write(c: Client, n: int) -> None:
    """Put n keys, retrying failures (an unknown outcome may apply twice: fine,
    the check compares against the replayed history, not against this list)."""
    for i in range(n):
        while True:
            try:
                await c.put(f"/h/{i:04d}".encode(), f"{i}".encode())
                break
            except ClientError:
                await asyncio.sleep(0.05)


@needs_etcd
async def test_watch_resumes_on_another_member_without_gap_or_duplicate(
    tmp_path: Path,
) -> None:
    n = 300
    with etcd_cluster(tmp_path) as members:
        victim, *survivors = members
        async with (
            Client([m.endpoint for m in members], dial_timeout=2.0) as watcher,
            Client([m.endpoint for m in survivors], dial_timeout=2.0) as writer,
        ):
            start = (await writer.get(b"/h/")).revision + 1
            seen: list[Event] = []
            async with watcher.watch(b"/h/", prefix=True, start_revision=start) as w:
                assert watcher.endpoint == victim.endpoint
                writing = asyncio.create_task(_write(writer, n))
                try:
                    async for event in w:
                        seen.append(event)
                        if len(seen) == n // 3:
                            victim.kill()  # SIGKILL the member serving this watch
                        if event.key == f"/h/{n - 1:04d}".encode():
                            break
                finally:
                    await asyncio.wait_for(writing, 60)
            assert watcher.endpoint != victim.endpoint

            # the full history, replayed from a surviving member
            history: list[Event] = []
            end = (await writer.get(b"/h/")).revision
            async with writer.watch(b"/h/", prefix=True, start_revision=start) as replay:
                async for event in replay:
                    history.append(event)
                    if event.revision >= end:
                        break
            cut = len(seen)
            assert [(e.revision, e.key, e.kv.value) for e in seen] == [
                (e.revision, e.key, e.kv.value) for e in history[:cut]
            ]
            revisions = [e.revision for e in seen]
            assert revisions == sorted(set(revisions))


async def test_progress_request_lost_with_the_stream_is_asked_again(
    fresh_server: ServerProcess,
) -> None:
    async with Client([fresh_server.endpoint], dial_timeout=1.0) as c, c.watch(b"/quiet") as w:
        written = await c.put(b"/elsewhere", b"v")
        fresh_server.kill()  # the stream breaks: asked on it or on none, it is lost
        await w.request_progress()
        fresh_server.start()
        await next_is_progress(w, written.revision, 20)
