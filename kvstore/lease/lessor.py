"""The lessor: lease deadlines, keep-alives and expiry.

Leases themselves (ID, granted TTL, attached keys) are replicated state in
storage. Deadlines are not: they live in the memory of the member that expires
leases (the leader), which gives every lease a full TTL when it takes over —
as etcd does — and proposes a revoke for each lease whose deadline passed.
So a keep-alive or a time-to-live served by another member is a question to
the leader's lessor (``answer``, through ``Proposer.ask_leader``), as etcd
forwards them; nothing goes through the log.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

from kvstore.config import LeaseConfig
from kvstore.errors import KvError, LeaseNotFoundError
from kvstore.storage.effects import Effects
from kvstore.storage.store import MvccStore

logger = logging.getLogger(__name__)

RevokeFn = Callable[[int], Awaitable[object]]
Clock = Callable[[], float]

#: questions for the leader's lessor (``Lessor.answer``)
KEEP_ALIVE = "lease_keep_alive"
TIME_TO_LIVE = "lease_time_to_live"
#: ``remaining`` of a lease that does not exist, as a time-to-live answer
NOT_FOUND = (-1, 0)


class Lessor:
    def __init__(
        self,
        store: MvccStore,
        config: LeaseConfig,
        revoke: RevokeFn,
        is_leader: Callable[[], bool],
        clock: Clock = time.monotonic,
    ) -> None:
        self._store = store
        self._config = config
        self._revoke = revoke
        self._is_leader = is_leader
        self._clock = clock
        self._ttl: dict[int, int] = {}
        self._deadline: dict[int, float] = {}
        self._revoking: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._expiring: set[asyncio.Task[None]] = set()
        self._reload_pending = False
        self._was_leader = False

    async def start(self) -> None:
        leases = await asyncio.to_thread(self._load)
        self.promote(leases)
        self._task = asyncio.get_running_loop().create_task(self._expire_loop())

    def _load(self) -> list[tuple[int, int]]:
        with self._store.read() as view:
            return view.leases()

    def promote(self, leases: list[tuple[int, int]] | None = None) -> None:
        """Give every lease a full TTL from now (on start and on becoming leader)."""
        now = self._clock()
        if leases is not None:
            self._ttl = dict(leases)
        self._deadline = {lease_id: now + ttl for lease_id, ttl in self._ttl.items()}

    async def aclose(self) -> None:
        tasks = [*self._expiring, *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    def on_effects(self, effects: Effects) -> None:
        now = self._clock()
        for lease_id, ttl in effects.granted:
            self._ttl[lease_id] = ttl
            self._deadline[lease_id] = now + ttl
        for lease_id in effects.renewed:
            if lease_id in self._ttl:
                self._deadline[lease_id] = now + self._ttl[lease_id]
        if effects.reset:
            self._reload_pending = True
        for lease_id in effects.revoked:
            self._ttl.pop(lease_id, None)
            self._deadline.pop(lease_id, None)
            self._revoking.discard(lease_id)

    def keep_alive(self, lease_id: int) -> int:
        """Renew a lease; its TTL, or 0 if it does not exist (as etcd answers)."""
        self._follow_leadership()
        ttl = self._ttl.get(lease_id)
        if ttl is None or lease_id in self._revoking:
            return 0
        self._deadline[lease_id] = self._clock() + ttl
        return ttl

    def answer(self, question: tuple[str, int]) -> tuple[int, int]:
        """A question from another member (this one leads): a keep-alive
        answers (TTL, TTL), a time-to-live (remaining, granted) or ``NOT_FOUND``."""
        kind, lease_id = question
        if kind == KEEP_ALIVE:
            ttl = self.keep_alive(lease_id)
            return ttl, ttl
        if kind == TIME_TO_LIVE:
            return self.remaining(lease_id) or NOT_FOUND
        raise ValueError(f"not a lease question: {kind!r}")

    def remaining(self, lease_id: int) -> tuple[int, int] | None:
        """(remaining seconds, granted TTL), or None for an unknown lease."""
        self._follow_leadership()
        ttl = self._ttl.get(lease_id)
        if ttl is None:
            return None
        left = self._deadline.get(lease_id, 0.0) - self._clock()
        return max(0, math.ceil(left)), ttl

    def expired(self) -> list[int]:
        now = self._clock()
        return [i for i, d in self._deadline.items() if d <= now and i not in self._revoking]

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(self._config.check_interval)
            if self._reload_pending:
                self._reload_pending = False
                self.promote(await asyncio.to_thread(self._load))
            if not self._follow_leadership():
                continue
            for lease_id in self.expired():
                self._revoking.add(lease_id)
                task = asyncio.get_running_loop().create_task(self._expire(lease_id))
                self._expiring.add(task)
                task.add_done_callback(self._expiring.discard)

    def _follow_leadership(self) -> bool:
        """Whether this member leads; on taking over, every lease gets a full
        TTL before anything reads or renews a deadline: a follower's
        deadlines are stale (renewals reach only the leader)."""
        leader = self._is_leader()
        if leader and not self._was_leader:
            logger.info("leading: every lease gets a full TTL leases=%d", len(self._ttl))
            self.promote()
        self._was_leader = leader
        return leader

    async def _expire(self, lease_id: int) -> None:
        try:
            await self._revoke(lease_id)
            logger.info("lease expired lease_id=%x", lease_id)
        except KvError as exc:
            logger.info("lease expiry not applied lease_id=%x error=%s", lease_id, exc)
            self._revoking.discard(lease_id)
            if isinstance(exc, LeaseNotFoundError):
                self._ttl.pop(lease_id, None)
                self._deadline.pop(lease_id, None)
