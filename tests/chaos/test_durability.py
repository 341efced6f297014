"""The durability, transfer and fencing checks accept correct states and catch broken ones."""

from __future__ import annotations

import copy

from tests.chaos.durability import MemberState, check_durability, check_fencing, check_transfers
from tests.chaos.history import AckedWrite
from tests.chaos.watch_validator import Kv, RecordedEvent, Reference

EVENTS = [
    RecordedEvent("PUT", Kv(b"a", b"1", 2, 2, 1)),
    RecordedEvent("PUT", Kv(b"a", b"2", 2, 3, 2)),
    RecordedEvent("PUT", Kv(b"b", b"1", 4, 4, 1)),
]
ACKED = [AckedWrite(b"a", b"1", 2), AckedWrite(b"a", b"2", 3), AckedWrite(b"b", b"1", 4)]


def member(name: str) -> MemberState:
    history = Reference(list(EVENTS))
    return MemberState(name, 4, history, history.final_state(), 1234)


def test_accepts_agreeing_members() -> None:
    assert check_durability(ACKED, [member("m1"), member("m2"), member("m3")]) == []


def test_catches_a_lost_acknowledged_write() -> None:
    lossy = member("m2")
    lossy.history = Reference(EVENTS[:2])
    lossy.final = lossy.history.final_state()
    assert check_durability(ACKED, [member("m1"), lossy])


def test_catches_a_write_acknowledged_with_the_wrong_revision() -> None:
    assert check_durability([AckedWrite(b"a", b"2", 2)], [member("m1")])


def test_catches_diverging_hashes_and_histories() -> None:
    other = member("m2")
    other.hash = 99
    assert check_durability(ACKED, [member("m1"), other])
    forked = copy.deepcopy(member("m3"))
    forked.history.events[2] = RecordedEvent("PUT", Kv(b"b", b"X", 4, 4, 1))
    forked.final = forked.history.final_state()
    assert check_durability([], [member("m1"), forked])


def test_catches_range_that_disagrees_with_history() -> None:
    odd = member("m1")
    odd.final = {b"a": Kv(b"a", b"1", 2, 2, 1)}
    assert check_durability(ACKED, [odd])


def test_transfers_and_fencing() -> None:
    assert check_transfers(10, [(5, {b"x": 4, b"y": 6})]) == []
    assert check_transfers(10, [(5, {b"x": 4, b"y": 7})])
    assert check_fencing([(10, 5), (11, 5), (14, 9)]) == []
    assert check_fencing([(10, 5), (12, 9), (13, 5)])  # token 5 wrote after 9 held
