"""etcd's monitoring endpoints on ``--listen-metrics-urls``: ``GET /metrics``
(Prometheus text; etcd's metric names for what a member knows of itself, the
gRPC calls it served (``calls``), and the process's memory, CPU and file
descriptors) and ``GET /health``
(``{"health":"true"}``, or 503 and ``"false"``: an alarm is raised, there is no
leader, or a linearizable read fails within a second).

Metrics are read off the member when scraped; the request path only bumps
integers (calls, and the disk sync durations)."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from kvstore.api.context import Member
from kvstore.api.maintenance import ETCD_API_VERSION
from kvstore.errors import KvError
from kvstore.httpmini import Request, handler, respond
from kvstore.raft.peertraffic import PeerReport

#: as etcd's /health: the linearizable read it makes must answer within this
HEALTH_READ_TIMEOUT = 1.0
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
CLUSTER_VERSION = "3.4"


class MemberCollector(Collector):
    """etcd's names for the member's state, read at scrape time."""

    def __init__(self, member: Member) -> None:
        self._m = member

    def collect(self) -> Iterator[Metric]:
        m = self._m
        raft = m.proposer.status()
        backend = m.store.backend
        for name, doc, label, text in (
            (
                "etcd_server_version",
                "Which version is running.",
                "server_version",
                ETCD_API_VERSION,
            ),
            (
                "etcd_cluster_version",
                "Which cluster version is running.",
                "cluster_version",
                CLUSTER_VERSION,
            ),
            (
                "etcd_server_id",
                "Server or member ID in hexadecimal format.",
                "server_id",
                f"{m.identity.member_id:x}",
            ),
        ):
            family = GaugeMetricFamily(name, doc, labels=[label])
            family.add_metric([text], 1)
            yield family
        for name, doc, value in (
            (
                "etcd_server_has_leader",
                "Whether or not a leader exists. 1 is existence.",
                raft.leader_id != 0,
            ),
            (
                "etcd_server_is_leader",
                "Whether or not this member is a leader.",
                raft.leader_id == m.identity.member_id,
            ),
            ("etcd_server_is_learner", "Whether or not this member is a learner.", raft.learner),
            (
                "etcd_server_proposals_committed_total",
                "The total number of consensus proposals committed.",
                raft.commit_index,
            ),
            (
                "etcd_server_proposals_applied_total",
                "The total number of consensus proposals applied.",
                raft.applied_index,
            ),
            (
                "etcd_server_quota_backend_bytes",
                "Current backend storage quota size in bytes.",
                m.config.storage.quota_bytes,
            ),
            (
                "etcd_mvcc_db_total_size_in_bytes",
                "Total size of the underlying database physically allocated in bytes.",
                backend.file_size(),
            ),
            (
                "etcd_mvcc_db_total_size_in_use_in_bytes",
                "Total size of the underlying database logically in use in bytes.",
                backend.size_in_use(),
            ),
            (
                "etcd_debugging_mvcc_current_revision",
                "The current revision of store.",
                m.store.revision,
            ),
            (
                "etcd_debugging_mvcc_compact_revision",
                "The revision of the last compaction in store.",
                m.store.compacted,
            ),
            ("etcd_debugging_mvcc_watcher_total", "Total number of watchers.", m.hub.watcher_count),
        ):
            yield GaugeMetricFamily(name, doc, value=float(value))
        consensus = m.proposer.metrics()
        yield GaugeMetricFamily(
            "etcd_server_proposals_pending",
            "The current number of pending proposals to commit.",
            value=consensus.proposals_pending,
        )
        for name, doc, count in (
            (
                "etcd_server_leader_changes_seen_total",
                "The number of leader changes seen.",
                consensus.leader_changes,
            ),
            (
                "etcd_server_proposals_failed_total",
                "The total number of failed proposals seen.",
                consensus.proposals_failed,
            ),
        ):
            yield CounterMetricFamily(name, doc, value=count)
        durations = [
            (
                "etcd_disk_backend_commit_duration_seconds",
                "The latency distributions of commit called by backend.",
                backend.commit_durations,
            )
        ]
        if consensus.wal_fsync is not None:
            durations.append(
                (
                    "etcd_disk_wal_fsync_duration_seconds",
                    "The latency distributions of fsync called by WAL.",
                    consensus.wal_fsync,
                )
            )
        for name, doc, observed in durations:
            yield HistogramMetricFamily(
                name, doc, buckets=observed.exposition(), sum_value=observed.sum
            )
        yield from _peer_metrics(f"{m.identity.member_id:x}", consensus.peers)


def _peer_metrics(local: str, peers: tuple[PeerReport, ...]) -> Iterator[Metric]:
    """etcd's per-peer network metrics, labelled with member IDs in hex."""
    active = GaugeMetricFamily(
        "etcd_network_active_peers",
        "The current number of active peer connections.",
        labels=["Local", "Remote"],
    )
    families = [
        (
            CounterMetricFamily(
                "etcd_network_peer_sent_bytes_total",
                "The total number of bytes sent to peers.",
                labels=["To"],
            ),
            "sent_bytes",
        ),
        (
            CounterMetricFamily(
                "etcd_network_peer_received_bytes_total",
                "The total number of bytes received from peers.",
                labels=["From"],
            ),
            "received_bytes",
        ),
        (
            CounterMetricFamily(
                "etcd_network_peer_sent_failures_total",
                "The total number of send failures from peers.",
                labels=["To"],
            ),
            "sent_failures",
        ),
    ]
    round_trips = HistogramMetricFamily(
        "etcd_network_peer_round_trip_time_seconds",
        "Round-Trip-Time histogram between peers",
        labels=["To"],
    )
    for peer in peers:
        remote = f"{peer.member_id:x}"
        if peer.active:
            active.add_metric([local, remote], 1)
        for family, count in families:
            family.add_metric([remote], getattr(peer.counts, count))
        observed = peer.counts.round_trips
        round_trips.add_metric([remote], observed.exposition(), observed.sum)
    yield active
    for family, _ in families:
        yield family
    yield round_trips


def registry_for(member: Member) -> CollectorRegistry:
    """The member's own registry (no process-wide one): its state and its process."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MemberCollector(member))
    registry.register(member.calls)
    ProcessCollector(registry=registry)
    return registry


async def healthy(member: Member, excluded_alarms: set[str]) -> bool:
    """etcd 3.4's /health: no alarm (but those excluded), a leader, and a
    linearizable read answered within a second."""
    if member.store.nospace_alarm and "NOSPACE" not in excluded_alarms:
        return False
    if member.proposer.status().leader_id == 0:
        return False
    try:
        await asyncio.wait_for(member.proposer.read_barrier(), HEALTH_READ_TIMEOUT)
    except (TimeoutError, KvError):
        return False
    return True


class MonitoringServer:
    """HTTP on each of ``urls`` (http:// only), on the member's event loop."""

    def __init__(self, member: Member, urls: tuple[str, ...]) -> None:
        self._m = member
        self._urls = urls
        self._registry = registry_for(member)
        self._servers: list[asyncio.Server] = []
        self.ports: list[int] = []

    async def start(self) -> None:
        for url in self._urls:
            parsed = urllib.parse.urlsplit(url)
            server = await asyncio.start_server(
                handler(self._answer, "monitoring"), parsed.hostname, parsed.port
            )
            self._servers.append(server)
            self.ports.append(int(server.sockets[0].getsockname()[1]))

    async def aclose(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        self._servers = []

    async def _answer(self, request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path not in ("/metrics", "/health"):
            await respond(writer, 404, b"404 page not found\n")
        elif request.method != "GET":
            await respond(writer, 405, b"Method Not Allowed\n")
        elif request.path == "/metrics":
            await respond(writer, 200, generate_latest(self._registry), PROMETHEUS_TEXT)
        else:
            excluded = set(request.query.get("exclude", []))
            ok = await healthy(self._m, excluded)
            body = b'{"health":"true"}' if ok else b'{"health":"false"}\n'  # as etcd's
            await respond(writer, 200 if ok else 503, body)
