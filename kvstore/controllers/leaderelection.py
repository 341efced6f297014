"""Leader election: only one controller-manager acts at a time.

Built on the client's etcd-compatible :class:`Election`: each copy holds a session
(a lease kept alive) and campaigns under ``config.name``; the oldest candidate key
wins. The leader runs ``on_started``; if its lease is lost (the process hangs, the
store is unreachable past the TTL) it runs ``on_stopped`` and campaigns again. When
a leader dies its lease expires after ``lease_ttl`` seconds and the next candidate
takes over. ``aclose()`` resigns, so a clean shutdown hands over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable

from kvstore.client import Client, ClientError, Election, Session
from kvstore.controllers.config import LeaderElectionConfig

logger = logging.getLogger(__name__)

Callback = Callable[[], Awaitable[None]]


def default_identity() -> str:
    return f"{socket.gethostname()}_{os.getpid()}"


class LeaderElector:
    def __init__(
        self,
        client: Client,
        config: LeaderElectionConfig,
        on_started: Callback,
        on_stopped: Callback,
    ) -> None:
        self.client = client
        self.config = config
        self.identity = config.identity or default_identity()
        self._on_started = on_started
        self._on_stopped = on_stopped
        self.is_leader = False
        self.elected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: Session | None = None
        self._election: Election | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="leader-election")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stop_leading()
        await self._close_session()

    async def _run(self) -> None:
        while True:
            try:
                self._session = await Session(self.client, ttl=self.config.lease_ttl).open()
                self._election = Election(self._session, self.config.name)
                logger.info("campaigning identity=%s", self.identity)
                await self._election.campaign(self.identity)
                logger.info("became leader identity=%s", self.identity)
                self.is_leader = True
                self.elected.set()
                await self._on_started()
                await self._session.keepalive.lost.wait()
                logger.warning("leadership lost identity=%s", self.identity)
            except ClientError as exc:
                logger.warning("leader election failed identity=%s: %s", self.identity, exc)
                await asyncio.sleep(1.0)
            finally:
                await asyncio.shield(self._stop_leading())
            await self._close_session()

    async def _stop_leading(self) -> None:
        if self.is_leader:
            self.is_leader = False
            self.elected.clear()
            await self._on_stopped()

    async def _close_session(self) -> None:
        election, self._election = self._election, None
        session, self._session = self._session, None
        if election is not None:
            with contextlib.suppress(ClientError):
                await election.resign()
        if session is not None:
            with contextlib.suppress(ClientError):
                await session.aclose()
