"""Calls that require a leader: etcd's ``hasleader`` metadata.

A client sends ``hasleader: true`` (clientv3's ``WithRequireLeader``;
kube-apiserver does for every watch, and so does kvstore's client) to be
told when the member it talks to is cut off from the cluster, instead of
being served stale data in silence. As in etcd:

- such a call to a member that knows no leader fails at once with
  Unavailable "etcdserver: no leader";
- such a stream (a watch, lease keep-alives) is ended with the same status
  once the member has known no leader at each of ``MISSES`` checks in a row,
  one check per election timeout: reconnecting a stream costs more than
  refusing a call, so a short election does not cut them. The client then
  resumes on another member.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

METADATA_KEY = "hasleader"
METADATA_VALUE = "true"
#: election timeouts in a row without a leader before streams are cut (etcd's)
MISSES = 3


def requires_leader(metadata: Iterable[tuple[str, Any]]) -> bool:
    for key, value in metadata:  # a loop: no generator per call
        if key == METADATA_KEY:
            return bool(value == METADATA_VALUE)
    return False


@dataclass(eq=False)
class Held:
    """A stream that requires a leader; ``cut`` once the watch ended it."""

    task: asyncio.Task[Any]
    cut: bool = False


@dataclass
class LeaderWatch:
    """Checks once per ``interval`` whether the member knows a leader, and
    cancels the tasks of the streams that require one after ``MISSES``
    checks without. Owns one task: ``start`` it, ``aclose`` it."""

    has_leader: Callable[[], bool]
    interval: float
    _streams: set[Held] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
    misses: int = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def hold(self) -> Held:
        """Register the calling stream (its task) until ``release``."""
        task = asyncio.current_task()
        assert task is not None
        held = Held(task)
        self._streams.add(held)
        return held

    def release(self, held: Held) -> None:
        self._streams.discard(held)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.check()

    def check(self) -> None:
        self.misses = 0 if self.has_leader() else self.misses + 1
        if self.misses < MISSES:
            return
        streams, self._streams = self._streams, set()
        for held in streams:
            held.cut = True
            held.task.cancel()
