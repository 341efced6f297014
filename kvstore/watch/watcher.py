"""One watch: what it selects, where it stands, and how its events are shaped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from kvstore.pb import kv_pb2, rpc_pb2
from kvstore.storage.keys import KeyRange

NOPUT = rpc_pb2.WatchCreateRequest.NOPUT
NODELETE = rpc_pb2.WatchCreateRequest.NODELETE


class Sink(Protocol):
    """Where a watcher's responses go: one per watch stream, bounded."""

    def offer(self, response: rpc_pb2.WatchResponse | bytes) -> bool:
        """Queue without waiting; False when the stream's buffer is full.
        ``bytes``: a response already encoded, its header complete."""

    async def send(self, response: rpc_pb2.WatchResponse) -> None:
        """Queue, waiting for room."""

    def watcher_synced(self, watcher: Watcher) -> None:
        """Called when a watcher caught up with the hub."""


@dataclass(eq=False)
class Watcher:
    watch_id: int
    kr: KeyRange
    sink: Sink
    next_rev: int  # the first revision not yet delivered
    prev_kv: bool = False
    filters: frozenset[int] = frozenset()
    progress_notify: bool = False
    synced: bool = False
    canceled: bool = False
    #: set when an event was sent since the last progress notification
    active: bool = False
    catchup_running: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    def choose(self, events: list[kv_pb2.Event]) -> list[kv_pb2.Event]:
        """The events of one revision this watcher receives, as they are (with
        ``prev_kv`` whether it asked or not)."""
        out: list[kv_pb2.Event] = []
        for ev in events:
            if not self.kr.contains(ev.kv.key):
                continue
            if ev.type == kv_pb2.Event.PUT and NOPUT in self.filters:
                continue
            if ev.type == kv_pb2.Event.DELETE and NODELETE in self.filters:
                continue
            out.append(ev)
        return out

    def select(self, events: list[kv_pb2.Event]) -> list[kv_pb2.Event]:
        """The events of one revision this watcher receives, shaped for it."""
        return [shape(ev, self.prev_kv) for ev in self.choose(events)]


def shape(event: kv_pb2.Event, prev_kv: bool) -> kv_pb2.Event:
    """``event`` as a watcher sees it: without ``prev_kv`` unless it asked."""
    if prev_kv or not event.HasField("prev_kv"):
        return event
    return kv_pb2.Event(type=event.type, kv=event.kv)
