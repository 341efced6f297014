"""The auto-compactor's schedule (``kvstore.api.autocompact``), on a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from kvstore.api.autocompact import AutoCompactor, describe
from kvstore.config import AutoCompaction
from kvstore.errors import CompactedError, NoLeaderError


class World:
    """A fake clock whose sleeps advance it; the store's revision grows by one a second."""

    def __init__(self) -> None:
        self.now = 0.0
        self.leader = True
        self.compactions: list[tuple[float, int]] = []
        self.fail: type[Exception] | None = None

    def revision(self) -> int:
        return 1 + int(self.now)

    async def sleep(self, seconds: float) -> None:
        self.now = round(self.now + seconds, 6)
        await asyncio.sleep(0)

    async def compact(self, revision: int) -> None:
        self.compactions.append((self.now, revision))
        if self.fail is not None:
            raise self.fail()

    def compactor(self, config: AutoCompaction) -> AutoCompactor:
        return AutoCompactor(
            config,
            self.revision,
            lambda: self.leader,
            self.compact,
            clock=lambda: self.now,
            sleep=self.sleep,
        )


async def _advance(world: World, task: asyncio.Future[None], until: float) -> None:
    """Let the compactor run until the fake clock reads ``until`` (its sleeps
    move the clock and yield once: this loop is its scheduler)."""
    while world.now < until and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def _running(compactor: AutoCompactor) -> AsyncIterator[asyncio.Future[None]]:
    task = asyncio.ensure_future(compactor.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _run_until(world: World, compactor: AutoCompactor, until: float) -> None:
    async with _running(compactor) as task:
        await _advance(world, task, until)


@pytest.mark.asyncio
async def test_periodic_compacts_to_the_revision_one_retention_ago() -> None:
    world = World()
    await _run_until(world, world.compactor(AutoCompaction("periodic", 10.0)), 35.0)
    # every 10 s, to the oldest revision noted (a look every second, eleven
    # kept, as etcd: 10-11 s of history stay; the store gains one a second)
    assert world.compactions == [(10.0, 1), (20.0, 10), (30.0, 20)]


@pytest.mark.asyncio
async def test_periodic_over_an_hour_compacts_hourly_and_keeps_the_whole_retention() -> None:
    world = World()
    await _run_until(world, world.compactor(AutoCompaction("periodic", 3 * 3600.0)), 18001.0)
    # the first after the retention, then hourly, to the revision noted 3
    # hours and one look (6 minutes) before
    assert world.compactions == [(10800.0, 1), (14400.0, 3241), (18000.0, 6841)]


@pytest.mark.asyncio
async def test_only_the_leader_compacts_and_failures_are_retried() -> None:
    world = World()
    world.leader = False
    compactor = world.compactor(AutoCompaction("periodic", 10.0))
    async with _running(compactor) as task:
        await _advance(world, task, 25.0)
        assert world.compactions == []
        world.leader, world.fail = True, NoLeaderError
        await _advance(world, task, 28.0)
        # tried at each look (every second) while it fails
        assert [at for at, _ in world.compactions] == [25.0, 26.0, 27.0]
        assert compactor.compacted == 0
        world.fail = CompactedError  # compacted further already: counts as done
        await _advance(world, task, 40.0)
        assert [at for at, _ in world.compactions] == [25.0, 26.0, 27.0, 28.0, 38.0]
        assert compactor.compacted == world.compactions[-1][1]


@pytest.mark.asyncio
async def test_revision_mode_keeps_the_last_revisions_every_interval() -> None:
    world = World()
    config = AutoCompaction("revision", 50.0, revision_interval=300.0)
    await _run_until(world, world.compactor(config), 1000.0)
    assert world.compactions == [(300.0, 251), (600.0, 551), (900.0, 851)]


def test_retention_is_logged_as_etcd_writes_it() -> None:
    assert describe(AutoCompaction("periodic", 2.0)) == "2s"
    assert describe(AutoCompaction("periodic", 3600.0)) == "1h"
    assert describe(AutoCompaction("periodic", 1800.0)) == "30m"
    assert describe(AutoCompaction("revision", 1000.0)) == "1000 revisions"
