"""Watchers on every member that record what they receive, for the watch validator.

Each member gets its own client (that member's endpoint only) with two watches:
everything under the chaos prefix with ``prev_kv``, and the lock keys with the
NOPUT filter. A watcher now and then closes its watch and resumes it itself at one
past the last revision it was vouched (a new :class:`WatchSegment`); the client
also resumes transparently when the member dies. ``settle`` asks for progress until
every watch vouches for the final revision.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from kvstore.client import Client, ClientError, Event, EventType, KeyValue, WatchFilter
from kvstore.client import WatchResponse as ClientResponse
from kvstore.client._types import prefix_end
from tests.chaos.watch_validator import (
    Kv,
    RecordedEvent,
    RecordedResponse,
    WatchRecord,
    WatchSegment,
    WatchSpec,
)
from tests.chaos.workloads import LOCK_NAME, PREFIX


def to_kv(kv: KeyValue) -> Kv:
    return Kv(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version)


def to_event(event: Event) -> RecordedEvent:
    prev = None if event.prev_kv is None else to_kv(event.prev_kv)
    if event.type is EventType.PUT:
        return RecordedEvent("PUT", to_kv(event.kv), prev)
    return RecordedEvent("DELETE", to_kv(event.kv), prev)


def to_response(response: ClientResponse) -> RecordedResponse:
    events = [to_event(e) for e in response.events]
    return RecordedResponse(response.revision, events, response.progress_notify and not events)


@dataclass
class Watcher:
    """One watch spec on one member, re-created at its vouched revision on resume."""

    client: Client
    record: WatchRecord
    rng: random.Random
    resumes: int = 0
    errors: list[str] = field(default_factory=list)

    async def run(self, stop: asyncio.Event, resume_every: float) -> None:
        start = 1
        while not stop.is_set():
            segment = WatchSegment(start)
            self.record.segments.append(segment)
            spec = self.record.spec
            filters = [WatchFilter.NOPUT] if spec.no_put else []
            filters += [WatchFilter.NODELETE] if spec.no_delete else []
            watch = self.client.watch(
                spec.key,
                spec.range_end,
                start_revision=start,
                prev_kv=spec.prev_kv,
                filters=filters,
                progress_notify=True,
            )
            deadline = time.monotonic() + self.rng.uniform(0.5, 2) * resume_every
            try:
                async with watch:
                    async for response in watch.responses():
                        segment.responses.append(to_response(response))
                        if stop.is_set() or time.monotonic() > deadline:
                            break
            except ClientError as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.2)
            start = segment.vouched + 1
            self.resumes += 1

    async def settle(self, final_revision: int, within: float) -> bool:
        """Watch (in a last segment) until it vouches for ``final_revision``."""
        start = self.record.segments[-1].vouched + 1 if self.record.segments else 1
        segment = WatchSegment(start)
        self.record.segments.append(segment)
        spec = self.record.spec
        filters = [WatchFilter.NOPUT] if spec.no_put else []
        watch = self.client.watch(
            spec.key, spec.range_end, start_revision=start, prev_kv=spec.prev_kv, filters=filters
        )
        stage = "creating the watch"
        try:
            async with asyncio.timeout(within), watch:
                stage = "waiting for a response"
                await watch.request_progress()
                async for response in watch.responses():
                    segment.responses.append(to_response(response))
                    stage = f"waiting for a response after revision {response.revision}"
                    if segment.vouched >= final_revision:
                        return True
                    if response.progress_notify:
                        await asyncio.sleep(0.1)
                        await watch.request_progress()
        except (TimeoutError, ClientError) as exc:
            self.errors.append(f"settle, {stage}: {type(exc).__name__}: {exc}")
        return segment.vouched >= final_revision


def specs() -> list[WatchSpec]:
    lock_prefix = LOCK_NAME + b"/"
    return [
        WatchSpec(PREFIX, prefix_end(PREFIX), prev_kv=True),
        WatchSpec(lock_prefix, prefix_end(lock_prefix), no_put=True),
    ]


def make_watchers(members: list[tuple[str, str]], seed: int) -> list[Watcher]:
    """Two watchers per (name, endpoint); the caller closes their clients."""
    out = []
    for name, endpoint in members:
        client = Client([endpoint], dial_timeout=1.0, request_timeout=5.0)
        for i, spec in enumerate(specs()):
            record = WatchRecord(f"{name}/w{i}", spec)
            out.append(Watcher(client, record, random.Random(f"{seed}-watch-{name}-{i}")))
    return out
