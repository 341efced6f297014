"""Authentication at the edge. Auth is not enabled in this version, so a request
carrying a token is answered as etcd answers it then: Unauthenticated
"etcdserver: invalid auth token"."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from kvstore.api.edge import Ctx
from kvstore.errors import InvalidAuthTokenError

ETCD_PREFIX = "/etcdserverpb."
Continuation: TypeAlias = (
    "Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]]"
)


class TokenInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(ETCD_PREFIX):
            return handler
        metadata = details.invocation_metadata or ()
        if not any(key in ("token", "authorization") for key, _ in metadata):
            return handler
        return _refusing(handler)


async def _refuse(context: Ctx) -> None:
    err = InvalidAuthTokenError()
    await context.abort(grpc.StatusCode[err.code], err.message)


def _refusing(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    async def unary(request: Any, context: Ctx) -> Any:
        await _refuse(context)

    async def streaming(request: Any, context: Ctx) -> AsyncIterator[Any]:
        await _refuse(context)
        yield  # pragma: no cover - abort raises

    des, ser = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary, des, ser)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(streaming, des, ser)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary, des, ser)
    return grpc.stream_stream_rpc_method_handler(streaming, des, ser)
