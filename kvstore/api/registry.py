"""Servicers are registered with their method handlers wrapped once, at start-up.

grpc.aio runs server interceptors on every call: a chain of coroutines that
builds new method handlers each time. What kvstore wraps around its handlers
(etcd's answer to undecodable requests, the auth caller) does not depend on
the call, so it is applied once here, to the handlers that the generated
``add_*Servicer_to_server`` functions register.

The handlers are registered as generic handlers only, not also as grpc's
"registered methods": grpc.aio's server keeps one pending request for the
next call of every registered method and, for every call it accepts, waits
on all of them again with ``asyncio.wait`` (a callback added to and removed
from each). With etcd's ~50 methods that was about a tenth of a member's
event loop under 128 gets in flight; with generic handlers it waits on one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, cast

import grpc

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
#: (full method name, handler) -> the handler to serve
Wrap = Callable[[str, Handler], Handler]
#: (a handler's behaviour, whether its requests come as a stream) -> the behaviour to run
Behaviour = Callable[[Callable[..., Any], bool], Callable[..., Any]]


def rebuilt(
    handler: Handler,
    behaviour: Behaviour,
    deserializer: Callable[[bytes], Any] | None = None,
    serializer: Callable[[Any], bytes] | None = None,
) -> Handler:
    """A handler of the same kind as ``handler``, running what ``behaviour``
    makes of its behaviour (told whether requests come as a stream), with
    its (de)serializers unless others are given. One place for the four
    kinds of gRPC method, for every wrapper applied at start-up."""
    des = deserializer or handler.request_deserializer
    ser = serializer or handler.response_serializer
    h = handler
    if h.unary_unary:
        return grpc.unary_unary_rpc_method_handler(behaviour(h.unary_unary, False), des, ser)
    if h.unary_stream:
        return grpc.unary_stream_rpc_method_handler(behaviour(h.unary_stream, False), des, ser)
    if h.stream_unary:
        return grpc.stream_unary_rpc_method_handler(behaviour(h.stream_unary, True), des, ser)
    assert h.stream_stream is not None
    return grpc.stream_stream_rpc_method_handler(behaviour(h.stream_stream, True), des, ser)


class WrappingServer:
    """Stands in for the server while generated code registers a servicer."""

    def __init__(self, server: grpc.aio.Server, wrap: Wrap) -> None:
        self._server = server
        self._wrap = wrap

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """Ignored: the same handlers arrive by name in ``add_registered_method_handlers``."""

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        """Registers them with the server as a generic handler (see the module's note)."""
        wrapped = {name: self._wrap(f"/{service}/{name}", h) for name, h in handlers.items()}
        generic = grpc.method_handlers_generic_handler(service, wrapped)
        self._server.add_generic_rpc_handlers((generic,))

    def as_server(self) -> grpc.aio.Server:
        """For the generated functions' signature; they call only the two methods above."""
        return cast(grpc.aio.Server, self)
