"""A work queue of keys, as client-go's: dedup, per-key serialisation, rate-limited retry.

* ``add(key)`` while the key waits is a no-op (dedup): ten events make one reconcile.
* A key handed out by ``get()`` is *processing* until ``done(key)``; adding it
  meanwhile marks it dirty and it is queued again on ``done`` — so one key is never
  reconciled by two workers at once, and no event is lost.
* ``add_rate_limited(key)`` retries after ``base_delay * 2**failures`` (capped);
  ``forget(key)`` resets the count after a success.

Worked example: A is added, a worker takes A; A is added twice more (dirty); the
worker finishes and calls ``done(A)``: A is queued once more and reconciled once.
"""

from __future__ import annotations

import asyncio
import collections

from kvstore.controllers.config import QueueConfig


class ShutDown(Exception):
    """The queue was shut down; workers should return."""


class WorkQueue:
    def __init__(self, config: QueueConfig, name: str = "") -> None:
        self.config = config
        self.name = name
        self._queue: collections.deque[str] = collections.deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._wakeup = asyncio.Event()
        self._shutdown = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: str) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._notify()

    def add_after(self, key: str, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds (an earlier pending add wins)."""
        if self._shutdown:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        existing = self._timers.get(key)
        when = loop.time() + delay
        if existing is not None:
            if existing.when() <= when:
                return
            existing.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: str) -> None:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self.config.max_delay, self.config.base_delay * 2**failures)
        self.add_after(key, delay)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> str:
        """The next key to process; raises :class:`ShutDown` once shut down."""
        while not self._queue:
            if self._shutdown:
                raise ShutDown()
            self._wakeup.clear()
            await self._wakeup.wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._notify()

    def shutdown(self) -> None:
        self._shutdown = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._notify()

    def _notify(self) -> None:
        self._wakeup.set()
