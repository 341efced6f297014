"""What an etcd call's metadata asks for, read once before its handler runs:
who is calling (``AuthGuard.admit``: a token, or the client certificate),
whether the call requires a leader (``leaderwatch``), and which client API
version it speaks (counted for ``/metrics``).

The wrapper is applied once per method at start-up (``registry``). Reading
a call's metadata costs a few microseconds, so it is read once for all three.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from kvstore.api.auth import ETCD_PREFIX, NO_TOKEN, AuthGuard
from kvstore.api.calls import Traffic, client_api_version
from kvstore.api.edge import Ctx, abort
from kvstore.api.leaderwatch import LeaderWatch, requires_leader
from kvstore.api.registry import Handler, rebuilt
from kvstore.errors import KvError, NoLeaderError


def with_call_context(
    method: str, handler: Handler, guard: AuthGuard, leaders: LeaderWatch, traffic: Traffic
) -> Handler:
    """``handler`` of ``method``, admitted as its metadata asks (etcd methods),
    and counted in ``traffic`` by kind and client API version, as etcd counts them."""
    if not method.startswith(ETCD_PREFIX):
        return handler
    kind = "unary" if handler.unary_unary else "stream"
    gate = _Gate(guard, leaders, resolve=method not in NO_TOKEN, traffic=traffic, kind=kind)
    return rebuilt(handler, lambda inner, _streaming: gate.wrap(inner))


class _Gate:
    def __init__(
        self, guard: AuthGuard, leaders: LeaderWatch, resolve: bool, traffic: Traffic, kind: str
    ) -> None:
        self._guard = guard
        self._leaders = leaders
        self._resolve = resolve
        self._traffic = traffic
        self._kind = kind

    def admit(self, context: Ctx) -> tuple[KvError | None, bool]:
        """(the error to answer, or None; whether the call requires a leader)."""
        metadata = context.invocation_metadata() or ()
        self._traffic.request(self._kind, client_api_version(metadata))
        required = requires_leader(metadata)
        if required and not self._leaders.has_leader():
            return NoLeaderError(), required
        if self._resolve:
            try:
                self._guard.admit(metadata, context)
            except KvError as err:
                return err, required
        return None, required

    def wrap(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(inner):
            return self._streaming(inner)

        async def call(request: Any, context: Ctx) -> Any:
            err, _ = self.admit(context)
            if err is not None:
                await abort(context, err)
            return await inner(request, context)

        return call

    def _streaming(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        leaders = self._leaders

        async def generate(request: Any, context: Ctx) -> AsyncIterator[Any]:
            err, required = self.admit(context)
            if err is not None:
                await abort(context, err)
            if not required:
                async for item in inner(request, context):
                    yield item
                return
            held = leaders.hold()
            try:
                async for item in inner(request, context):
                    yield item
            except asyncio.CancelledError:
                if not held.cut:
                    raise  # the client went away
                held.task.uncancel()
                await abort(context, NoLeaderError())
            finally:
                leaders.release(held)

        return generate
