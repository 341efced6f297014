"""The outer layer of every call: requests that cannot be decoded get etcd's
answer, not a framework crash, and the call is counted (``calls``).

grpc.aio answers a request whose bytes do not parse with UNKNOWN and a Python
exception text. etcd (grpc-go) answers INTERNAL "grpc: error unmarshalling
request: ...". ``guarded`` wraps a method handler so that the decode error
reaches the handler, which aborts with that status. The layer sees every
request and response of the call, and how it ended, so it also counts them:
one layer per message instead of two.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

import grpc

from kvstore.api.calls import CANCELED, OK, UNKNOWN, MethodCalls, Traffic, go_name
from kvstore.api.edge import Ctx
from kvstore.api.registry import Handler, rebuilt


class _Undecodable:
    def __init__(self, error: Exception) -> None:
        self.message = f"grpc: error unmarshalling request: {error}"


async def _refuse(context: Ctx, request: _Undecodable) -> NoReturn:
    await context.abort(grpc.StatusCode.INTERNAL, request.message)


def guarded(handler: Handler, calls: MethodCalls) -> Handler:
    """``handler`` answering an undecodable request with etcd's status, and
    counting its calls in ``calls``."""
    parse = handler.request_deserializer
    traffic = calls.traffic

    def deserialize(raw: bytes) -> Any:
        try:
            request = parse(raw) if parse is not None else raw
        except Exception as exc:  # any parse failure becomes etcd's status
            return _Undecodable(exc)
        traffic.received_bytes += len(raw)
        return request

    ser = handler.response_serializer
    if ser is not None:
        ser = _sent(ser, traffic, bool(handler.unary_stream or handler.stream_stream))
    return rebuilt(
        handler, lambda inner, streaming: _counted(inner, calls, streaming), deserialize, ser
    )


def _sent(
    serialize: Callable[[Any], bytes], traffic: Traffic, stream: bool
) -> Callable[[Any], bytes]:
    """``serialize``, counting the bytes; a stream may yield responses it
    encoded itself (the watch hub does)."""
    if not stream:

        def encode_one(response: Any) -> bytes:
            raw = serialize(response)
            traffic.sent_bytes += len(raw)
            return raw

        return encode_one

    def encode(response: Any) -> bytes:
        raw = response if isinstance(response, bytes) else serialize(response)
        traffic.sent_bytes += len(raw)
        return raw

    return encode


def _ended(context: Ctx, exc: BaseException) -> str:
    """The status of a call that raised ``exc``, by grpc-go's name."""
    if isinstance(exc, grpc.aio.AbortError):
        return go_name(context.code())
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return CANCELED  # the client went away
    return UNKNOWN  # what grpc answers for an unexpected exception


def _counted(inner: Callable[..., Any], calls: MethodCalls, streaming: bool) -> Callable[..., Any]:
    """``inner`` (taking a request, or a stream of them if ``streaming``),
    counted. An undecodable request is refused before the call counts."""
    if inspect.isasyncgenfunction(inner):

        async def generate(request: Any, context: Ctx) -> AsyncIterator[Any]:
            request = await _taken(request, context, calls, streaming)
            began = calls.begin()
            code = OK
            try:
                async for item in inner(request, context):
                    calls.sent += 1
                    yield item
            except BaseException as exc:
                code = _ended(context, exc)
                raise
            finally:
                calls.end(code, began)

        return generate

    async def call(request: Any, context: Ctx) -> Any:
        request = await _taken(request, context, calls, streaming)
        began = calls.begin()
        code = OK
        try:
            response = await inner(request, context)
        except BaseException as exc:
            code = _ended(context, exc)
            raise
        finally:
            calls.end(code, began)
        calls.sent += 1
        return response

    return call


async def _taken(request: Any, context: Ctx, calls: MethodCalls, streaming: bool) -> Any:
    """The call's request (or its stream of them, checked as they come),
    counted; an undecodable one is refused here."""
    if streaming:
        return _checked(request, context, calls)
    if isinstance(request, _Undecodable):
        await _refuse(context, request)
    calls.received += 1
    return request


def _checked(requests: AsyncIterator[Any], context: Ctx, calls: MethodCalls) -> AsyncIterator[Any]:
    async def iterate() -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, _Undecodable):
                await _refuse(context, request)
            calls.received += 1
            yield request

    return iterate()
