"""``kvstore agent``: run a node agent against a kvstore (or etcd) cluster."""

from __future__ import annotations

import argparse
from pathlib import Path

from kvstore.agent.agent import NodeAgent
from kvstore.agent.config import AgentConfig
from kvstore.controllers import connect, process


def parser() -> argparse.ArgumentParser:
    d = AgentConfig
    p = argparse.ArgumentParser(
        prog="kvstore agent",
        description="Register a Node and run the pods bound to it as local processes.",
    )
    p.add_argument("--node-name", required=True)
    connect.add_flags(p)
    p.add_argument("--data-dir", type=Path, default=None, help="default: NODE.agent")
    p.add_argument("--cpu", default="", help="CPU capacity (default: the host's)")
    p.add_argument("--memory", default="", help="memory capacity, e.g. 4Gi (default: host's)")
    p.add_argument("--max-pods", type=int, default=d.max_pods)
    p.add_argument("--node-labels", default="", help="k=v,... labels of the Node")
    p.add_argument("--heartbeat-interval", type=float, default=d.heartbeat_interval)
    p.add_argument("--sync-interval", type=float, default=d.sync_interval)
    p.add_argument("--backoff-base", type=float, default=d.backoff_base, help="seconds")
    p.add_argument("--backoff-max", type=float, default=d.backoff_max, help="seconds")
    p.add_argument("--log-port", type=int, default=0, help="log endpoint port (0: any)")
    p.add_argument("--proxy", default="true", choices=["true", "false"])
    p.add_argument("--proxy-bind-retry", type=float, default=d.proxy_bind_retry)
    p.add_argument(
        "--keep-pods-on-exit",
        action="store_true",
        help="leave pod processes running on SIGTERM (the next start adopts them)",
    )
    p.add_argument("--resync-period", type=float, default=d.resync_period)
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def build_config(args: argparse.Namespace) -> AgentConfig:
    labels = []
    for item in (x.strip() for x in args.node_labels.split(",")):
        if item:
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"--node-labels: expected k=v, got {item!r}")
            labels.append((key, value))
    return AgentConfig(
        node_name=args.node_name,
        data_dir=(args.data_dir or Path(f"{args.node_name}.agent")).resolve(),
        store=connect.from_args(args),
        cpu=args.cpu,
        memory=args.memory,
        max_pods=args.max_pods,
        labels=tuple(labels),
        heartbeat_interval=args.heartbeat_interval,
        sync_interval=args.sync_interval,
        backoff_base=args.backoff_base,
        backoff_max=args.backoff_max,
        log_port=args.log_port,
        proxy=args.proxy == "true",
        proxy_bind_retry=args.proxy_bind_retry,
        stop_pods_on_exit=not args.keep_pods_on_exit,
        resync_period=args.resync_period,
    )


def main(argv: list[str] | None = None) -> int:
    return process.main(
        "kvstore agent", parser(), build_config, NodeAgent, argv, close_timeout=30.0
    )
