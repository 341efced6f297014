"""Simple tokens, as etcd's ``--auth-token simple``: random strings kept in memory.

A token is issued by a replicated command, so every member learns it and a
client may use it on any member. Tokens live in memory only: a restarted member
has forgotten them, and clients re-authenticate on "invalid auth token" (etcd's
clients do that by themselves). Each use renews the TTL, as in etcd.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from kvstore.storage.effects import Effects


def new_token() -> str:
    return secrets.token_urlsafe(24)


class TokenKeeper:
    """token -> user name, with a TTL renewed on each use. Event-loop thread only."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._prune_at = 1024

    def issue(self, token: str, name: str) -> None:
        self._tokens[token] = (name, self._clock() + self._ttl)
        if len(self._tokens) >= self._prune_at:
            self.prune()
            self._prune_at = max(1024, 2 * len(self._tokens))

    def user_of(self, token: str) -> str | None:
        """The user ``token`` was issued to, or None (unknown or expired)."""
        entry = self._tokens.get(token)
        if entry is None:
            return None
        name, deadline = entry
        now = self._clock()
        if now >= deadline:
            del self._tokens[token]
            return None
        self._tokens[token] = (name, now + self._ttl)
        return name

    def untrust(self, name: str | None) -> None:
        """Forget the tokens of ``name`` (None: of everyone)."""
        if name is None:
            self._tokens.clear()
            return
        for token in [t for t, (n, _) in self._tokens.items() if n == name]:
            del self._tokens[token]

    def prune(self) -> None:
        now = self._clock()
        for token in [t for t, (_, deadline) in self._tokens.items() if deadline <= now]:
            del self._tokens[token]

    def on_effects(self, effects: Effects) -> None:
        """Listener of applied batches: new tokens, and tokens that must die."""
        if effects.reset:
            self._tokens.clear()
        for name in effects.untrusted:
            self.untrust(name)
        for token, name in effects.tokens:
            self.issue(token, name)

    def __len__(self) -> int:
        return len(self._tokens)
