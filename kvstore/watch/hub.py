"""The watch hub: fans committed events out to watchers, catches up slow ones.

Every watcher is either *synced* (the hub hands it each new revision in the
next fan-out, see ``publish``) or *catching up* (a task reads its missing revisions from LMDB). A
synced watcher whose stream buffer is full drops back to catching up instead of
growing memory; nothing is lost because it resumes from ``next_rev``. All of
this runs on the event loop thread; only the LMDB reads run in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from kvstore.config import WatchConfig
from kvstore.pb import kv_pb2, rpc_pb2
from kvstore.storage.effects import Effects
from kvstore.storage.store import MvccStore
from kvstore.watch.encoding import BatchEncoder, HeaderFn
from kvstore.watch.watcher import Watcher

logger = logging.getLogger(__name__)

# events per response while catching up; a revision is never split
CATCHUP_EVENTS_PER_RESPONSE = 1000
#: a revision with more events than this is first checked against each
#: watcher's range as a whole, by its lowest and highest key: a watcher whose
#: range lies outside skips it without looking at every event (a DeleteRange
#: of 144,000 keys, checked event by event by each of a cluster's control-
#: plane watchers, kept a member's event loop busy for seconds)
SPAN_CHECK_EVENTS = 16
#: (lowest key, highest key) of a revision's events
Span = tuple[bytes, bytes]
#: seconds before a failed catch-up step is tried again
CATCHUP_RETRY_DELAY = 0.5


class WatchHub:
    def __init__(
        self,
        store: MvccStore,
        config: WatchConfig,
        header: HeaderFn,
        settled: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        #: waits until the store shows every published revision (a Raft
        #: member publishes events before its LMDB commit)
        self._settled = settled
        self._config = config
        self._header = header
        self.revision = store.revision
        self._synced: set[Watcher] = set()
        self._all: set[Watcher] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        #: committed revisions published but not yet handed to synced watchers
        self._pending: list[tuple[int, list[kv_pb2.Event]]] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_fanout = float("-inf")
        #: how often a synced watcher fell back to catch-up (full stream buffer)
        self.fallbacks = 0

    @property
    def watcher_count(self) -> int:
        return len(self._all)

    def header(self) -> rpc_pb2.ResponseHeader:
        """A header at the hub's revision. Every event up to it is queued to
        the synced watchers first: a response never states a revision whose
        events are still to come (progress notifications rely on it)."""
        self.flush()
        return self._header(self.revision)

    # ---- membership -------------------------------------------------------

    def add(self, watcher: Watcher) -> None:
        """Start delivering to ``watcher`` from ``watcher.next_rev``."""
        self._all.add(watcher)
        if watcher.next_rev > self.revision:
            watcher.synced = True
            self._synced.add(watcher)
        else:
            self._start_catchup(watcher)

    def remove(self, watcher: Watcher) -> None:
        watcher.canceled = True
        self._synced.discard(watcher)
        self._all.discard(watcher)

    # ---- live path --------------------------------------------------------

    def publish(self, effects: Effects) -> None:
        """Take a committed batch (called on the loop, in commit order).

        A synced watcher gets one response for all of its events of a
        fan-out (several revisions, each whole, as in catch-up; at most
        ``CATCHUP_EVENTS_PER_RESPONSE`` events unless one revision has more):
        every response costs a gRPC message on every stream. Fan-outs are
        spaced by ``fanout_spacing_per_watcher`` per synced watcher (at most
        ``max_fanout_spacing``): a lone write goes out at once, but with many
        watchers, writes that commit meanwhile share the next fan-out instead
        of each paying for a message to every watcher. (grpcio's asyncio
        server takes in about one call per event-loop turn, and a fan-out to
        1,000 watchers makes that turn long: without the spacing each write
        was fanned out alone, 25-30 writes/s.)
        """
        if effects.reset:
            # The state was replaced by a snapshot: everyone re-reads from LMDB.
            self.flush()
            self.revision = effects.revision
            for watcher in list(self._synced):
                self._synced.discard(watcher)
                self._start_catchup(watcher)
            return
        if effects.events:
            self._pending.extend(effects.events)
            self.revision = effects.events[-1][0]
        self.revision = max(self.revision, effects.revision)
        if not self._pending or self._flush_handle is not None:
            return
        loop = asyncio.get_running_loop()
        cfg = self._config
        spacing = min(cfg.max_fanout_spacing, len(self._synced) * cfg.fanout_spacing_per_watcher)
        due = self._last_fanout + spacing
        if due <= loop.time():
            self.flush()
        else:
            self._flush_handle = loop.call_at(due, self.flush)

    def flush(self) -> None:
        """Hand the pending revisions to every synced watcher now."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._pending:
            return
        revisions, self._pending = self._pending, []
        self._last_fanout = asyncio.get_running_loop().time()
        encoder = BatchEncoder(self._header)
        spans = {rev: _span(events) for rev, events in revisions if len(events) > SPAN_CHECK_EVENTS}
        for watcher in list(self._synced):
            self._deliver(watcher, revisions, encoder, spans)

    def _deliver(
        self,
        watcher: Watcher,
        revisions: list[tuple[int, list[kv_pb2.Event]]],
        encoder: BatchEncoder,
        spans: dict[int, Span],
    ) -> None:
        pending: list[kv_pb2.Event] = []
        pending_rev = 0
        for rev, events in revisions:
            if rev < watcher.next_rev:
                continue
            span = spans.get(rev)
            if span is not None and not watcher.kr.overlaps(*span):
                continue
            chosen = watcher.choose(events)
            if not chosen:
                continue
            if pending and len(pending) + len(chosen) > CATCHUP_EVENTS_PER_RESPONSE:
                if not self._offer(watcher, encoder, pending, pending_rev):
                    return
                pending = []
            pending.extend(chosen)
            pending_rev = rev
        if pending and not self._offer(watcher, encoder, pending, pending_rev):
            return
        watcher.next_rev = max(watcher.next_rev, revisions[-1][0] + 1)

    def _offer(
        self, watcher: Watcher, encoder: BatchEncoder, events: list[kv_pb2.Event], rev: int
    ) -> bool:
        """Queue ``events`` (up to ``rev``) without waiting, or move the watcher to catch-up."""
        resp = encoder.response(watcher.watch_id, rev, events, watcher.prev_kv)
        if not watcher.sink.offer(resp):
            self.fallbacks += 1
            self._synced.discard(watcher)
            watcher.synced = False
            self._start_catchup(watcher)
            return False
        watcher.active = True
        watcher.next_rev = rev + 1
        return True

    # ---- catch-up -----------------------------------------------------------

    def _start_catchup(self, watcher: Watcher) -> None:
        watcher.synced = False
        if watcher.catchup_running or self._closed:
            return
        watcher.catchup_running = True
        task = asyncio.get_running_loop().create_task(self._catch_up(watcher))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _catch_up(self, watcher: Watcher) -> None:
        """Read ``watcher``'s missing revisions until it is synced. A step
        that fails (the store unreadable for a moment) is tried again: a
        watcher given up on would never be synced, and nothing would tell
        its client (its stream's progress requests would wait for it)."""
        try:
            while not watcher.canceled:
                try:
                    if await self._catch_up_step(watcher):
                        return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception(
                        "watch catch-up failed; retrying watch_id=%d", watcher.watch_id
                    )
                    await asyncio.sleep(CATCHUP_RETRY_DELAY)
        finally:
            watcher.catchup_running = False

    async def _catch_up_step(self, watcher: Watcher) -> bool:
        """Send the next batch of missing revisions; True once the watcher
        is synced (or canceled: its start revision was compacted)."""
        bound = self.revision
        if watcher.next_rev > bound:
            watcher.synced = True
            self._synced.add(watcher)
            watcher.sink.watcher_synced(watcher)
            return True
        if self._settled is not None:
            await self._settled()  # the store shows everything up to bound
        last = min(bound, watcher.next_rev + self._config.catchup_batch_revisions - 1)
        compacted, batch = await asyncio.to_thread(self._read, watcher, last)
        if compacted:
            await self._cancel_compacted(watcher, compacted)
            return True
        await self._send_batch(watcher, batch)
        watcher.next_rev = last + 1
        return False

    def _read(
        self, watcher: Watcher, last: int
    ) -> tuple[int, list[tuple[int, list[kv_pb2.Event]]]]:
        with self._store.read() as view:
            compacted = view.compacted
            if watcher.next_rev < compacted:
                return compacted, []
            return 0, view.events(watcher.next_rev, last, watcher.kr, prev_kv=watcher.prev_kv)

    async def _send_batch(
        self, watcher: Watcher, batch: list[tuple[int, list[kv_pb2.Event]]]
    ) -> None:
        pending: list[kv_pb2.Event] = []
        for _rev, events in batch:
            chosen = watcher.select(events)
            if pending and len(pending) + len(chosen) > CATCHUP_EVENTS_PER_RESPONSE:
                await self._send_events(watcher, pending)
                pending = []
            pending.extend(chosen)
        if pending:
            await self._send_events(watcher, pending)

    async def _send_events(self, watcher: Watcher, events: list[kv_pb2.Event]) -> None:
        if watcher.canceled:
            return
        watcher.active = True
        await watcher.sink.send(
            rpc_pb2.WatchResponse(header=self.header(), watch_id=watcher.watch_id, events=events)
        )

    async def _cancel_compacted(self, watcher: Watcher, compacted: int) -> None:
        self.remove(watcher)
        await watcher.sink.send(
            rpc_pb2.WatchResponse(
                # no revision, as etcd's: the watch saw none
                header=self._header(0),
                watch_id=watcher.watch_id,
                canceled=True,
                compact_revision=compacted,
            )
        )

    async def aclose(self) -> None:
        self._closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._synced.clear()
        self._all.clear()


def _span(events: list[kv_pb2.Event]) -> Span:
    keys = [event.kv.key for event in events]
    return min(keys), max(keys)
