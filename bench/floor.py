"""The floor: a Python gRPC server that does nothing but answer.

``python -m bench.floor --port N --value-bytes B`` serves KV.Range with one
key-value of B bytes (the shape of a get's answer), KV.Put with a bare
response, and Maintenance.Status, on grpc.aio with kvstore's own server
options and event loop (uvloop), and no storage, validation, auth or Raft
behind it. The bench drives it with the same load generator as kvstore and
etcd (three of them, one per endpoint, in place of a 3-member cluster): its
figures are the most any kvstore built on grpcio could reach on this machine,
so they show how much of a gap to etcd is grpcio's and how much is kvstore's.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import grpc
import uvloop

from kvstore.api.registry import WrappingServer
from kvstore.api.server import server_options
from kvstore.config import MAX_REQUEST_BYTES
from kvstore.pb import kv_pb2, rpc_pb2, rpc_pb2_grpc

MEMBER_ID = 1


def _header() -> rpc_pb2.ResponseHeader:
    return rpc_pb2.ResponseHeader(cluster_id=1, member_id=MEMBER_ID, revision=1, raft_term=1)


class FloorKV(rpc_pb2_grpc.KVServicer):
    def __init__(self, value_bytes: int) -> None:
        self._value = b"v" * value_bytes

    async def Range(self, request: rpc_pb2.RangeRequest, context: Any) -> rpc_pb2.RangeResponse:
        kv = kv_pb2.KeyValue(
            key=request.key, value=self._value, create_revision=1, mod_revision=1, version=1
        )
        return rpc_pb2.RangeResponse(header=_header(), kvs=[kv], count=1)

    async def Put(self, request: rpc_pb2.PutRequest, context: Any) -> rpc_pb2.PutResponse:
        return rpc_pb2.PutResponse(header=_header())


class FloorMaintenance(rpc_pb2_grpc.MaintenanceServicer):
    async def Status(self, request: rpc_pb2.StatusRequest, context: Any) -> rpc_pb2.StatusResponse:
        return rpc_pb2.StatusResponse(header=_header(), leader=MEMBER_ID, version="floor")


async def serve(port: int, value_bytes: int) -> None:
    server = grpc.aio.server(options=server_options(MAX_REQUEST_BYTES))
    # Registered as kvstore registers its servicers (generic handlers only: see
    # kvstore.api.registry), unwrapped. The floor serves only what the bench
    # calls; the generated base classes answer every other method
    # UNIMPLEMENTED (the stubs mark them abstract).
    plain = WrappingServer(server, lambda method, handler: handler).as_server()
    rpc_pb2_grpc.add_KVServicer_to_server(FloorKV(value_bytes), plain)  # type: ignore[abstract]
    rpc_pb2_grpc.add_MaintenanceServicer_to_server(FloorMaintenance(), plain)  # type: ignore[abstract]
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(None)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--value-bytes", type=int, default=256)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.value_bytes))


if __name__ == "__main__":
    main()
