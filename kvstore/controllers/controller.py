"""The worker loop shared by every controller (sample-controller's ``processNextWorkItem``).

A controller owns a :class:`WorkQueue` of keys and ``workers`` tasks. ``start()``
waits until the informers it reads have listed once, then starts the workers. Each
worker takes a key, calls ``reconcile(key)`` — which re-reads current state from the
caches and is safe to repeat — and then:

* success: ``forget`` the key's back-off; if ``reconcile`` returned a delay, the key
  is added again after it (e.g. to re-check a progress deadline);
* failure (any exception; a ``ConflictError`` is expected and only logged at debug):
  re-queue with the key's exponential back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

from kvstore.controllers.config import ControllerConfig
from kvstore.controllers.errors import ConflictError, NotFoundError
from kvstore.controllers.informer import Informer
from kvstore.controllers.workqueue import ShutDown, WorkQueue

logger = logging.getLogger(__name__)


class Controller(ABC):
    name = "controller"

    def __init__(self, config: ControllerConfig, informers: list[Informer], workers: int) -> None:
        self.config = config
        self.queue = WorkQueue(config.queue, self.name)
        self._informers = informers
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []

    @abstractmethod
    async def reconcile(self, key: str) -> float | None:
        """Make the world match the object named ``key``; return a delay to look again."""

    async def start(self) -> None:
        for informer in self._informers:
            await informer.wait_synced(self.config.cache_sync_timeout)
        logger.info("caches synced; starting workers controller=%s", self.name)
        for i in range(self._workers):
            self._tasks.append(asyncio.create_task(self._work(), name=f"{self.name}-{i}"))

    async def aclose(self) -> None:
        self.queue.shutdown()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _work(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                again = await self.reconcile(key)
            except asyncio.CancelledError:
                raise
            except (ConflictError, NotFoundError) as exc:
                logger.debug("reconcile retry controller=%s key=%s: %s", self.name, key, exc)
                self.queue.add_rate_limited(key)
            except Exception:
                logger.exception("reconcile failed controller=%s key=%s", self.name, key)
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
                if again is not None:
                    self.queue.add_after(key, again)
            finally:
                self.queue.done(key)
