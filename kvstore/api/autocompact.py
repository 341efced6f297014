"""etcd's auto-compaction: ``--auto-compaction-mode`` and ``--auto-compaction-retention``.

As etcd 3.4's compactor, only the leader compacts (a lone member always
does); a compaction is an ordinary Compact proposal, so every member applies it.

- ``periodic`` (retention in seconds): every tenth of the retention (at most
  every 6 minutes) the member notes its current revision. Once a whole
  retention has passed since it started, and from then on every retention
  (at most every hour), it compacts to the revision it noted one retention
  ago: history older than the retention goes.
- ``revision`` (retention in revisions): every 5 minutes it compacts to the
  current revision minus the retention.

A revision already compacted counts as done (etcd's ``ErrCompacted``); a
compaction that fails (no leader, say) is tried again at the next look.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from kvstore.config import AutoCompaction
from kvstore.errors import CompactedError, KvError

logger = logging.getLogger(__name__)

#: the periodic mode compacts at most this long apart, and notes revisions
#: ten times as often
HOUR = 3600.0
SAMPLES_PER_INTERVAL = 10


def describe(config: AutoCompaction) -> str:
    """The retention as etcd's compactor logs it."""
    if config.mode == "revision":
        return f"{int(config.retention)} revisions"
    seconds = config.retention
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class AutoCompactor:
    def __init__(
        self,
        config: AutoCompaction,
        revision: Callable[[], int],
        is_leader: Callable[[], bool],
        compact: Callable[[int], Awaitable[object]],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._c = config
        self._revision = revision
        self._is_leader = is_leader
        self._compact_to = compact
        self._now = clock
        self._sleep = sleep
        #: the last revision this member compacted to
        self.compacted = 0

    async def run(self) -> None:
        if self._c.retention <= 0:
            return
        if self._c.mode == "revision":
            await self._by_revision()
        else:
            await self._periodic()

    async def _periodic(self) -> None:
        period = self._c.retention
        interval = min(period, HOUR)
        look = interval / SAMPLES_PER_INTERVAL
        # samples[0] is the revision noted one retention ago
        samples: deque[int] = deque(maxlen=int(period / look) + 1)
        wait = period  # the first compaction waits a whole retention
        last = self._now()
        while True:
            samples.append(self._revision())
            await self._sleep(look)
            if not self._is_leader() or self._now() - last < wait:
                continue
            wait = interval
            if samples[0] <= self.compacted or await self._compact(samples[0]):
                last = self._now()

    async def _by_revision(self) -> None:
        keep = int(self._c.retention)
        while True:
            await self._sleep(self._c.revision_interval)
            if not self._is_leader():
                continue
            target = self._revision() - keep
            if target > self.compacted:
                await self._compact(target)

    async def _compact(self, revision: int) -> bool:
        retention = describe(self._c)
        logger.info("starting auto-compaction revision=%d retention=%s", revision, retention)
        try:
            await self._compact_to(revision)
        except CompactedError:
            pass
        except KvError as err:
            logger.warning(
                "auto-compaction failed; retrying revision=%d error=%s", revision, err.message
            )
            return False
        self.compacted = max(self.compacted, revision)
        logger.info("finished auto-compaction revision=%d retention=%s", revision, retention)
        return True
