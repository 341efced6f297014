"""Servicers registered through WrappingServer are served by generic handlers
only: none of their methods reaches grpc.aio as a "registered method", whose
pending requests its server waits on again for every call it accepts."""

from __future__ import annotations

from typing import Any

import grpc

from kvstore.api.registry import Handler, WrappingServer
from kvstore.pb import rpc_pb2, rpc_pb2_grpc


class _CountingKV(rpc_pb2_grpc.KVServicer):
    async def Range(self, request: Any, context: Any) -> Any:
        return rpc_pb2.RangeResponse(count=len(request.key))


async def test_wrapped_handlers_are_served_without_registered_methods() -> None:
    server = grpc.aio.server()
    registered: list[str] = []
    real = server.add_registered_method_handlers

    def recording(service: str, handlers: dict[str, Handler]) -> None:
        registered.append(service)
        real(service, handlers)

    server.add_registered_method_handlers = recording  # type: ignore[method-assign]
    wrapped: list[str] = []

    def wrap(method: str, handler: Handler) -> Handler:
        wrapped.append(method)
        return handler

    rpc_pb2_grpc.add_KVServicer_to_server(_CountingKV(), WrappingServer(server, wrap).as_server())
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            kv = rpc_pb2_grpc.KVStub(channel)
            response = await kv.Range(rpc_pb2.RangeRequest(key=b"abcd"), timeout=10)
            assert response.count == 4
            try:
                await kv.Put(rpc_pb2.PutRequest(key=b"k"), timeout=10)
            except grpc.aio.AioRpcError as err:
                assert err.code() is grpc.StatusCode.UNIMPLEMENTED
            else:
                raise AssertionError("Put is not implemented by the test servicer")
    finally:
        await server.stop(None)
    assert "/etcdserverpb.KV/Range" in wrapped
    assert registered == []
