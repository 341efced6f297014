"""Servicers are registered with their method handlers wrapped once, at start-up.

grpc.aio runs server interceptors on every call: a chain of coroutines that
builds new method handlers each time. What kvstore wraps around its handlers
(etcd's answer to undecodable requests, the auth caller) does not depend on
the call, so it is applied once here, to the handlers that the generated
``add_*Servicer_to_server`` functions register.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, cast

import grpc

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
#: (full method name, handler) -> the handler to serve
Wrap = Callable[[str, Handler], Handler]


class WrappingServer:
    """Stands in for the server while generated code registers a servicer."""

    def __init__(self, server: grpc.aio.Server, wrap: Wrap) -> None:
        self._server = server
        self._wrap = wrap

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """Ignored: the same handlers arrive by name in ``add_registered_method_handlers``."""

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        wrapped = {name: self._wrap(f"/{service}/{name}", h) for name, h in handlers.items()}
        generic = grpc.method_handlers_generic_handler(service, wrapped)
        self._server.add_generic_rpc_handlers((generic,))
        self._server.add_registered_method_handlers(service, wrapped)

    def as_server(self) -> grpc.aio.Server:
        """For the generated functions' signature; they call only the two methods above."""
        return cast(grpc.aio.Server, self)
