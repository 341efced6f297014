"""Expectations: what a controller is waiting to see in its cache.

A ReplicaSet controller that just created 3 pods must not create them again on the
next reconcile just because its cache has not seen them yet. Before creating it
records "expect 3 adds"; each pod add observed by the informer lowers the count;
the controller only acts on a key whose expectations are met (or expired, in case
an event was lost). Deletes are tracked by pod key, so a repeated delete of the same
pod is not counted twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class _Expected:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    stamp: float = field(default_factory=time.monotonic)


class Expectations:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._by_key: dict[str, _Expected] = {}

    def satisfied(self, key: str) -> bool:
        exp = self._by_key.get(key)
        if exp is None:
            return True
        if exp.adds <= 0 and not exp.deletes:
            return True
        return time.monotonic() - exp.stamp > self.timeout

    def expect_creations(self, key: str, count: int) -> None:
        self._by_key[key] = _Expected(adds=count)

    def expect_deletions(self, key: str, pod_keys: list[str]) -> None:
        self._by_key[key] = _Expected(deletes=set(pod_keys))

    def creation_observed(self, key: str) -> None:
        exp = self._by_key.get(key)
        if exp is not None:
            exp.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        exp = self._by_key.get(key)
        if exp is not None:
            exp.deletes.discard(pod_key)

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)
