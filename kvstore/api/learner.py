"""What a learner serves: as etcd's learners, only Status and serializable
Range; every other call ends in Unavailable "rpc not supported for learner".

The gate wraps the handlers of a member that starts as a learner, once at
start-up (see ``registry``); after its promotion the check is one attribute
read per call. Members that start as voters never become learners and are
not wrapped.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from kvstore.api.edge import Ctx
from kvstore.api.registry import Handler, rebuilt
from kvstore.errors import NotForLearnerError

STATUS = "/etcdserverpb.Maintenance/Status"
RANGE = "/etcdserverpb.KV/Range"


def allowed(method: str, request: Any) -> bool:
    if method == STATUS:
        return True
    return method == RANGE and bool(getattr(request, "serializable", False))


def learner_gate(method: str, handler: Handler, is_learner: Callable[[], bool]) -> Handler:
    """``handler`` refusing what a learner does not serve while ``is_learner()``."""
    err = NotForLearnerError()
    code = grpc.StatusCode[err.code]

    def wrap(inner: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(inner):

            async def generate(request: Any, context: Ctx) -> AsyncIterator[Any]:
                if is_learner():
                    await context.abort(code, err.message)
                async for item in inner(request, context):
                    yield item

            return generate

        async def call(request: Any, context: Ctx) -> Any:
            if is_learner() and not allowed(method, request):
                await context.abort(code, err.message)
            return await inner(request, context)

        return call

    return rebuilt(handler, lambda inner, _streaming: wrap(inner))
