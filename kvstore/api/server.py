"""Assembling one member: storage, state machine, proposer, hub, lessor, gRPC.

Start order: storage → proposer → lessor → gRPC (health SERVING last).
Stop order is the reverse: health NOT_SERVING → gRPC stop(grace) → watch hub
→ lessor → proposer → storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from kvstore.api import founding
from kvstore.api.auth import AuthGuard
from kvstore.api.auth_service import AuthService
from kvstore.api.autocompact import AutoCompactor
from kvstore.api.callctx import with_call_context
from kvstore.api.calls import CallCounts
from kvstore.api.cluster import ClusterService
from kvstore.api.context import Member
from kvstore.api.decoding import guarded
from kvstore.api.edge import Identity
from kvstore.api.ids import bind_address, id_of, is_https, member_id_of, peer_address
from kvstore.api.kv import KVService
from kvstore.api.leaderwatch import LeaderWatch
from kvstore.api.learner import learner_gate
from kvstore.api.lease import LeaseService
from kvstore.api.maintenance import MaintenanceService
from kvstore.api.membership import LEARNER_PROGRESS, STEP_DOWN, Membership
from kvstore.api.monitoring import MonitoringServer
from kvstore.api.registry import Handler, WrappingServer
from kvstore.api.watch import WatchService
from kvstore.auth.jwt_tokens import JwtTokens
from kvstore.auth.tokens import TokenKeeper
from kvstore.config import GRPC_OVERHEAD_BYTES, GrpcKeepalive, ServerConfig, TLSConfig
from kvstore.errors import KvError, MemberRemovedError
from kvstore.lease.lessor import Lessor
from kvstore.pb import command_pb2, rpc_pb2, rpc_pb2_grpc
from kvstore.raft.fsm import StateMachine
from kvstore.raft.local import LocalProposer
from kvstore.raft.proposer import Answer, Proposer, Question, QuestionHandler
from kvstore.raft.replicated import Peer, RaftProposer, RaftSettings
from kvstore.storage.dirlock import DataDirLock
from kvstore.storage.effects import Effects
from kvstore.storage.store import MvccStore
from kvstore.watch.hub import WatchHub

logger = logging.getLogger(__name__)

#: a learner this close to the leader's commit index follows its member
#: record (under load a learner is always a little behind)
CAUGHT_UP_ENTRIES = 1000

SERVICE_NAMES = [
    "etcdserverpb.KV",
    "etcdserverpb.Watch",
    "etcdserverpb.Lease",
    "etcdserverpb.Cluster",
    "etcdserverpb.Maintenance",
    "etcdserverpb.Auth",
]


def _listen(server: grpc.aio.Server, url: str, creds: grpc.ServerCredentials | None) -> int:
    """The port bound for ``url``; grpcio reports a failed bind as a bare RuntimeError."""
    address = bind_address(url)
    try:
        if creds is None:
            return server.add_insecure_port(address)
        return server.add_secure_port(address, creds)
    except RuntimeError as exc:
        raise OSError(f"cannot listen for clients on {address} (in use or not local)") from exc


def server_options(
    max_request_bytes: int, keepalive: GrpcKeepalive | None = None
) -> list[tuple[str, int]]:
    """The gRPC server's channel options (also used by the bench's floor server)."""
    keepalive = GrpcKeepalive() if keepalive is None else keepalive
    return [
        ("grpc.max_receive_message_length", max_request_bytes + GRPC_OVERHEAD_BYTES),
        ("grpc.max_send_message_length", 2**31 - 1),
        ("grpc.so_reuseport", 0),
        # clients ping idle streams (watches); allow it as etcd does
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", int(keepalive.min_time * 1000)),
        ("grpc.http2.max_ping_strikes", 0),
        # the server pings a connection idle this long, and closes it unanswered
        ("grpc.keepalive_time_ms", int(keepalive.interval * 1000)),
        ("grpc.keepalive_timeout_ms", int(keepalive.timeout * 1000)),
        ("grpc.http2.ping_timeout_ms", int(keepalive.timeout * 1000)),
    ]


class KvServer:
    """One kvstore member serving the etcd v3 API. ``start()`` / ``aclose()``."""

    def __init__(
        self, config: ServerConfig, on_fatal: Callable[[BaseException], None] | None = None
    ) -> None:
        self.config = config
        self._on_fatal = on_fatal or (lambda exc: None)
        member_id = member_id_of(config.initial_advertise_peer_urls[0])
        self.ports: list[int] = []
        self._store: MvccStore | None = None
        self._proposer: Proposer | None = None
        self._lessor: Lessor | None = None
        self._hub: WatchHub | None = None
        self._grpc: grpc.aio.Server | None = None
        #: publishing this member's URLs, and the leader's promotions of
        #: learners added as voters (``Membership.promote_caught_up``)
        self._background: list[asyncio.Task[None]] = []
        #: a learner turning voter (``_follow_role``)
        self._promotion: asyncio.Task[None] | None = None
        #: this learner has seen its own member record (``_follow_role``)
        self._was_member = False
        self._health: health.aio.HealthServicer | None = None
        self._monitoring: MonitoringServer | None = None
        #: ends the streams that require a leader while this member has none
        self._leaders: LeaderWatch | None = None
        #: member list and changes; answers a removal's STEP_DOWN question here
        self._membership: Membership | None = None
        #: held from ``start`` to the end of ``aclose``: one member per data dir
        self._dir_lock = DataDirLock(config.storage.data_dir)
        self.identity = Identity(cluster_id=0, member_id=member_id)
        self.identity.cluster_id = self._cluster_id()

    def _cluster_id(self, carried: int = 0) -> int:
        """Computed from the founding members, as each founder computes it; a
        member that joined a running cluster takes the one its MemberAdd
        carried (``carried``: the store's, 0 until its log or snapshot brings it)."""
        cluster = self.config.cluster
        if cluster is None:
            return id_of("cluster", str(self.identity.member_id))
        if cluster.initial_cluster_state == "existing" and carried:
            return carried
        return id_of("cluster", ",".join(f"{p.name}={p.peer_url}" for p in cluster.initial_cluster))

    @property
    def endpoints(self) -> list[str]:
        host = bind_address(self.config.listen_client_urls[0]).rsplit(":", 1)[0]
        return [f"{host}:{port}" for port in self.ports]

    def _header_at(self, revision: int) -> rpc_pb2.ResponseHeader:
        """A complete response header: identity, ``revision`` and the current term."""
        term = self._proposer.term() if self._proposer is not None else 1
        return self.identity.header(revision, term)

    async def _settled(self) -> None:
        if self._proposer is not None:
            await self._proposer.settled()

    async def start(self) -> None:
        self._dir_lock.acquire()
        store = self._store = await asyncio.to_thread(MvccStore, self.config.storage)
        store.start()
        # as etcd: once the data dir exists, the flags naming the cluster are ignored
        with store.read() as view:
            applied = view.applied[0]
            carried = view.cluster_id
        settled = await asyncio.to_thread(
            founding.settle, self.config.storage.data_dir, self.config.cluster, applied
        )
        cfg = self.config = dataclasses.replace(self.config, cluster=settled)
        self.identity.cluster_id = self._cluster_id(carried)
        hub = self._hub = WatchHub(store, cfg.watch, self._header_at, self._settled)
        lessor = self._lessor = Lessor(store, cfg.lease, self._revoke_lease, self._is_leader)
        keeper = TokenKeeper(cfg.auth.token_ttl)
        proposer = self._proposer = self._make_proposer(
            StateMachine(store, cfg.lease),
            [hub.publish, lessor.on_effects, keeper.on_effects, self._follow_role],
            functools.partial(self._answer, lessor),
        )
        await proposer.start()
        await lessor.start()

        tls = cfg.client_tls
        jwt = JwtTokens(cfg.auth.jwt) if cfg.auth.jwt is not None else None
        guard = AuthGuard(
            store, keeper, client_cert_auth=tls is not None and tls.client_cert_auth, jwt=jwt
        )
        member = Member(
            cfg,
            self.identity,
            store,
            proposer,
            hub,
            lessor,
            guard,
            CallCounts(timed=cfg.metrics == "extensive"),
        )
        server = self._grpc = grpc.aio.server(
            options=server_options(cfg.max_request_bytes, cfg.grpc_keepalive)
        )

        election = cfg.cluster.election_timeout_min if cfg.cluster is not None else 1.0
        leaders = self._leaders = LeaderWatch(lambda: proposer.status().leader_id != 0, election)

        def wrap(method: str, handler: Handler) -> Handler:
            handler = with_call_context(method, handler, guard, leaders, member.calls.traffic)
            if isinstance(proposer, RaftProposer) and proposer.learner:
                handler = learner_gate(method, handler, lambda: proposer.learner)
            return guarded(handler, member.calls.method(method, handler))

        etcd = WrappingServer(server, wrap).as_server()
        rpc_pb2_grpc.add_KVServicer_to_server(KVService(member), etcd)
        rpc_pb2_grpc.add_WatchServicer_to_server(WatchService(member), etcd)
        rpc_pb2_grpc.add_LeaseServicer_to_server(LeaseService(member), etcd)
        membership = self._membership = Membership(member)
        rpc_pb2_grpc.add_ClusterServicer_to_server(ClusterService(member, membership), etcd)
        rpc_pb2_grpc.add_MaintenanceServicer_to_server(MaintenanceService(member, membership), etcd)
        rpc_pb2_grpc.add_AuthServicer_to_server(AuthService(member), etcd)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(
            health_servicer,
            WrappingServer(server, lambda m, h: guarded(h, member.calls.method(m, h))).as_server(),
        )
        # as reflection.enable_server_reflection does, through WrappingServer
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(
                [*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME]
            ),
            WrappingServer(server, lambda m, h: h).as_server(),
        )
        for url in cfg.listen_client_urls:
            if is_https(url):
                if tls is None:
                    raise KvError(f"kvstore: {url} needs --cert-file and --key-file")
                self.ports.append(_listen(server, url, server_credentials(tls)))
            else:
                self.ports.append(_listen(server, url, None))
        await server.start()
        leaders.start()
        self._health = health_servicer
        if cfg.listen_metrics_urls:
            self._monitoring = MonitoringServer(member, cfg.listen_metrics_urls)
            await self._monitoring.start()
        for name in ["", *SERVICE_NAMES]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        loop = asyncio.get_running_loop()
        if isinstance(proposer, RaftProposer):
            self._background = [
                loop.create_task(self._publish_self(proposer)),
                loop.create_task(membership.promote_caught_up(proposer)),
            ]
        if cfg.auto_compaction.retention > 0:
            compactor = AutoCompactor(
                cfg.auto_compaction,
                lambda: store.revision,
                proposer.is_leader,
                lambda revision: proposer.propose(
                    command_pb2.Command(compaction=rpc_pb2.CompactionRequest(revision=revision))
                ),
            )
            self._background.append(loop.create_task(compactor.run()))
        logger.info(
            "serving name=%s member_id=%x endpoints=%s revision=%d",
            cfg.name,
            self.identity.member_id,
            ",".join(self.endpoints),
            store.revision,
        )

    def _make_proposer(
        self,
        fsm: StateMachine,
        listeners: list[Callable[[Effects], None]],
        answer: QuestionHandler,
    ) -> Proposer:
        cfg = self.config
        if cfg.cluster is None:
            return LocalProposer(
                fsm, self.identity.member_id, listeners, cfg.request_timeout, self._on_fatal, answer
            )
        cl = cfg.cluster
        peers = [
            Peer(member_id_of(p.peer_url), p.name, peer_address(p.peer_url))
            for p in cl.initial_cluster
        ]
        me = Peer(
            self.identity.member_id, cfg.name, peer_address(cfg.initial_advertise_peer_urls[0])
        )
        learner = self._starts_as_learner(me.member_id)
        raft_dir = cfg.storage.data_dir / "member" / "raft"
        raft_dir.mkdir(parents=True, exist_ok=True)
        settings = RaftSettings(
            data_dir=str(raft_dir),
            secret=cl.secret,
            bind_address=peer_address(cl.listen_peer_url),
            heartbeat=cl.heartbeat,
            append_entries_period=cl.append_entries_period,
            tick_period=cl.tick_period,
            election_timeout_min=cl.election_timeout_min,
            election_timeout_max=cl.election_timeout_max,
            log_compaction_entries=cl.snapshot_entries,
            log_compaction_seconds=cl.snapshot_seconds,
            peer_tls=cl.peer_tls,
            learner=learner,
        )
        return RaftProposer(
            fsm,
            me,
            peers,
            settings,
            listeners,
            cfg.request_timeout,
            self._on_fatal,
            answer,
            resolve=self._member_at,
            is_removed=self._member_removed,
        )

    def _answer(self, lessor: Lessor, question: Question) -> Answer:
        """What this member, as leader, answers the others (event loop)."""
        kind, member_id = question
        if kind == STEP_DOWN:
            assert isinstance(self._proposer, RaftProposer) and self._membership is not None
            return self._membership.answer_step_down(self._proposer, member_id)
        if kind != LEARNER_PROGRESS:
            return lessor.answer(question)
        assert isinstance(self._proposer, RaftProposer) and self._store is not None
        with self._store.read() as view:
            record = view.members().get(member_id)
        address = peer_address(record.peerURLs[0]) if record and record.peerURLs else None
        return self._proposer.learner_progress(address)

    def _member_at(self, address: str) -> int | None:
        """The member whose peer URL is at ``address``, from the member list."""
        assert self._store is not None
        with self._store.read() as view:
            stored = view.members()
        for member_id, record in stored.items():
            if record is not None and any(peer_address(u) == address for u in record.peerURLs):
                return member_id
        return None

    def _member_removed(self, member_id: int) -> bool:
        """The member list records ``member_id`` as removed (any thread)."""
        assert self._store is not None
        with self._store.read() as view:
            stored = view.members()
        return member_id in stored and stored[member_id] is None

    def _starts_as_learner(self, member_id: int) -> bool:
        """As its member record says; a member joining a running cluster
        with no record yet starts as a learner and, once the log brings it a
        record that says voter, turns voter (``_follow_role``): the log is
        where it learns which it was added as."""
        assert self._store is not None and self.config.cluster is not None
        with self._store.read() as view:
            stored = view.members()
        if member_id in stored:
            record = stored[member_id]
            return record is not None and record.isLearner
        return self.config.cluster.initial_cluster_state == "existing"

    def _follow_role(self, effects: Effects) -> None:
        """A learner that has caught up with the leader follows its member
        record: promoted, it becomes a voter. (While it replays older entries
        its records may be out of date: a member removed and added again.)"""
        proposer = self._proposer
        if not isinstance(proposer, RaftProposer) or not proposer.learner:
            return
        if self._promotion is not None or self._store is None:
            return
        with self._store.read() as view:
            self.identity.cluster_id = self._cluster_id(view.cluster_id)
            if not proposer.caught_up(CAUGHT_UP_ENTRIES):
                return
            stored = view.members()
        member_id = self.identity.member_id
        record = stored.get(member_id)
        if record is not None:
            self._was_member = True
        if record is not None and not record.isLearner:
            self._promotion = asyncio.get_running_loop().create_task(proposer.become_voter())
        elif self._was_member and record is None and proposer.caught_up(0):
            # as etcd's removed member: it stops (the voters refuse its link
            # now). Only once it saw itself a member: a member removed, wiped
            # and added again may first install a snapshot from in between.
            logger.error("this member was removed from the cluster member_id=%x", member_id)
            self._on_fatal(MemberRemovedError())

    async def _publish_self(self, proposer: RaftProposer) -> None:
        """Record this member's name and client URLs in the replicated member list."""
        cfg = self.config
        me = rpc_pb2.Member(
            ID=self.identity.member_id,
            name=cfg.name,
            peerURLs=list(cfg.initial_advertise_peer_urls),
            clientURLs=list(cfg.advertise_client_urls),
        )
        while True:
            try:
                await proposer.propose(command_pb2.Command(member_publish=me))
                logger.info("published member name=%s member_id=%x", cfg.name, me.ID)
                return
            except KvError as err:
                logger.info("publish retry error=%s", err.message)
                await asyncio.sleep(0.5)

    async def _revoke_lease(self, lease_id: int) -> object:
        assert self._proposer is not None
        cmd = command_pb2.Command(lease_revoke=rpc_pb2.LeaseRevokeRequest(ID=lease_id))
        return await self._proposer.propose(cmd)

    def _is_leader(self) -> bool:
        return self._proposer is not None and self._proposer.is_leader()

    async def aclose(self) -> None:
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._membership is not None:
            await self._membership.aclose()
        if self._promotion is not None:
            # not cancelled: a Raft node half made in its thread would run on
            with contextlib.suppress(Exception):
                await self._promotion
        if self._monitoring is not None:
            await self._monitoring.aclose()
        if self._leaders is not None:
            await self._leaders.aclose()
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
        self._dir_lock.release()
        logger.info("stopped name=%s", self.config.name)


def server_credentials(tls: TLSConfig) -> grpc.ServerCredentials:
    """TLS for client URLs; with ``client_cert_auth`` clients must present a
    certificate signed by the trusted CA."""
    ca = tls.trusted_ca_file.read_bytes() if tls.trusted_ca_file is not None else None
    return grpc.ssl_server_credentials(
        [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
        root_certificates=ca,
        require_client_auth=tls.client_cert_auth,
    )
