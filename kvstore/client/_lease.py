"""Leases: grant, revoke, time-to-live, list, and the keep-alive task.

A :class:`KeepAlive` owns one LeaseKeepAlive stream (one per lease; simple, and a
lost stream affects only its own lease). It renews at a third of the TTL the server
last granted, reconnects to another endpoint when a member fails, and reports loss —
the server answering TTL 0, or no renewal before the lease's deadline — through
``lost`` (an ``asyncio.Event``), ``error``, ``await wait_lost()`` and an optional
``on_lost`` callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, MutableSet
from types import TracebackType
from typing import Any, Self

import grpc  # type: ignore[import-untyped, unused-ignore]
import grpc.aio  # type: ignore[import-untyped, unused-ignore]

from kvstore.client._connection import Connection
from kvstore.client._errors import ClientError, LeaseExpiredError, translate
from kvstore.client._types import Header, LeaseGrant, LeaseTimeToLive
from kvstore.pb import rpc_pb2

logger = logging.getLogger(__name__)


class KeepAlive:
    """Keeps one lease alive until closed; see the module docstring."""

    def __init__(
        self,
        conn: Connection,
        lease_id: int,
        on_lost: Callable[[ClientError], None] | None = None,
    ) -> None:
        self._conn = conn
        self.lease_id = lease_id
        self._on_lost = on_lost
        self.ttl: int | None = None
        """The TTL granted by the last renewal."""
        self.renewals = 0
        self.lost = asyncio.Event()
        self.error: ClientError | None = None
        self._task: asyncio.Task[None] | None = None
        self._renewed = asyncio.Condition()

    async def start(self) -> Self:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"keepalive-{self.lease_id:x}")
        return self

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def wait_lost(self) -> ClientError:
        """Block until the lease is lost; return why."""
        await self.lost.wait()
        assert self.error is not None
        return self.error

    async def wait_renewed(self, count: int = 1) -> None:
        """Block until at least ``count`` renewals happened in total (or raise if lost)."""
        async with self._renewed:
            await self._renewed.wait_for(lambda: self.renewals >= count or self.lost.is_set())
        if self.renewals < count and self.error is not None:
            raise self.error

    def _mark_lost(self, error: ClientError) -> None:
        logger.warning("lease lost lease=%x reason=%s", self.lease_id, error)
        self.error = error
        self.lost.set()
        if self._on_lost is not None:
            self._on_lost(error)

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            async with self._renewed:
                self._renewed.notify_all()

    async def _loop(self) -> None:
        expiry: float | None = None
        avoid: int | None = None
        backoff = 0.1
        while True:
            call: Any = None
            try:
                index, stubs = await self._conn.connect_any(avoid=avoid)
                avoid = index
                call = stubs.lease.LeaseKeepAlive(metadata=self._conn.metadata())
                while True:
                    await call.write(rpc_pb2.LeaseKeepAliveRequest(ID=self.lease_id))
                    wait = None if expiry is None else max(0.1, expiry - time.monotonic())
                    response = await asyncio.wait_for(call.read(), wait)
                    if response is grpc.aio.EOF:
                        raise ConnectionError("keep-alive stream ended")
                    if response.TTL <= 0:
                        self._mark_lost(LeaseExpiredError(self.lease_id))
                        return
                    self.ttl = int(response.TTL)
                    expiry = time.monotonic() + self.ttl
                    backoff = 0.1
                    async with self._renewed:
                        self.renewals += 1
                        self._renewed.notify_all()
                    await asyncio.sleep(max(self.ttl / 3.0, 0.2))
            except (
                grpc.aio.AioRpcError,
                ClientError,
                ConnectionError,
                TimeoutError,
                # grpc.aio: writing to a stream the server already finished
                asyncio.InvalidStateError,
            ) as exc:
                if isinstance(exc, grpc.aio.AioRpcError):
                    error: ClientError = translate(exc)
                    if exc.code() not in (
                        grpc.StatusCode.UNAVAILABLE,
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        grpc.StatusCode.CANCELLED,
                    ):
                        self._mark_lost(error)
                        return
                logger.info("keep-alive reconnecting lease=%x error=%s", self.lease_id, exc)
                if expiry is not None and time.monotonic() >= expiry:
                    self._mark_lost(LeaseExpiredError(self.lease_id, "lease deadline passed"))
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
            finally:
                if call is not None:
                    call.cancel()


class LeaseMixin:
    _conn: Connection
    _keepalives: MutableSet[KeepAlive]

    async def grant(self, ttl: int, *, lease_id: int = 0) -> LeaseGrant:
        """A new lease of ``ttl`` seconds (etcd raises anything below 2 s to 2 s)."""
        request = rpc_pb2.LeaseGrantRequest(TTL=ttl, ID=lease_id)
        response = await self._conn.call(lambda s: s.lease.LeaseGrant, request, mutation=True)
        if response.error:
            raise ClientError(response.error)
        return LeaseGrant(response.ID, response.TTL, Header.from_pb(response.header))

    async def revoke(self, lease_id: int) -> int:
        """Revoke the lease and delete its keys; returns the header revision."""
        request = rpc_pb2.LeaseRevokeRequest(ID=lease_id)
        response = await self._conn.call(lambda s: s.lease.LeaseRevoke, request, mutation=True)
        return int(response.header.revision)

    async def time_to_live(self, lease_id: int, *, keys: bool = False) -> LeaseTimeToLive:
        """Remaining TTL; ``ttl == -1`` when the lease has expired or never existed."""
        request = rpc_pb2.LeaseTimeToLiveRequest(ID=lease_id, keys=keys)
        r = await self._conn.call(lambda s: s.lease.LeaseTimeToLive, request, mutation=False)
        return LeaseTimeToLive(r.ID, r.TTL, r.grantedTTL, list(r.keys), Header.from_pb(r.header))

    async def leases(self) -> list[int]:
        """IDs of all live leases."""
        request = rpc_pb2.LeaseLeasesRequest()
        r = await self._conn.call(lambda s: s.lease.LeaseLeases, request, mutation=False)
        return [int(status.ID) for status in r.leases]

    def keep_alive(
        self, lease_id: int, *, on_lost: Callable[[ClientError], None] | None = None
    ) -> KeepAlive:
        """A keep-alive for ``lease_id``; start it with ``async with`` or ``await .start()``.

        The client closes any keep-alive still running when it closes.
        """
        keepalive = KeepAlive(self._conn, lease_id, on_lost)
        self._keepalives.add(keepalive)
        return keepalive
