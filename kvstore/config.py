"""Server settings: frozen dataclasses built once by the CLI and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CLIENT_URL = "http://127.0.0.1:2379"
MAX_REQUEST_BYTES = 1536 * 1024  # etcd's --max-request-bytes default (1.5 MiB)
GRPC_OVERHEAD_BYTES = 512 * 1024  # etcd lets gRPC frames exceed requests by this much
MAX_TXN_OPS = 128
MAX_LEASE_TTL = 9_000_000_000


@dataclass(frozen=True)
class StorageConfig:
    """How the LMDB environment of one member is opened and kept."""

    data_dir: Path
    #: Starting LMDB map size; doubled on demand up to the quota.
    initial_map_size: int = 256 * 1024 * 1024
    #: Like etcd's --quota-backend-bytes: beyond it writes fail with NOSPACE.
    quota_bytes: int = 8 * 1024 * 1024 * 1024
    #: Keys handled per write transaction of the background compactor.
    compaction_batch_keys: int = 1000
    #: fsync on commit. Only tests of non-durable paths may turn it off.
    sync: bool = True
    #: Also fsync LMDB's meta page on each commit. A Raft member turns it off:
    #: a crash can then undo only the last commit, never corrupt the file
    #: (MDB_NOMETASYNC), and that commit's entries are in the Raft journal,
    #: synced before any acknowledgement, from which the member replays them.
    metasync: bool = True


@dataclass(frozen=True)
class LeaseConfig:
    #: Grants below this many seconds are raised to it (etcd: 2 s by default).
    min_ttl: int = 2
    #: How often the leader looks for expired leases.
    check_interval: float = 0.25


@dataclass(frozen=True)
class WatchConfig:
    #: Responses buffered per stream before slow watchers fall back to catch-up.
    send_queue_size: int = 256
    #: Revisions read from LMDB per catch-up step.
    catchup_batch_revisions: int = 500
    #: Interval of progress notifications for watchers that asked for them.
    progress_notify_interval: float = 600.0
    #: Seconds between two fan-outs of new events, per synced watcher, and at
    #: most: writes committed meanwhile share the next fan-out (see WatchHub).
    #: 150 µs: at 100 watchers on one member, 1.7 times the events/s of 50 µs
    #: with the same latency (fewer, fuller responses per stream).
    fanout_spacing_per_watcher: float = 150e-6
    max_fanout_spacing: float = 0.05


@dataclass(frozen=True)
class TLSConfig:
    """Certificates of one listener, as etcd's --cert-file/--key-file/... flags."""

    cert_file: Path
    key_file: Path
    #: CA that client (or peer) certificates must chain to
    trusted_ca_file: Path | None = None
    #: require and verify a certificate from every client (mutual TLS); with auth
    #: enabled, its CN names the user when no token is sent
    client_cert_auth: bool = False


@dataclass(frozen=True)
class JwtConfig:
    """etcd's ``--auth-token jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...``."""

    #: None with an HMAC sign-method (HS256...), whose priv-key file is the shared secret
    public_key: Path | None
    private_key: Path
    sign_method: str = "RS256"
    #: seconds a token is valid after it was issued
    ttl: float = 300.0


@dataclass(frozen=True)
class AuthConfig:
    #: seconds a simple token lives after its last use (etcd's --auth-token-ttl)
    token_ttl: float = 300.0
    #: signed JWT tokens instead of simple ones
    jwt: JwtConfig | None = None


@dataclass(frozen=True)
class PeerConfig:
    """One member of the initial cluster, as in etcd's --initial-cluster."""

    name: str
    peer_url: str


@dataclass(frozen=True)
class ClusterConfig:
    """Raft settings of a member that has peers."""

    initial_cluster: tuple[PeerConfig, ...]
    listen_peer_url: str
    #: "new" or "existing" (joining a running cluster after MemberAdd)
    initial_cluster_state: str = "new"
    #: shared secret: peer traffic is encrypted and authenticated with it
    secret: str | None = None
    #: TLS on the peer transport too (on top of the secret)
    peer_tls: TLSConfig | None = None
    #: seconds between heartbeats of an idle leader (etcd's --heartbeat-interval)
    heartbeat: float = 0.1
    #: seconds between append-entries while a follower has not acknowledged
    #: everything (pysyncobj's period: also the time budget of its send loop)
    append_entries_period: float = 0.01
    tick_period: float = 0.005
    election_timeout_min: float = 0.4
    election_timeout_max: float = 1.0
    #: refuse membership changes that could cost the quorum (etcd's
    #: --strict-reconfig-check)
    strict_reconfig_check: bool = True
    #: log entries (or seconds) before Raft compacts its log into a snapshot
    snapshot_entries: int = 5000
    snapshot_seconds: float = 300.0


@dataclass(frozen=True)
class AutoCompaction:
    """etcd's --auto-compaction-mode and --auto-compaction-retention."""

    #: "periodic" (retention in seconds) or "revision" (retention in revisions)
    mode: str = "periodic"
    #: history kept; 0: no auto-compaction (etcd's default)
    retention: float = 0.0
    #: seconds between the revision mode's looks (etcd's fixed 5 minutes)
    revision_interval: float = 300.0


@dataclass(frozen=True)
class GrpcKeepalive:
    """etcd's --grpc-keepalive-* (seconds): how often clients may ping, how
    often the server pings an idle connection, and how long it waits for the
    answer before closing it. The defaults are etcd's (and grpc's)."""

    min_time: float = 5.0
    interval: float = 7200.0
    timeout: float = 20.0


@dataclass(frozen=True)
class ServerConfig:
    name: str
    storage: StorageConfig
    listen_client_urls: tuple[str, ...] = (DEFAULT_CLIENT_URL,)
    advertise_client_urls: tuple[str, ...] = (DEFAULT_CLIENT_URL,)
    #: http:// URLs serving /metrics and /health (etcd's --listen-metrics-urls)
    listen_metrics_urls: tuple[str, ...] = ()
    #: etcd's --metrics: "extensive" adds the gRPC call latency histogram
    metrics: str = "basic"
    initial_advertise_peer_urls: tuple[str, ...] = ("http://127.0.0.1:2380",)
    cluster: ClusterConfig | None = None
    lease: LeaseConfig = field(default_factory=LeaseConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    #: TLS for https:// client URLs
    client_tls: TLSConfig | None = None
    auth: AuthConfig = field(default_factory=AuthConfig)
    #: A proposal waits this long before "etcdserver: request timed out".
    request_timeout: float = 7.0
    max_request_bytes: int = MAX_REQUEST_BYTES
    #: compares, or operations in a txn branch, allowed (etcd's --max-txn-ops)
    max_txn_ops: int = MAX_TXN_OPS
    grpc_keepalive: GrpcKeepalive = field(default_factory=GrpcKeepalive)
    auto_compaction: AutoCompaction = field(default_factory=AutoCompaction)
    #: Seconds the server waits for in-flight calls on shutdown.
    shutdown_grace: float = 2.0
