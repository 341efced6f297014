"""Watches: many per client, multiplexed over one gRPC Watch stream.

Design (why it is built so):

* One :class:`WatchHub` per client owns one bidirectional Watch stream and one task
  that reads it; requests go through a queue drained by the stream's request
  iterator, so there is exactly one writer. The stream is opened with the first
  watch and kept until the client closes.
* Creates are sent one at a time: the server answers each with ``created`` and the
  watch id it assigned, and only then is the next create sent, so answers are
  matched to watches without relying on client-chosen ids.
* Every :class:`Watch` remembers ``next_revision``: one past the last event it was
  given (or past a progress notification addressed to it). When the stream breaks
  (member killed, "etcdserver: no leader"), the hub connects to another endpoint and
  re-creates every watch at its ``next_revision`` — so no event is lost or repeated.
  Worked example: events at 5, 6 delivered; member dies; re-created with
  start_revision 7; the new member replays 7, 8, ... from its history.
* A start revision that has been compacted cancels the watch with
  ``compact_revision`` set; the iterator raises :class:`CompactedError` so the
  caller can re-list. Other cancels raise :class:`WatchCanceledError`.
* A progress request (``request_progress``) is answered for the whole stream; it is
  delivered to every watch as a progress notification but does not move
  ``next_revision`` (a watch still catching up may not have seen that revision).
  One that is not answered before the stream breaks (or is asked while there is
  none) is asked again on the next stream once its watches are re-created: a
  caller waiting for it would otherwise wait forever on a quiet key.
* A create unanswered for the request timeout gives the stream up (a create
  queued behind it would wait as long), and so does a stream that ends in any
  way the hub did not foresee: both are resumed as a broken stream, with a warning.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import Any, Self

import grpc  # type: ignore[import-untyped, unused-ignore]
import grpc.aio  # type: ignore[import-untyped, unused-ignore]

from kvstore.client._connection import Connection
from kvstore.client._errors import (
    AuthError,
    ClientError,
    CompactedError,
    WatchCanceledError,
    translate,
)
from kvstore.client._ops import resolve_range
from kvstore.client._types import Event, Header, KeyLike, WatchFilter, WatchResponse
from kvstore.pb import rpc_pb2

logger = logging.getLogger(__name__)

_CLOSED = None
_Item = WatchResponse | ClientError | None


_PROGRESS_REQUEST = rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest())


class _Reconnect(Exception):
    """The stream must be abandoned and re-established elsewhere."""


class _Unanswered(Exception):
    """The member left a watch create unanswered: the stream is given up."""


def _cancelling() -> bool:
    """Whether the running task has been asked to stop (not just the call)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Watch:
    """One watch: ``async with client.watch(...) as w: async for event in w``.

    Entering waits until the server has created the watch, so every write made after
    ``__aenter__`` returns is seen. ``revision`` is the header revision of the last
    response consumed; ``responses()`` yields whole responses including progress
    notifications. Responses are buffered without bound if the consumer is slow.
    """

    def __init__(
        self,
        hub: WatchHub,
        key: bytes,
        range_end: bytes,
        *,
        start_revision: int,
        prev_kv: bool,
        filters: tuple[WatchFilter, ...],
        progress_notify: bool,
    ) -> None:
        self._hub = hub
        self.key = key
        self.range_end = range_end
        self.start_revision = start_revision
        self.prev_kv = prev_kv
        self.filters = filters
        self.progress_notify = progress_notify
        self.next_revision = start_revision if start_revision > 0 else 0
        self.revision = 0
        self.watch_id: int | None = None
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._created = asyncio.Event()
        self._done = False

    def create_request(self) -> rpc_pb2.WatchRequest:
        return rpc_pb2.WatchRequest(
            create_request=rpc_pb2.WatchCreateRequest(
                key=self.key,
                range_end=self.range_end,
                start_revision=self.next_revision,
                progress_notify=self.progress_notify,
                filters=[int(f) for f in self.filters],  # type: ignore[misc]
                prev_kv=self.prev_kv,
            )
        )

    async def __aenter__(self) -> Self:
        await self._hub.add(self)
        await self._created.wait()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if not self._done:
            self._done = True
            await self._hub.remove(self)
            self._queue.put_nowait(_CLOSED)

    async def request_progress(self) -> None:
        """Ask the server for a progress notification (answered on this stream)."""
        await self._hub.request_progress()

    async def responses(self) -> AsyncIterator[WatchResponse]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, ClientError):
                self._queue.put_nowait(item)  # keep raising on later reads
                raise item
            self.revision = item.revision
            yield item

    async def events(self) -> AsyncIterator[Event]:
        async for response in self.responses():
            for event in response.events:
                yield event

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.events()

    # --- called by the hub ---------------------------------------------------

    def _on_created(self, response: rpc_pb2.WatchResponse) -> None:
        if self.next_revision == 0:
            self.next_revision = response.header.revision + 1
        self._created.set()

    def _deliver(self, response: WatchResponse) -> None:
        if not self._done:
            self._queue.put_nowait(response)

    def _fail(self, error: ClientError) -> None:
        self._done = True
        self._created.set()
        self._queue.put_nowait(error)

    def _close(self) -> None:
        self._done = True
        self._created.set()
        self._queue.put_nowait(_CLOSED)


class WatchHub:
    """Owns the client's Watch stream; see the module docstring."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._watches: list[Watch] = []
        self._by_id: dict[int, Watch] = {}
        self._to_create: collections.deque[Watch] = collections.deque()
        self._in_flight: Watch | None = None
        self._outbox: asyncio.Queue[rpc_pb2.WatchRequest | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        #: a progress request not answered yet; asked again on the next stream
        self._progress_wanted = False
        #: ask it once this stream's watches are re-created
        self._progress_due = False
        #: streams ended under the watches (each one resumed on a new stream)
        self.streams_lost = 0
        #: of them, streams given up because a create went unanswered
        self.creates_unanswered = 0
        #: the current stream's call, and the timer on its create in flight
        self._call: Any = None
        self._create_timer: asyncio.TimerHandle | None = None
        self._stalled = False

    def watch(
        self,
        key: KeyLike,
        range_end: KeyLike | None = None,
        *,
        prefix: bool = False,
        start_revision: int = 0,
        prev_kv: bool = False,
        filters: Iterable[WatchFilter] = (),
        progress_notify: bool = False,
    ) -> Watch:
        k, end = resolve_range(key, range_end, prefix)
        return Watch(
            self,
            k,
            end,
            start_revision=start_revision,
            prev_kv=prev_kv,
            filters=tuple(filters),
            progress_notify=progress_notify,
        )

    async def add(self, watch: Watch) -> None:
        if self._closed:
            raise ClientError("client is closed")
        self._watches.append(watch)
        self._to_create.append(watch)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="watch-hub")
        self._pump()

    async def remove(self, watch: Watch) -> None:
        if watch in self._watches:
            self._watches.remove(watch)
        with contextlib.suppress(ValueError):
            self._to_create.remove(watch)
        if watch.watch_id is not None:
            self._by_id.pop(watch.watch_id, None)
            self._send(
                rpc_pb2.WatchRequest(
                    cancel_request=rpc_pb2.WatchCancelRequest(watch_id=watch.watch_id)
                )
            )
            watch.watch_id = None

    async def request_progress(self) -> None:
        self._progress_wanted = True
        self._send(_PROGRESS_REQUEST)

    async def aclose(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for watch in self._watches:
            watch._close()
        self._watches.clear()

    def _send(self, request: rpc_pb2.WatchRequest) -> None:
        if self._outbox is not None:
            self._outbox.put_nowait(request)

    def _pump(self) -> None:
        """Send the next create if none is awaiting its answer (once all are
        created, a progress request the last stream left unanswered)."""
        if self._outbox is None or self._in_flight is not None:
            return
        if not self._to_create:
            if self._progress_due:
                self._progress_due = False
                self._send(_PROGRESS_REQUEST)
            return
        watch = self._to_create.popleft()
        self._in_flight = watch
        self._send(watch.create_request())
        self._arm_create_timer(watch)

    def _arm_create_timer(self, watch: Watch) -> None:
        """A create the member leaves unanswered for the request timeout gives
        the stream up: the hub resumes every watch elsewhere (or on a new
        stream to the same member) instead of waiting on it for ever."""
        self._disarm_create_timer()
        call = self._call

        def unanswered() -> None:
            self._create_timer = None
            if self._in_flight is watch and self._call is call and call is not None:
                self._stalled = True
                call.cancel()

        timeout = self._conn.config.request_timeout
        self._create_timer = asyncio.get_running_loop().call_later(timeout, unanswered)

    def _disarm_create_timer(self) -> None:
        if self._create_timer is not None:
            self._create_timer.cancel()
            self._create_timer = None

    async def _requests(
        self, outbox: asyncio.Queue[rpc_pb2.WatchRequest | None]
    ) -> AsyncIterator[rpc_pb2.WatchRequest]:
        while True:
            request = await outbox.get()
            if request is None:
                return
            yield request

    async def _run(self) -> None:
        avoid: int | None = None
        backoff = 0.05
        while not self._closed:
            try:
                index, stubs = await self._conn.connect_any(avoid=avoid)
            except ClientError as exc:
                logger.info("watch stream cannot connect error=%s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            outbox: asyncio.Queue[rpc_pb2.WatchRequest | None] = asyncio.Queue()
            metadata = (*self._conn.metadata(), ("hasleader", "true"))
            call: Any = stubs.watch.Watch(self._requests(outbox), metadata=metadata)
            self._outbox = outbox
            self._call = call
            self._by_id.clear()
            self._in_flight = None
            for watch in self._watches:
                watch.watch_id = None
            self._to_create = collections.deque(self._watches)
            self._progress_due = self._progress_wanted
            self._pump()
            try:
                while True:
                    response = await call.read()
                    if response is grpc.aio.EOF:
                        raise _Reconnect("watch stream ended")
                    self._dispatch(response)
                    backoff = 0.05
            except asyncio.CancelledError:
                if self._closed or _cancelling():
                    raise
                if self._stalled:
                    self.creates_unanswered += 1
                    timeout = self._conn.config.request_timeout
                    self._lost(index, _Unanswered(f"a watch create unanswered for {timeout}s"))
                else:
                    # grpc cancelled the call itself (read() raises CancelledError
                    # for a call cancelled locally): the stream is gone, not the hub
                    self._lost(index, _Reconnect("watch call cancelled"))
            except Exception as exc:  # the hub outlives any one stream
                if isinstance(exc, grpc.aio.AioRpcError):
                    error = translate(exc)
                    if isinstance(error, AuthError):
                        self._fail_all(error)
                self._lost(index, exc)
            finally:
                self._disarm_create_timer()
                self._stalled = False
                self._call = self._outbox = None
                outbox.put_nowait(None)
                call.cancel()
            avoid = index
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    def _lost(self, index: int, exc: Exception) -> None:
        """Log a lost stream; one lost to something unforeseen (a bug, here or
        in grpc) with its traceback, as the hub resumes all the same."""
        endpoint = self._conn.config.endpoints[index]
        self.streams_lost += 1
        if isinstance(exc, grpc.aio.AioRpcError | _Reconnect):
            logger.info("watch stream lost endpoint=%s error=%s; resuming elsewhere", endpoint, exc)
        elif isinstance(exc, _Unanswered):
            logger.warning("watch stream given up endpoint=%s: %s; resuming", endpoint, exc)
        else:
            logger.warning(
                "watch stream failed endpoint=%s error=%r; resuming elsewhere",
                endpoint,
                exc,
                exc_info=exc,
            )

    def _fail_all(self, error: ClientError) -> None:
        for watch in self._watches:
            watch._fail(error)
        self._watches.clear()

    def _dispatch(self, pb: rpc_pb2.WatchResponse) -> None:
        header = Header.from_pb(pb.header)
        if pb.created:
            watch = self._in_flight
            self._in_flight = None
            self._disarm_create_timer()
            if watch is None or watch not in self._watches:
                if not pb.canceled:
                    self._send(
                        rpc_pb2.WatchRequest(
                            cancel_request=rpc_pb2.WatchCancelRequest(watch_id=pb.watch_id)
                        )
                    )
            else:
                watch.watch_id = pb.watch_id
                self._by_id[pb.watch_id] = watch
                watch._on_created(pb)
            self._pump()
            if not pb.canceled:
                return
        watch = self._by_id.get(pb.watch_id)
        if watch is None:
            if pb.watch_id == -1:
                self._progress_wanted = False
            if pb.watch_id == -1 or (not pb.events and not pb.canceled):
                # A stream-wide progress answer (etcd sends watch id -1).
                for w in self._by_id.values():
                    w._deliver(WatchResponse(header, [], progress_notify=True))
            return
        if pb.canceled:
            self._by_id.pop(pb.watch_id, None)
            if pb.cancel_reason.startswith("etcdserver: no leader"):
                raise _Reconnect(pb.cancel_reason)
            self._watches.remove(watch)
            watch.watch_id = None
            if pb.compact_revision:
                watch._fail(CompactedError(compact_revision=pb.compact_revision))
            else:
                watch._fail(WatchCanceledError(pb.cancel_reason or "watch canceled by server"))
            return
        events = [Event.from_pb(e) for e in pb.events]
        if events:
            watch.next_revision = events[-1].revision + 1
        else:
            watch.next_revision = max(watch.next_revision, header.revision + 1)
        watch._deliver(WatchResponse(header, events, progress_notify=not events))
