"""etcdserverpb.Watch: one bidirectional stream carrying many watches.

Per stream: a receive task (creates, cancels, progress requests), a bounded
send queue (the hub offers to it without waiting; a full queue moves the
watcher back to catch-up), and the handler itself, which writes the queue out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

from kvstore.api import validate
from kvstore.api.context import Member
from kvstore.api.edge import Ctx, go_status_text
from kvstore.auth.perms import READ
from kvstore.config import GRPC_OVERHEAD_BYTES
from kvstore.errors import KvError
from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from kvstore.storage.keys import KeyRange
from kvstore.watch.fragments import fragments
from kvstore.watch.watcher import Watcher

logger = logging.getLogger(__name__)

PROGRESS_WATCH_ID = -1  # etcd 3.4 answers a progress request on no particular watch


class WatchStream:
    """One client stream: implements the hub's ``Sink``."""

    def __init__(self, member: Member) -> None:
        self._m = member
        self._queue: asyncio.Queue[rpc_pb2.WatchResponse | bytes | None] = asyncio.Queue(
            member.config.watch.send_queue_size
        )
        self._watchers: dict[int, Watcher] = {}
        #: the watches created with ``fragment`` set
        self._fragmenting: set[int] = set()
        self._next_id = 0
        self._progress_pending = False

    # ---- Sink -----------------------------------------------------------------

    def offer(self, response: rpc_pb2.WatchResponse | bytes) -> bool:
        try:
            self._queue.put_nowait(response)
        except asyncio.QueueFull:
            return False
        return True

    async def send(self, response: rpc_pb2.WatchResponse) -> None:
        await self._queue.put(response)

    def watcher_synced(self, watcher: Watcher) -> None:
        if self._progress_pending and self._all_synced():
            self._progress_pending = False
            self._send_progress()

    # ---- requests -------------------------------------------------------------

    async def receive(self, requests: AsyncIterator[rpc_pb2.WatchRequest]) -> None:
        """Serve the client's requests. A client that closes its side (sends
        no more requests) keeps its watches, as in etcd: the stream ends when
        the client cancels it or goes away, or when reading a request fails."""
        try:
            async for req in requests:
                kind = req.WhichOneof("request_union")
                if kind == "create_request":
                    await self._create(req.create_request)
                elif kind == "cancel_request":
                    await self._cancel(req.cancel_request.watch_id)
                elif kind == "progress_request":
                    if self._all_synced():
                        self._send_progress()
                    else:
                        self._progress_pending = True
        except BaseException:
            await self._queue.put(None)
            raise

    async def _create(self, req: rpc_pb2.WatchCreateRequest) -> None:
        # the hub then has the events of every write this member has answered
        await self._m.proposer.settled()
        hub = self._m.hub
        watch_id = req.watch_id
        if watch_id == 0 or watch_id < 0:
            while self._next_id in self._watchers:
                self._next_id += 1
            watch_id = self._next_id
            self._next_id += 1
        elif watch_id in self._watchers:
            await self._refuse("mvcc: duplicate watch ID provided on the WatchStream")
            return
        kr = KeyRange.of(req.key, req.range_end)
        if kr.is_empty():
            await self._refuse("mvcc: watcher range is empty")
            return
        try:
            validate.check_watch_create(req)
        except KvError as err:
            await self._refuse(err.message)
            return
        try:
            self._m.auth.state().check(self._m.auth.user(), READ, req.key, req.range_end)
        except KvError as err:
            # etcd puts the whole status text in the reason of a refused watch
            await self._refuse(go_status_text(err))
            return
        start = req.start_revision if req.start_revision > 0 else hub.revision + 1
        watcher = Watcher(
            watch_id=watch_id,
            kr=kr,
            sink=self,
            next_rev=start,
            prev_kv=req.prev_kv,
            filters=frozenset(req.filters),
            progress_notify=req.progress_notify,
        )
        self._watchers[watch_id] = watcher
        if req.fragment:
            self._fragmenting.add(watch_id)
        await self.send(rpc_pb2.WatchResponse(header=hub.header(), watch_id=watch_id, created=True))
        hub.add(watcher)

    async def _refuse(self, reason: str) -> None:
        """A create etcd refuses: created and canceled at once, on no watch (-1)."""
        await self.send(
            rpc_pb2.WatchResponse(
                header=self._m.hub.header(),
                watch_id=-1,
                created=True,
                canceled=True,
                cancel_reason=reason,
            )
        )

    async def _cancel(self, watch_id: int) -> None:
        watcher = self._watchers.pop(watch_id, None)
        if watcher is None:
            return
        self._fragmenting.discard(watch_id)
        self._m.hub.remove(watcher)
        await self.send(
            rpc_pb2.WatchResponse(header=self._m.hub.header(), watch_id=watch_id, canceled=True)
        )

    def _all_synced(self) -> bool:
        return all(w.synced or w.canceled for w in self._watchers.values())

    def _send_progress(self) -> None:
        resp = rpc_pb2.WatchResponse(header=self._m.hub.header(), watch_id=PROGRESS_WATCH_ID)
        if not self.offer(resp):
            self._progress_pending = True

    async def notify_progress(self) -> None:
        """Periodic progress for watchers that asked and saw no events lately."""
        for watcher in list(self._watchers.values()):
            if not watcher.progress_notify or watcher.canceled:
                continue
            if watcher.synced and not watcher.active:
                await self.send(
                    rpc_pb2.WatchResponse(header=self._m.hub.header(), watch_id=watcher.watch_id)
                )
            watcher.active = False

    def close(self) -> None:
        for watcher in self._watchers.values():
            self._m.hub.remove(watcher)
        self._watchers.clear()
        self._fragmenting.clear()

    @property
    def fragmenting(self) -> bool:
        """Whether a watch on this stream asked for fragments."""
        return bool(self._fragmenting)

    def parts(
        self, response: rpc_pb2.WatchResponse | bytes
    ) -> Iterator[rpc_pb2.WatchResponse | bytes]:
        """``response`` as the stream sends it: in fragments if it is for a
        watch that asked for them and reaches etcd's limit for them (see
        ``kvstore.watch.fragments``)."""
        limit = self._m.config.max_request_bytes + GRPC_OVERHEAD_BYTES
        if isinstance(response, bytes) and len(response) < limit:
            yield response
            return
        decoded = (
            rpc_pb2.WatchResponse.FromString(response) if isinstance(response, bytes) else response
        )
        if decoded.watch_id not in self._fragmenting:
            yield response
            return
        yield from fragments(decoded, limit)

    async def responses(self) -> AsyncIterator[rpc_pb2.WatchResponse | bytes]:
        while True:
            resp = await self._queue.get()
            if resp is None:
                return
            yield resp
            if self._progress_pending and self._all_synced():
                # its answer found the queue full: there is room now
                self._progress_pending = False
                self._send_progress()


class WatchService(rpc_pb2_grpc.WatchServicer):
    def __init__(self, member: Member) -> None:
        self._m = member

    # bytes: responses the hub encoded; decoding.guarded's serializer passes them on
    async def Watch(  # type: ignore[override]
        self,
        request_iterator: AsyncIterator[rpc_pb2.WatchRequest],
        context: Ctx,
    ) -> AsyncIterator[rpc_pb2.WatchResponse | bytes]:
        stream = WatchStream(self._m)
        loop = asyncio.get_running_loop()
        receiver = loop.create_task(stream.receive(request_iterator))
        ticker = loop.create_task(self._tick(stream))
        try:
            async for resp in stream.responses():
                if not isinstance(resp, bytes):  # the hub encodes live events, header and all
                    self._m.identity.stamp(resp.header, self._m.proposer.term())
                if stream.fragmenting:
                    for part in stream.parts(resp):
                        yield part
                else:
                    yield resp
        finally:
            stream.close()
            for task in (receiver, ticker):
                task.cancel()
            for task in (receiver, ticker):
                with contextlib.suppress(asyncio.CancelledError):
                    try:
                        await task
                    except Exception as exc:  # logged; the stream is over
                        logger.warning("watch stream task failed error=%r", exc, exc_info=exc)

    async def _tick(self, stream: WatchStream) -> None:
        interval = self._m.config.watch.progress_notify_interval
        while True:
            await asyncio.sleep(interval)
            await stream.notify_progress()
