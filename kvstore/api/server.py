"""Assembling one member: storage, state machine, proposer, hub, lessor, gRPC.

Start order: storage → proposer → lessor → gRPC (health SERVING last).
Stop order is the reverse: health NOT_SERVING → gRPC stop(grace) → watch hub
→ lessor → proposer → storage.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from urllib.parse import urlparse

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from kvstore.api.cluster import ClusterService
from kvstore.api.context import Member
from kvstore.api.edge import Identity
from kvstore.api.kv import KVService
from kvstore.api.lease import LeaseService
from kvstore.api.maintenance import MaintenanceService
from kvstore.api.watch import WatchService
from kvstore.config import GRPC_OVERHEAD_BYTES, ServerConfig
from kvstore.errors import UnsupportedError
from kvstore.lease.lessor import Lessor
from kvstore.pb import command_pb2, rpc_pb2, rpc_pb2_grpc
from kvstore.raft.fsm import StateMachine
from kvstore.raft.local import LocalProposer
from kvstore.storage.store import MvccStore
from kvstore.watch.hub import WatchHub

logger = logging.getLogger(__name__)

SERVICE_NAMES = [
    "etcdserverpb.KV",
    "etcdserverpb.Watch",
    "etcdserverpb.Lease",
    "etcdserverpb.Cluster",
    "etcdserverpb.Maintenance",
]


def id_of(*parts: str) -> int:
    """A stable 64-bit ID from names and URLs (member and cluster IDs)."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


def bind_address(url: str) -> str:
    """``http://host:port`` -> ``host:port`` for gRPC; https needs TLS (not yet)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", ""):
        raise UnsupportedError(f"client URL scheme {parsed.scheme!r} (TLS)")
    if parsed.hostname is None or parsed.port is None:
        raise ValueError(f"client URL needs host and port: {url!r}")
    return f"{parsed.hostname}:{parsed.port}"


class KvServer:
    """One kvstore member serving the etcd v3 API. ``start()`` / ``aclose()``."""

    def __init__(
        self, config: ServerConfig, on_fatal: Callable[[BaseException], None] | None = None
    ) -> None:
        self.config = config
        self._on_fatal = on_fatal or (lambda exc: None)
        member_id = id_of(config.name, *config.initial_advertise_peer_urls)
        self.identity = Identity(cluster_id=id_of("cluster", str(member_id)), member_id=member_id)
        self.ports: list[int] = []
        self._store: MvccStore | None = None
        self._proposer: LocalProposer | None = None
        self._lessor: Lessor | None = None
        self._hub: WatchHub | None = None
        self._grpc: grpc.aio.Server | None = None
        self._health: health.aio.HealthServicer | None = None

    @property
    def endpoints(self) -> list[str]:
        host = bind_address(self.config.listen_client_urls[0]).rsplit(":", 1)[0]
        return [f"{host}:{port}" for port in self.ports]

    async def start(self) -> None:
        cfg = self.config
        store = self._store = await asyncio.to_thread(MvccStore, cfg.storage)
        store.start()
        hub = self._hub = WatchHub(store, cfg.watch, self.identity.header)
        lessor = self._lessor = Lessor(store, cfg.lease, self._revoke_lease, self._is_leader)
        proposer = self._proposer = LocalProposer(
            StateMachine(store, cfg.lease),
            self.identity.member_id,
            [hub.publish, lessor.on_effects],
            cfg.request_timeout,
            self._on_fatal,
        )
        await proposer.start()
        await lessor.start()

        member = Member(cfg, self.identity, store, proposer, hub, lessor)
        server = self._grpc = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", cfg.max_request_bytes + GRPC_OVERHEAD_BYTES),
                ("grpc.max_send_message_length", 2**31 - 1),
                ("grpc.so_reuseport", 0),
            ]
        )
        rpc_pb2_grpc.add_KVServicer_to_server(KVService(member), server)
        rpc_pb2_grpc.add_WatchServicer_to_server(WatchService(member), server)
        rpc_pb2_grpc.add_LeaseServicer_to_server(LeaseService(member), server)
        rpc_pb2_grpc.add_ClusterServicer_to_server(ClusterService(member), server)
        rpc_pb2_grpc.add_MaintenanceServicer_to_server(MaintenanceService(member), server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            [*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        for url in cfg.listen_client_urls:
            self.ports.append(server.add_insecure_port(bind_address(url)))
        await server.start()
        self._health = health_servicer
        for name in ["", *SERVICE_NAMES]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        logger.info(
            "serving name=%s member_id=%x endpoints=%s revision=%d",
            cfg.name,
            self.identity.member_id,
            ",".join(self.endpoints),
            store.revision,
        )

    async def _revoke_lease(self, lease_id: int) -> object:
        assert self._proposer is not None
        cmd = command_pb2.Command(lease_revoke=rpc_pb2.LeaseRevokeRequest(ID=lease_id))
        return await self._proposer.propose(cmd)

    def _is_leader(self) -> bool:
        return self._proposer is not None and self._proposer.is_leader()

    async def aclose(self) -> None:
        if self._health is not None:
            for name in ["", *SERVICE_NAMES]:
                await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        if self._grpc is not None:
            await self._grpc.stop(self.config.shutdown_grace)
        if self._hub is not None:
            await self._hub.aclose()
        if self._lessor is not None:
            await self._lessor.aclose()
        if self._proposer is not None:
            await self._proposer.aclose()
        if self._store is not None:
            await asyncio.to_thread(self._store.close)
        logger.info("stopped name=%s", self.config.name)
