"""``kvstore``: run one member. Flags are named like etcd's."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import os
import re
import signal
import sys
import urllib.parse
from pathlib import Path

import uvloop

from kvstore import __version__, logs
from kvstore.api.ids import bind_address, peer_address
from kvstore.api.server import KvServer
from kvstore.auth.jwt_tokens import JwtKeyError, JwtTokens
from kvstore.config import (
    DEFAULT_CLIENT_URL,
    MAX_REQUEST_BYTES,
    MAX_TXN_OPS,
    AuthConfig,
    AutoCompaction,
    ClusterConfig,
    GrpcKeepalive,
    JwtConfig,
    LeaseConfig,
    PeerConfig,
    ServerConfig,
    StorageConfig,
    TLSConfig,
    WatchConfig,
)
from kvstore.errors import KvError
from kvstore.flagsources import UsageError, config_file, from_config_file, go_bool, with_environment

logger = logging.getLogger(__name__)

_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float:
    """Seconds in a Go duration (``time.ParseDuration``: 90s, 1h30m, 1.5h);
    a ValueError with Go's message otherwise."""
    rest = text[1:] if text[:1] in "+-" else text
    if rest == "0":
        return 0.0
    parts = _GO_DURATION.findall(rest)
    if not rest or "".join(number + unit for number, unit in parts) != rest:
        kind = "missing unit in" if rest.replace(".", "").isdigit() else "invalid"
        raise ValueError(f'time: {kind} duration "{text}"')
    seconds = sum(float(number) * _GO_UNIT[unit] for number, unit in parts)
    return -seconds if text.startswith("-") else seconds


def duration(text: str) -> float:
    """A Go duration flag, as etcd takes them: 500ms, 10s, 10m, 1h30m."""
    try:
        seconds = go_duration(text.strip())
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 500ms, 10s, 10m)")
    return seconds


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _split_urls(text: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in text.split(",") if u.strip())
    if not urls:
        raise argparse.ArgumentTypeError("expected at least one URL")
    return urls


def url_list(text: str) -> tuple[str, ...]:
    urls = _split_urls(text)
    for url in urls:
        try:
            bind_address(url)
        except (KvError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
    return urls


def metrics_url_list(text: str) -> tuple[str, ...]:
    """``--listen-metrics-urls``: http://HOST:PORT,... (https is not served)."""
    urls = _split_urls(text)
    for url in urls:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http":
            raise argparse.ArgumentTypeError(f"{url}: only http:// metrics URLs are served")
        try:
            port = parsed.port
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{url}: {exc}") from exc
        if not parsed.hostname or port is None:
            raise argparse.ArgumentTypeError(f"{url}: needs a host and a port")
    return urls


#: etcd flags that mean nothing in kvstore: accepted (so an etcd command line,
#: unit file or config file starts it), and each one given is logged with why
NO_EFFECT = {
    "--logger": "kvstore logs with its own logger (--log-format json|text)",
    "--log-outputs": "kvstore logs to stderr",
    "--log-package-levels": "kvstore logs at one level (--log-level)",
    "--max-snapshots": "kvstore keeps one snapshot per member",
    "--max-wals": "kvstore's Raft journal is compacted at each snapshot (--snapshot-count)",
    "--enable-v2": "kvstore serves only the v3 API",
    "--experimental-enable-v2v3": "kvstore serves only the v3 API",
    "--enable-pprof": "kvstore is not a Go program (profile it with py-spy)",
    "--pre-vote": "kvstore's Raft always runs a pre-vote",
    "--initial-election-tick-advance": "kvstore's first election waits one election timeout",
    "--backend-batch-interval": "kvstore commits its store once per Raft batch",
    "--backend-batch-limit": "kvstore commits its store once per Raft batch",
    "--experimental-backend-bbolt-freelist-type": "kvstore's store is LMDB, not bbolt",
    "--experimental-compaction-batch-limit": "kvstore compacts in one pass",
    "--experimental-corrupt-check-time": "kvstore has no periodic corruption check",
    "--experimental-initial-corrupt-check": "kvstore has no corruption check at start",
    "--experimental-warning-apply-duration": "kvstore does not time applies",
    "--experimental-enable-lease-checkpoint": "kvstore's leader grants every lease a full TTL",
    "--max-concurrent-streams": "kvstore's gRPC server does not limit streams per connection",
    "--cors": "kvstore has no HTTP gateway",
    "--host-whitelist": "kvstore has no HTTP gateway",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kvstore", description="kvstore member: an etcd v3 API server in Python"
    )
    p.add_argument("--version", action="version", version=f"kvstore {__version__}")
    p.add_argument(
        "--config-file",
        default=None,
        help="etcd's YAML configuration file (flag: value); other flags and ETCD_* "
        "variables are then ignored (also ETCD_CONFIG_FILE)",
    )
    p.add_argument("--name", default="default", help="human-readable name of this member")
    p.add_argument("--data-dir", type=Path, help="data directory (default: NAME.kvstore)")
    p.add_argument("--listen-client-urls", type=url_list, default=(DEFAULT_CLIENT_URL,))
    p.add_argument("--advertise-client-urls", type=url_list, default=None)
    p.add_argument(
        "--listen-metrics-urls",
        type=metrics_url_list,
        default=(),
        help="http://HOST:PORT,... serving /metrics (Prometheus) and /health, as etcd's",
    )
    p.add_argument(
        "--metrics",
        choices=("basic", "extensive"),
        default="basic",
        help="level of detail of /metrics; extensive adds the gRPC call latency histogram",
    )
    p.add_argument(
        "--initial-advertise-peer-urls", type=url_list, default=("http://127.0.0.1:2380",)
    )
    p.add_argument(
        "--initial-cluster",
        default=None,
        help="NAME=PEER_URL,... of every member (omit for a single member without peers)",
    )
    p.add_argument("--listen-peer-urls", type=url_list, default=None)
    p.add_argument("--initial-cluster-state", choices=["new", "existing"], default="new")
    p.add_argument("--initial-cluster-token", default="", help="accepted for etcd compatibility")
    p.add_argument(
        "--peer-secret-file",
        type=Path,
        default=None,
        help="file holding the shared cluster secret; peer traffic is encrypted with it",
    )
    p.add_argument(
        "--insecure-peers",
        action="store_true",
        help="allow unencrypted, unauthenticated peer traffic (never in production)",
    )
    tls = p.add_argument_group("security (flags as etcd's)")
    tls.add_argument("--cert-file", type=Path, help="server certificate for https client URLs")
    tls.add_argument("--key-file", type=Path, help="private key of --cert-file")
    tls.add_argument("--trusted-ca-file", type=Path, help="CA that client certificates chain to")
    tls.add_argument(
        "--client-cert-auth",
        action="store_true",
        help="require a client certificate signed by --trusted-ca-file (its CN is the user)",
    )
    tls.add_argument("--peer-cert-file", type=Path, help="certificate of the peer transport")
    tls.add_argument("--peer-key-file", type=Path, help="private key of --peer-cert-file")
    tls.add_argument("--peer-trusted-ca-file", type=Path, help="CA that peer certificates chain to")
    tls.add_argument("--peer-client-cert-auth", action="store_true")
    tls.add_argument(
        "--auth-token",
        default="simple",
        help="'simple', or 'jwt,pub-key=FILE,priv-key=FILE,sign-method=RS256[,ttl=5m]' "
        "(with HS256/384/512 the priv-key file is the shared secret, and no pub-key)",
    )
    tls.add_argument(
        "--auth-token-ttl", type=int, default=300, help="seconds a token lives after its last use"
    )
    p.add_argument(
        "--heartbeat-interval",
        type=int,
        default=None,
        help="milliseconds (default: a fifth of the election timeout, at most 100)",
    )
    p.add_argument("--election-timeout", type=int, default=500, help="milliseconds")
    p.add_argument(
        "--snapshot-count", type=int, default=5000, help="Raft entries between snapshots"
    )
    p.add_argument(
        "--request-timeout",
        type=duration,
        default=7.0,
        help="how long a write or linearizable read waits for consensus (kvstore-specific)",
    )
    p.add_argument("--quota-backend-bytes", type=int, default=8 * 1024**3)
    p.add_argument("--max-request-bytes", type=int, default=MAX_REQUEST_BYTES)
    p.add_argument(
        "--max-txn-ops",
        type=_positive_int,
        default=MAX_TXN_OPS,
        help="most compares, or operations in a branch, of one txn (as etcd)",
    )
    p.add_argument(
        "--strict-reconfig-check",
        type=go_bool,
        nargs="?",
        const=True,
        default=True,
        help="refuse member changes that could cost the quorum (as etcd; =false to allow)",
    )
    p.add_argument(
        "--auto-compaction-mode",
        default="periodic",
        help="periodic (retention: a duration, or hours) or revision (retention: revisions)",
    )
    p.add_argument(
        "--auto-compaction-retention",
        default="0",
        help="history kept by auto-compaction, 0 for none (e.g. 1 = 1h, 30m, or 1000 revisions)",
    )
    p.add_argument("--experimental-watch-progress-notify-interval", type=duration, default=600.0)
    p.add_argument(
        "--grpc-keepalive-min-time",
        type=duration,
        default=5.0,
        help="how often clients may ping (kvstore answers faster pings too; etcd sends GOAWAY)",
    )
    p.add_argument(
        "--grpc-keepalive-interval",
        type=duration,
        default=7200.0,
        help="the server pings a client connection idle this long",
    )
    p.add_argument(
        "--grpc-keepalive-timeout",
        type=duration,
        default=20.0,
        help="and closes it if the ping is not answered in this long",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warn", "error"])
    p.add_argument("--log-format", default="json", choices=["json", "text"])
    p.add_argument(
        "--debug",
        type=go_bool,
        nargs="?",
        const=True,
        default=False,
        help="debug-level logging (as --log-level debug)",
    )
    ignored = p.add_argument_group("etcd flags with no effect here (accepted, and logged)")
    for flag, why in NO_EFFECT.items():
        ignored.add_argument(flag, nargs="?", const="true", default=None, help=why)
    return p


def log_no_effect(args: argparse.Namespace) -> None:
    """Log each etcd flag given that kvstore does not use, and why."""
    for flag, why in NO_EFFECT.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            logger.warning("flag %s=%s has no effect: %s", flag, value, why)


def parse_initial_cluster(text: str) -> tuple[PeerConfig, ...]:
    peers = []
    for part in text.split(","):
        name, sep, url = part.strip().partition("=")
        if not sep or not name or not url:
            raise UsageError(f"--initial-cluster: expected NAME=PEER_URL, got {part!r}")
        try:
            peer_address(url)
        except ValueError as exc:
            raise UsageError(f"--initial-cluster: {exc}") from exc
        peers.append(PeerConfig(name, url))
    if len({p.name for p in peers}) != len(peers):
        raise UsageError("--initial-cluster: member names must be unique")
    return tuple(peers)


def auto_compaction(mode: str, retention: str) -> AutoCompaction:
    """etcd's rules: a bare integer is hours (periodic) or revisions
    (revision); anything else is a Go duration."""
    if mode not in ("periodic", "revision"):
        raise UsageError(f'unknown auto-compaction-mode "{mode}"')
    if retention.isdigit():
        amount = float(int(retention))
        return AutoCompaction(mode, amount * 3600.0 if mode == "periodic" else amount)
    try:
        seconds = go_duration(retention)
    except ValueError as exc:
        raise UsageError(f"error parsing CompactionRetention: {exc}") from exc
    if seconds < 0:
        raise UsageError(f"--auto-compaction-retention {retention!r} is negative")
    # (as etcd: a duration given in revision mode counts its nanoseconds)
    return AutoCompaction(mode, seconds if mode == "periodic" else float(int(seconds * 1e9)))


def build_cluster(args: argparse.Namespace) -> tuple[ClusterConfig | None, tuple[str, ...]]:
    """The cluster config (None for a member without peers) and its peer URLs."""
    if not args.initial_cluster:
        return None, args.initial_advertise_peer_urls
    peers = parse_initial_cluster(args.initial_cluster)
    mine = [p for p in peers if p.name == args.name]
    if not mine:
        raise UsageError(f"--initial-cluster has no member named {args.name!r} (--name)")
    advertise = (mine[0].peer_url,)
    listen = args.listen_peer_urls or advertise
    secret: str | None = None
    if args.peer_secret_file is not None:
        try:
            secret = args.peer_secret_file.read_text().strip()
        except OSError as exc:
            raise UsageError(f"--peer-secret-file: {exc}") from exc
        if not secret:
            raise UsageError("--peer-secret-file is empty")
    elif len(peers) > 1 and not args.insecure_peers:
        raise UsageError(
            "a member with peers needs --peer-secret-file (or, for tests only, --insecure-peers)"
        )
    elif len(peers) == 1 and not args.insecure_peers:
        # alone, with no secret to guard a peer port: no Raft (it cannot grow)
        return None, advertise
    else:
        logger.warning(
            "INSECURE: peer traffic is neither encrypted nor authenticated; anyone who can "
            "reach the peer port can run code in this member (--insecure-peers)"
        )
    election = args.election_timeout / 1000.0
    if args.heartbeat_interval is None:
        heartbeat = min(ClusterConfig.heartbeat, election / 5)
    else:
        heartbeat = args.heartbeat_interval / 1000.0
    if election <= 3 * heartbeat:
        raise UsageError("--election-timeout must be more than 3 x --heartbeat-interval")
    cluster = ClusterConfig(
        peer_tls=build_peer_tls(args),
        initial_cluster=peers,
        listen_peer_url=listen[0],
        initial_cluster_state=args.initial_cluster_state,
        secret=secret,
        heartbeat=heartbeat,
        # ClusterConfig's defaults are the longest periods; a shorter heartbeat shortens them
        append_entries_period=min(heartbeat, ClusterConfig.append_entries_period),
        tick_period=min(heartbeat / 2, ClusterConfig.tick_period),
        election_timeout_min=election,
        election_timeout_max=2 * election,
        snapshot_entries=args.snapshot_count,
        strict_reconfig_check=args.strict_reconfig_check,
    )
    return cluster, advertise


def build_client_tls(args: argparse.Namespace) -> TLSConfig | None:
    """Client TLS from etcd's flags; https listen URLs need it."""
    https = [u for u in args.listen_client_urls if u.startswith("https://")]
    if (args.cert_file is None) != (args.key_file is None):
        raise UsageError("--cert-file and --key-file go together")
    if args.cert_file is None:
        if https:
            raise UsageError(f"{https[0]} needs --cert-file and --key-file")
        if args.client_cert_auth or args.trusted_ca_file is not None:
            raise UsageError("--client-cert-auth/--trusted-ca-file need --cert-file and --key-file")
        return None
    if args.client_cert_auth and args.trusted_ca_file is None:
        raise UsageError("--client-cert-auth needs --trusted-ca-file")
    for path in (args.cert_file, args.key_file, args.trusted_ca_file):
        if path is not None and not path.is_file():
            raise UsageError(f"no such file: {path}")
    if not https:
        logger.warning("--cert-file is set but no client URL is https://: TLS is not used")
    return TLSConfig(args.cert_file, args.key_file, args.trusted_ca_file, args.client_cert_auth)


def build_peer_tls(args: argparse.Namespace) -> TLSConfig | None:
    """Peer TLS from etcd's --peer-* flags (on top of the peer secret)."""
    if args.peer_cert_file is None and args.peer_key_file is None:
        if args.peer_client_cert_auth or args.peer_trusted_ca_file is not None:
            raise UsageError("--peer-client-cert-auth/--peer-trusted-ca-file need --peer-cert-file")
        return None
    if args.peer_cert_file is None or args.peer_key_file is None:
        raise UsageError("--peer-cert-file and --peer-key-file go together")
    if args.peer_trusted_ca_file is None:
        raise UsageError("peer TLS needs --peer-trusted-ca-file (to verify the other members)")
    for path in (args.peer_cert_file, args.peer_key_file, args.peer_trusted_ca_file):
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
    return TLSConfig(
        args.peer_cert_file,
        args.peer_key_file,
        args.peer_trusted_ca_file,
        args.peer_client_cert_auth,
    )


JWT_OPTIONS = ("pub-key", "priv-key", "sign-method", "ttl")
JWT_USAGE = "jwt,pub-key=FILE,priv-key=FILE,sign-method=RS256[,ttl=5m]"


def build_auth(args: argparse.Namespace) -> AuthConfig:
    """``--auth-token simple`` or ``jwt,pub-key=...,priv-key=...,sign-method=...[,ttl=...]``
    (etcd's syntax); the JWT keys are loaded and checked here, before serving."""
    if args.auth_token_ttl < 1:
        raise UsageError("--auth-token-ttl must be at least 1 second")
    kind, *options = (part.strip() for part in args.auth_token.split(","))
    if kind == "simple" and not options:
        return AuthConfig(token_ttl=float(args.auth_token_ttl))
    if kind != "jwt":
        raise UsageError(f"--auth-token {args.auth_token!r}: use 'simple' or '{JWT_USAGE}'")
    fields: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in JWT_OPTIONS or not value:
            raise UsageError(f"--auth-token: bad option {option!r} (expected {JWT_USAGE})")
        fields[key] = value
    hmac = fields.get("sign-method", "").startswith("HS")
    needed = ("priv-key", "sign-method") if hmac else JWT_OPTIONS[:3]
    missing = [key for key in needed if key not in fields]
    if missing:
        raise UsageError(f"--auth-token jwt needs {', '.join(missing)} (expected {JWT_USAGE})")
    try:
        ttl = duration(fields["ttl"]) if "ttl" in fields else 300.0
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"--auth-token ttl: {exc}") from exc
    config = JwtConfig(
        public_key=Path(fields["pub-key"]) if "pub-key" in fields else None,
        private_key=Path(fields["priv-key"]),
        sign_method=fields["sign-method"],
        ttl=ttl,
    )
    try:
        JwtTokens(config)
    except JwtKeyError as exc:
        raise UsageError(f"--auth-token: {exc}") from exc
    return AuthConfig(token_ttl=float(args.auth_token_ttl), jwt=config)


def build_config(args: argparse.Namespace) -> ServerConfig:
    data_dir = args.data_dir or Path(f"{args.name}.kvstore")
    auth = build_auth(args)
    client_tls = build_client_tls(args)
    cluster, peer_urls = build_cluster(args)
    return ServerConfig(
        name=args.name,
        storage=StorageConfig(
            data_dir=data_dir,
            quota_bytes=args.quota_backend_bytes,
            # a Raft journal replays what an unsynced meta page may lose
            metasync=cluster is None,
        ),
        listen_client_urls=args.listen_client_urls,
        advertise_client_urls=args.advertise_client_urls or args.listen_client_urls,
        listen_metrics_urls=args.listen_metrics_urls,
        metrics=args.metrics,
        initial_advertise_peer_urls=peer_urls,
        cluster=cluster,
        lease=LeaseConfig(),
        watch=WatchConfig(
            progress_notify_interval=args.experimental_watch_progress_notify_interval
        ),
        max_request_bytes=args.max_request_bytes,
        max_txn_ops=args.max_txn_ops,
        grpc_keepalive=GrpcKeepalive(
            args.grpc_keepalive_min_time, args.grpc_keepalive_interval, args.grpc_keepalive_timeout
        ),
        auto_compaction=auto_compaction(args.auto_compaction_mode, args.auto_compaction_retention),
        request_timeout=args.request_timeout,
        client_tls=client_tls,
        auth=auth,
    )


async def serve(config: ServerConfig) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    def fatal(exc: BaseException) -> None:
        failure.append(exc)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = KvServer(config, on_fatal=fatal)
    try:
        await server.start()
        await stop.wait()
        logger.info("shutting down")
    finally:
        await server.aclose()
    return 1 if failure else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["controller-manager"]:
        from kvstore.controllers.manager import main as controller_manager

        return controller_manager(argv[1:])
    if argv[:1] == ["agent"]:
        from kvstore.agent.main import main as agent

        return agent(argv[1:])
    p = parser()
    try:
        args = p.parse_args(argv)
        path = config_file(args.config_file, os.environ)
        if path is not None:  # as etcd: then the only source of flags
            flags, notes = from_config_file(p, path, lambda action: action.type is duration)
        else:
            flags, notes = with_environment(p, argv, os.environ)
        args = p.parse_args(flags)
        level = "warning" if args.log_level == "warn" else args.log_level
        level = "debug" if args.debug else level
        logs.setup(level, args.log_format)
        for note_level, note in notes:
            logger.log(note_level, note)
        log_no_effect(args)
        config = build_config(args)
    except UsageError as exc:
        print(f"kvstore: {exc}", file=sys.stderr)
        return 2
    # a crash in native code (LMDB, grpcio) leaves a Python traceback in the log
    faulthandler.enable()
    try:
        return uvloop.run(serve(config))
    except (OSError, KvError) as exc:
        logger.error("cannot start: %s", exc)
        return 1
