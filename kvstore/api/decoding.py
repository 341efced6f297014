"""Requests that cannot be decoded get etcd's answer, not a framework crash.

grpc.aio answers a request whose bytes do not parse with UNKNOWN and a Python
exception text. etcd (grpc-go) answers INTERNAL "grpc: error unmarshalling
request: ...". ``guarded`` wraps a method handler so that the decode error
reaches the handler, which aborts with that status.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeAlias

import grpc

from kvstore.api.edge import Ctx

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


class _Undecodable:
    def __init__(self, error: Exception) -> None:
        self.message = f"grpc: error unmarshalling request: {error}"


async def _refuse(context: Ctx, request: _Undecodable) -> None:
    await context.abort(grpc.StatusCode.INTERNAL, request.message)


def guarded(handler: Handler) -> Handler:
    """``handler`` answering an undecodable request with etcd's status."""
    if handler.request_deserializer is None:
        return handler
    return _guarded(handler)


def _passing_encoded(serialize: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    """A stream may yield responses it encoded itself (the watch hub does)."""

    def encode(response: Any) -> bytes:
        return response if isinstance(response, bytes) else serialize(response)

    return encode


def _guarded(handler: Handler) -> Handler:
    parse = handler.request_deserializer
    assert parse is not None

    def deserialize(raw: bytes) -> Any:
        try:
            return parse(raw)
        except Exception as exc:  # any parse failure becomes etcd's status
            return _Undecodable(exc)

    ser = handler.response_serializer
    if ser is not None and (handler.unary_stream or handler.stream_stream):
        ser = _passing_encoded(ser)
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary), deserialize, ser)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(_unary(handler.unary_stream), deserialize, ser)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            _streaming(handler.stream_unary), deserialize, ser
        )
    assert handler.stream_stream is not None
    return grpc.stream_stream_rpc_method_handler(
        _streaming(handler.stream_stream), deserialize, ser
    )


def _unary(inner: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(inner):

        async def generate(request: Any, context: Ctx) -> AsyncIterator[Any]:
            if isinstance(request, _Undecodable):
                await _refuse(context, request)
                return
            async for item in inner(request, context):
                yield item

        return generate

    async def call(request: Any, context: Ctx) -> Any:
        if isinstance(request, _Undecodable):
            await _refuse(context, request)
            return None
        return await inner(request, context)

    return call


def _checked(requests: AsyncIterator[Any], context: Ctx) -> AsyncIterator[Any]:
    async def iterate() -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, _Undecodable):
                await _refuse(context, request)
                return
            yield request

    return iterate()


def _streaming(inner: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(inner):

        async def generate(requests: AsyncIterator[Any], context: Ctx) -> AsyncIterator[Any]:
            async for item in inner(_checked(requests, context), context):
                yield item

        return generate

    async def call(requests: AsyncIterator[Any], context: Ctx) -> Any:
        return await inner(_checked(requests, context), context)

    return call
