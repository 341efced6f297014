"""The lessor's deadlines, on a clock the test moves: only the leader's count."""

from __future__ import annotations

import pytest

from kvstore.config import LeaseConfig
from kvstore.lease.lessor import KEEP_ALIVE, NOT_FOUND, TIME_TO_LIVE, Lessor
from kvstore.storage.effects import Effects


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Leadership:
    def __init__(self, leader: bool) -> None:
        self.leader = leader

    def __call__(self) -> bool:
        return self.leader


async def _never(lease_id: int) -> object:
    raise AssertionError("nothing is revoked here")


def _lessor(clock: Clock, leads: Leadership) -> Lessor:
    # the store is read only by start(), which these tests do not call
    return Lessor(None, LeaseConfig(), _never, leads, clock)  # type: ignore[arg-type]


def test_the_leader_answers_keep_alive_and_time_to_live_questions() -> None:
    clock, leads = Clock(), Leadership(True)
    lessor = _lessor(clock, leads)
    lessor.on_effects(Effects(granted=[(7, 10)]))
    assert lessor.remaining(7) == (10, 10)
    clock.now += 6
    assert lessor.answer((TIME_TO_LIVE, 7)) == (4, 10)
    assert lessor.answer((KEEP_ALIVE, 7)) == (10, 10)
    assert lessor.answer((TIME_TO_LIVE, 7)) == (10, 10)
    assert lessor.answer((KEEP_ALIVE, 8)) == (0, 0)  # unknown: TTL 0, as etcd answers
    assert lessor.answer((TIME_TO_LIVE, 8)) == NOT_FOUND
    with pytest.raises(ValueError):
        lessor.answer(("lease_revoke", 7))


def test_a_new_leader_gives_every_lease_a_full_ttl_before_answering() -> None:
    clock, leads = Clock(), Leadership(False)
    lessor = _lessor(clock, leads)
    lessor.on_effects(Effects(granted=[(7, 10)]))
    lessor.remaining(7)  # seen as a follower
    clock.now += 30  # renewals went to the old leader; this member's deadline is stale
    assert lessor.remaining(7) == (0, 10)
    assert lessor.expired() == [7]
    leads.leader = True  # it takes over: nothing it says may come from the stale deadline
    assert lessor.remaining(7) == (10, 10)
    assert lessor.expired() == []
    clock.now += 11
    assert lessor.expired() == [7]
