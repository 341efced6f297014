"""LeaderWatch: streams that require a leader are cut after three checks in
a row without one, as etcd's monitorLeader does."""

from __future__ import annotations

import asyncio

from kvstore.api.leaderwatch import LeaderWatch, requires_leader


def test_the_metadata_asks_for_a_leader_only_with_true() -> None:
    assert requires_leader([("token", "t"), ("hasleader", "true")])
    assert not requires_leader([("hasleader", "false")])
    assert not requires_leader([])


async def test_streams_are_cut_after_three_checks_in_a_row_without_a_leader() -> None:
    leader = [True]
    watch = LeaderWatch(lambda: leader[0], interval=3600.0)
    ready = asyncio.Event()

    async def stream() -> bool:
        held = watch.hold()
        ready.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return held.cut
        finally:
            watch.release(held)
        return False

    task = asyncio.create_task(stream())
    await ready.wait()
    leader[0] = False
    watch.check()
    watch.check()
    leader[0] = True
    watch.check()  # a leader again: the count starts over
    leader[0] = False
    watch.check()
    watch.check()
    await asyncio.sleep(0)
    assert not task.done()
    watch.check()
    assert await asyncio.wait_for(task, 5) is True
    assert watch.misses == 3


async def test_the_watch_task_is_owned_and_stopped() -> None:
    checks: list[bool] = []
    watch = LeaderWatch(lambda: checks.append(True) or True, interval=0.01)
    watch.start()
    await asyncio.sleep(0.1)
    await watch.aclose()
    seen = len(checks)
    assert seen > 0
    await asyncio.sleep(0.05)
    assert len(checks) == seen
