"""Check recorded watch streams against etcd's watch guarantees.

Input: what each watcher received (``WatchRecord``: one or more segments, a new
segment each time the watcher resumed itself at a revision) and the reference
history (``Reference``: every event from revision 1, read at the end by a fresh
watch, which the durability checker compares with a final Range).

Properties (etcd api_guarantees, DESIGN §6):

* filter     — every event is inside the watched range and of a type not filtered out;
* ordered    — event revisions never go back on a stream;
* unique     — a (revision, key) pair is delivered at most once per watcher;
* atomic     — the events of one revision are never split across responses;
* bookmarks  — after a progress notification at R, no event with revision ≤ R;
* reliable   — between a segment's start and the last revision it vouched for (its
               last event, or its last progress notification), it got exactly the
               reference events matching its filter: no gap, nothing invented;
* resumable  — a resumed segment starts exactly one past where the previous ended;
* prev_kv    — present iff asked for, and equal to the key's previous state;
* is-create  — a PUT has version 1 exactly when the key did not exist before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tests.chaos.history import Anomaly

EventKind = Literal["PUT", "DELETE"]


@dataclass(frozen=True)
class Kv:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int


@dataclass(frozen=True)
class RecordedEvent:
    type: EventKind
    kv: Kv
    prev: Kv | None = None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision

    def same(self, other: RecordedEvent) -> bool:
        """Equal ignoring prev_kv (checked on its own)."""
        if self.type != other.type or self.kv.key != other.kv.key:
            return False
        if self.type == "DELETE":
            return self.kv.mod_revision == other.kv.mod_revision
        return self.kv == other.kv


@dataclass
class RecordedResponse:
    revision: int
    events: list[RecordedEvent] = field(default_factory=list)
    progress: bool = False


@dataclass
class WatchSpec:
    key: bytes
    range_end: bytes  # b"" = the single key; b"\0" = every key ≥ key
    prev_kv: bool = False
    no_put: bool = False
    no_delete: bool = False

    def matches(self, event: RecordedEvent) -> bool:
        key = event.kv.key
        if self.range_end == b"":
            inside = key == self.key
        elif self.range_end == b"\0":
            inside = key >= self.key
        else:
            inside = self.key <= key < self.range_end
        if not inside:
            return False
        return not (event.type == "PUT" and self.no_put) and not (
            event.type == "DELETE" and self.no_delete
        )


@dataclass
class WatchSegment:
    """One watch as created: ``start`` is the first revision it must deliver."""

    start: int
    responses: list[RecordedResponse] = field(default_factory=list)

    @property
    def vouched(self) -> int:
        """The last revision this segment guarantees complete (start - 1 if none)."""
        last = self.start - 1
        for response in self.responses:
            if response.events:
                last = max(last, response.events[-1].revision)
            if response.progress:
                last = max(last, response.revision)
        return last


@dataclass
class WatchRecord:
    name: str
    spec: WatchSpec
    segments: list[WatchSegment] = field(default_factory=list)


@dataclass
class Reference:
    """Every event from revision 1 in order, as replayed at the end."""

    events: list[RecordedEvent]

    def prev_states(self) -> dict[tuple[int, bytes], Kv | None]:
        """(revision, key) -> the key's state just before that revision."""
        state: dict[bytes, Kv] = {}
        out: dict[tuple[int, bytes], Kv | None] = {}
        for event in self.events:
            out[(event.revision, event.kv.key)] = state.get(event.kv.key)
            if event.type == "PUT":
                state[event.kv.key] = event.kv
            else:
                state.pop(event.kv.key, None)
        return out

    def final_state(self) -> dict[bytes, Kv]:
        state: dict[bytes, Kv] = {}
        for event in self.events:
            if event.type == "PUT":
                state[event.kv.key] = event.kv
            else:
                state.pop(event.kv.key, None)
        return state


def validate(records: list[WatchRecord], reference: Reference) -> list[Anomaly]:
    anomalies: list[Anomaly] = []
    prevs = reference.prev_states()
    for record in records:
        anomalies += _validate_record(record, reference, prevs)
    return anomalies


def _validate_record(
    record: WatchRecord, reference: Reference, prevs: dict[tuple[int, bytes], Kv | None]
) -> list[Anomaly]:
    out: list[Anomaly] = []

    def bad(detail: str) -> None:
        out.append(Anomaly("watch", f"{record.name}: {detail}"))

    spec = record.spec
    seen: set[tuple[int, bytes]] = set()
    response_of_revision: dict[int, int] = {}
    counter = 0
    previous_end: int | None = None
    for s_index, segment in enumerate(record.segments):
        if previous_end is not None and segment.start != previous_end + 1:
            bad(f"segment {s_index} resumed at {segment.start}, expected {previous_end + 1}")
        last_rev = 0
        bookmark = 0
        got: list[RecordedEvent] = []
        for response in segment.responses:
            counter += 1
            for event in response.events:
                rev, key = event.revision, event.kv.key
                if not spec.matches(event):
                    bad(f"event {event.type} {key!r}@{rev} outside the filter")
                if rev < last_rev:
                    bad(f"revision went back: {rev} after {last_rev}")
                if rev < segment.start:
                    bad(f"event at {rev} before the start revision {segment.start}")
                if rev <= bookmark:
                    bad(f"event at {rev} after a progress notification at {bookmark}")
                if (rev, key) in seen:
                    bad(f"duplicate event {key!r}@{rev}")
                seen.add((rev, key))
                owner = response_of_revision.setdefault(rev, counter)
                if owner != counter:
                    bad(f"revision {rev} split across responses")
                last_rev = max(last_rev, rev)
                got.append(event)
                out += _check_event_fields(record.name, spec, event, prevs)
            if response.progress and not response.events:
                bookmark = max(bookmark, response.revision)
        end = segment.vouched
        expected = [
            e for e in reference.events if segment.start <= e.revision <= end and spec.matches(e)
        ]
        if len(got) != len(expected) or not all(
            a.same(b) for a, b in zip(got, expected, strict=False)
        ):
            missing = [e for e in expected if not any(e.same(g) for g in got)]
            extra = [g for g in got if not any(g.same(e) for e in expected)]
            bad(
                f"segment {s_index} [{segment.start}, {end}]: got {len(got)} events, reference "
                f"has {len(expected)}; missing {_brief(missing)}, unexpected {_brief(extra)}"
            )
        previous_end = end
    return out


def _check_event_fields(
    name: str, spec: WatchSpec, event: RecordedEvent, prevs: dict[tuple[int, bytes], Kv | None]
) -> list[Anomaly]:
    out: list[Anomaly] = []
    where = f"{name}: {event.type} {event.kv.key!r}@{event.revision}"
    index = (event.revision, event.kv.key)
    if index not in prevs:
        return out  # reported as unexpected by the gap check
    before = prevs[index]
    if spec.prev_kv:
        if event.prev != before:
            out.append(Anomaly("watch", f"{where}: prev_kv {event.prev} != {before}"))
    elif event.prev is not None:
        out.append(Anomaly("watch", f"{where}: prev_kv sent but not asked for"))
    if event.type == "PUT":
        created = event.kv.version == 1
        if created != (before is None):
            out.append(Anomaly("watch", f"{where}: version {event.kv.version}, existed={before}"))
        if created and event.kv.create_revision != event.kv.mod_revision:
            out.append(Anomaly("watch", f"{where}: created but create_revision differs"))
    return out


def _brief(events: list[RecordedEvent]) -> str:
    shown = [f"{e.type} {e.kv.key!r}@{e.revision}" for e in events[:5]]
    return "[" + ", ".join(shown) + (", ...]" if len(events) > 5 else "]")
