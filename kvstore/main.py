"""``kvstore``: run one member. Flags are named like etcd's."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
from pathlib import Path

from kvstore import __version__, logs
from kvstore.api.server import KvServer, bind_address
from kvstore.config import (
    DEFAULT_CLIENT_URL,
    MAX_REQUEST_BYTES,
    LeaseConfig,
    ServerConfig,
    StorageConfig,
    WatchConfig,
)
from kvstore.errors import KvError

logger = logging.getLogger(__name__)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(text: str) -> float:
    """Go-style durations as etcd takes them: 500ms, 10s, 10m, 1h."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 500ms, 10s, 10m)")
    return float(match.group(1)) * _UNIT[match.group(2)]


def url_list(text: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in text.split(",") if u.strip())
    if not urls:
        raise argparse.ArgumentTypeError("expected at least one URL")
    for url in urls:
        try:
            bind_address(url)
        except (KvError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
    return urls


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kvstore", description="kvstore member: an etcd v3 API server in Python"
    )
    p.add_argument("--version", action="version", version=f"kvstore {__version__}")
    p.add_argument("--name", default="default", help="human-readable name of this member")
    p.add_argument("--data-dir", type=Path, help="data directory (default: NAME.kvstore)")
    p.add_argument("--listen-client-urls", type=url_list, default=(DEFAULT_CLIENT_URL,))
    p.add_argument("--advertise-client-urls", type=url_list, default=None)
    p.add_argument(
        "--initial-advertise-peer-urls", type=url_list, default=("http://127.0.0.1:2380",)
    )
    p.add_argument("--quota-backend-bytes", type=int, default=8 * 1024**3)
    p.add_argument("--max-request-bytes", type=int, default=MAX_REQUEST_BYTES)
    p.add_argument("--experimental-watch-progress-notify-interval", type=duration, default=600.0)
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warn", "error"])
    p.add_argument("--log-format", default="json", choices=["json", "text"])
    return p


def build_config(args: argparse.Namespace) -> ServerConfig:
    data_dir = args.data_dir or Path(f"{args.name}.kvstore")
    return ServerConfig(
        name=args.name,
        storage=StorageConfig(data_dir=data_dir, quota_bytes=args.quota_backend_bytes),
        listen_client_urls=args.listen_client_urls,
        advertise_client_urls=args.advertise_client_urls or args.listen_client_urls,
        initial_advertise_peer_urls=args.initial_advertise_peer_urls,
        lease=LeaseConfig(),
        watch=WatchConfig(
            progress_notify_interval=args.experimental_watch_progress_notify_interval
        ),
        max_request_bytes=args.max_request_bytes,
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
    args = parser().parse_args(argv)
    level = "warning" if args.log_level == "warn" else args.log_level
    logs.setup(level, args.log_format)
    config = build_config(args)
    try:
        return asyncio.run(serve(config))
    except OSError as exc:
        logger.error("cannot start: %s", exc)
        return 1
