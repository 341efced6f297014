"""Informers: a local, indexed cache of one kind, kept current by list + watch.

The loop::

    list at revision R  ──►  replace the cache, diffing old against new
          ▲                  (vanished objects become synthesized DELETE events)
          │                                   │
    CompactedError /                          ▼
    broken watch (back-off       watch from R + 1, apply each event to the
    with jitter)  ◄──────────────  cache, then call the handlers

Worked example: cache holds pods a, b at revision 10; the watch breaks; meanwhile b
is deleted (11) and history up to 12 is compacted. Re-watching from 11 fails with
CompactedError, so the informer lists at 13: it sees only a, and calls
``on_delete(b)`` itself — the deletion is never lost, only coalesced.

Handlers run on the informer's task and must not block (they enqueue keys). Every
``resync_period`` each cached object is handed to ``on_update(obj, obj)`` so that
level-triggered reconcilers get a periodic second look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from kvstore.client import ClientError, CompactedError
from kvstore.controllers import objects as o
from kvstore.controllers.api import ObjectClient, WatchEvent
from kvstore.controllers.cache import Cache
from kvstore.controllers.config import InformerConfig
from kvstore.controllers.objects import Kind, Obj

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handlers:
    on_add: Callable[[Obj], None] = lambda obj: None
    on_update: Callable[[Obj, Obj], None] = lambda old, new: None
    on_delete: Callable[[Obj], None] = lambda obj: None


class Informer:
    """Keeps ``cache`` equal to the store's objects of ``kind``; see the module docstring."""

    def __init__(
        self,
        api: ObjectClient,
        kind: Kind,
        config: InformerConfig,
        *,
        namespace: str | None = None,
    ) -> None:
        self.api = api
        self.kind = kind
        self.namespace = namespace
        self.config = config
        self.cache = Cache()
        self.revision = 0
        """The last revision the cache reflects."""
        self.relists = 0
        self._handlers: list[Handlers] = []
        self._synced = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def add_handlers(self, handlers: Handlers) -> None:
        """Register handlers; objects already cached are replayed to them as adds."""
        self._handlers.append(handlers)
        for obj in self.cache.items():
            self._call(handlers.on_add, obj)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self, limit: float | None = None) -> None:
        """Wait for the first list; ``TimeoutError`` after ``limit`` seconds."""
        await asyncio.wait_for(self._synced.wait(), limit)

    async def start(self) -> Informer:
        if not self._tasks:
            self._tasks.append(
                asyncio.create_task(self._run(), name=f"informer-{self.kind.plural}")
            )
            if self.config.resync_period > 0:
                self._tasks.append(
                    asyncio.create_task(self._resync(), name=f"resync-{self.kind.plural}")
                )
        return self

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the loop --------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                revision = await self._relist()
                self._synced.set()
                failures = 0
                await self._watch(revision + 1)
                logger.info("watch ended; re-listing kind=%s", self.kind.plural)
            except CompactedError as exc:
                logger.info(
                    "watch compacted; re-listing kind=%s revision=%d: %s",
                    self.kind.plural,
                    self.revision,
                    exc,
                )
            except (ClientError, OSError) as exc:
                failures += 1
                delay = min(
                    self.config.backoff_max, self.config.backoff_initial * 2 ** (failures - 1)
                )
                delay *= 0.5 + random.random()  # jitter: [0.5, 1.5) times the back-off
                logger.warning(
                    "list/watch failed kind=%s retry_in=%.2fs: %s", self.kind.plural, delay, exc
                )
                await asyncio.sleep(delay)

    async def _relist(self) -> int:
        listed = await self.api.list(self.kind, self.namespace)
        self.relists += 1
        seen: set[str] = set()
        for obj in listed.items:
            key = o.cache_key(obj)
            seen.add(key)
            old = self.cache.get(key)
            if old is not None and o.uid(old) != o.uid(obj):
                self.cache.remove(key)
                self._dispatch_delete(old)
                old = None
            self.cache.put(obj)
            if old is None:
                self._dispatch_add(obj)
            elif o.resource_version(old) != o.resource_version(obj):
                self._dispatch_update(old, obj)
        for key in set(self.cache.keys()) - seen:
            gone = self.cache.remove(key)
            if gone is not None:
                self._dispatch_delete(gone)
        self.revision = listed.revision
        return listed.revision

    async def _watch(self, start_revision: int) -> None:
        async for event in self.api.watch(self.kind, self.namespace, start_revision=start_revision):
            self._apply(event)

    def _apply(self, event: WatchEvent) -> None:
        self.revision = event.revision
        key = o.cache_key(event.object)
        if event.type == "DELETED":
            old = self.cache.remove(key)
            self._dispatch_delete(old if old is not None else event.object)
            return
        old = self.cache.get(key)
        if old is not None and o.uid(old) != o.uid(event.object):
            self.cache.remove(key)
            self._dispatch_delete(old)
            old = None
        self.cache.put(event.object)
        if old is None:
            self._dispatch_add(event.object)
        else:
            self._dispatch_update(old, event.object)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.config.resync_period)
            if self.has_synced:
                for obj in self.cache.items():
                    self._dispatch_update(obj, obj)

    # --- handlers --------------------------------------------------------------------

    def _call(self, func: Callable[..., None], *args: Obj) -> None:
        try:
            func(*args)
        except Exception:
            logger.exception("informer handler failed kind=%s", self.kind.plural)

    def _dispatch_add(self, obj: Obj) -> None:
        for h in self._handlers:
            self._call(h.on_add, obj)

    def _dispatch_update(self, old: Obj, new: Obj) -> None:
        for h in self._handlers:
            self._call(h.on_update, old, new)

    def _dispatch_delete(self, obj: Obj) -> None:
        for h in self._handlers:
            self._call(h.on_delete, obj)


class Informers:
    """Shared informers, one per kind, owned together: ``start()`` / ``aclose()``."""

    def __init__(self, api: ObjectClient, config: InformerConfig) -> None:
        self.api = api
        self.config = config
        self._informers: dict[str, Informer] = {}
        self._started = False

    def get(self, kind: Kind) -> Informer:
        informer = self._informers.get(kind.plural)
        if informer is None:
            informer = Informer(self.api, kind, self.config)
            self._informers[kind.plural] = informer
        return informer

    async def start(self) -> None:
        self._started = True
        for informer in self._informers.values():
            await informer.start()

    async def wait_synced(self, limit: float | None = None) -> None:
        for informer in self._informers.values():
            await informer.wait_synced(limit)

    async def aclose(self) -> None:
        for informer in self._informers.values():
            await informer.aclose()
