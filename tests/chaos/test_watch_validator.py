"""The watch validator accepts a correct stream and catches each broken guarantee."""

from __future__ import annotations

import copy

from tests.chaos.watch_validator import (
    Kv,
    RecordedEvent,
    RecordedResponse,
    Reference,
    WatchRecord,
    WatchSegment,
    WatchSpec,
    validate,
)


def put(key: bytes, value: bytes, rev: int, create: int, version: int) -> RecordedEvent:
    return RecordedEvent("PUT", Kv(key, value, create, rev, version))


def delete(key: bytes, rev: int) -> RecordedEvent:
    return RecordedEvent("DELETE", Kv(key, b"", 0, rev, 0))


# revision 2: a=1; 3: b=1; 4: a=2 and b=2 (one txn); 5: delete a; 6: a=3 (re-created)
REFERENCE = Reference(
    [
        put(b"a", b"1", 2, 2, 1),
        put(b"b", b"1", 3, 3, 1),
        put(b"a", b"2", 4, 2, 2),
        put(b"b", b"2", 4, 3, 2),
        delete(b"a", 5),
        put(b"a", b"3", 6, 6, 1),
    ]
)
SPEC = WatchSpec(b"a", b"c", prev_kv=True)


def with_prev(events: list[RecordedEvent]) -> list[RecordedEvent]:
    prevs = REFERENCE.prev_states()
    return [RecordedEvent(e.type, e.kv, prevs[(e.revision, e.kv.key)]) for e in events]


def good_record() -> WatchRecord:
    ev = with_prev(REFERENCE.events)
    first = WatchSegment(
        1,
        [
            RecordedResponse(2, [ev[0]]),
            RecordedResponse(3, [ev[1]]),
            RecordedResponse(4, [ev[2], ev[3]]),
            RecordedResponse(4, [], progress=True),
        ],
    )
    second = WatchSegment(5, [RecordedResponse(6, [ev[4], ev[5]]), RecordedResponse(6, [], True)])
    return WatchRecord("w", SPEC, [first, second])


def test_accepts_a_correct_stream() -> None:
    assert validate([good_record()], REFERENCE) == []


def broken(change: str) -> WatchRecord:
    record = copy.deepcopy(good_record())
    first, second = record.segments
    if change == "gap":
        del first.responses[1]  # b=1 at 3 never delivered, yet 4 was
    elif change == "duplicate":
        second.responses.insert(0, RecordedResponse(4, list(first.responses[2].events)))
    elif change == "split":
        events = first.responses[2].events
        first.responses[2:3] = [RecordedResponse(4, events[:1]), RecordedResponse(4, events[1:])]
    elif change == "order":
        first.responses[0], first.responses[1] = first.responses[1], first.responses[0]
    elif change == "bookmark":
        first.responses.insert(1, RecordedResponse(3, [], progress=True))
    elif change == "filter":
        second.responses[0].events.append(RecordedEvent("PUT", Kv(b"zzz", b"x", 6, 6, 1)))
    elif change == "resume":
        second.start = 6  # skipped revision 5
    elif change == "prev_kv":
        e = first.responses[2].events[0]
        first.responses[2].events[0] = RecordedEvent(e.type, e.kv, None)
    elif change == "is_create":
        e = second.responses[0].events[1]
        kv = Kv(e.kv.key, e.kv.value, 2, e.kv.mod_revision, 2)  # "a" re-created as version 2
        second.responses[0].events[1] = RecordedEvent(e.type, kv, e.prev)
    elif change == "value":
        e = first.responses[0].events[0]
        kv = Kv(e.kv.key, b"forged", e.kv.create_revision, e.kv.mod_revision, e.kv.version)
        first.responses[0].events[0] = RecordedEvent(e.type, kv, e.prev)
    else:
        raise AssertionError(change)
    return record


def test_catches_each_broken_guarantee() -> None:
    for change in (
        "gap",
        "duplicate",
        "split",
        "order",
        "bookmark",
        "filter",
        "resume",
        "prev_kv",
        "is_create",
        "value",
    ):
        assert validate([broken(change)], REFERENCE), f"{change} went unnoticed"


def test_type_filter() -> None:
    spec = WatchSpec(b"a", b"c", no_put=True)
    record = WatchRecord("w", spec, [WatchSegment(1, [RecordedResponse(5, [delete(b"a", 5)])])])
    assert validate([record], REFERENCE) == []
    leaked = WatchRecord("w", spec, [WatchSegment(1, [RecordedResponse(2, [REFERENCE.events[0]])])])
    assert validate([leaked], REFERENCE)
