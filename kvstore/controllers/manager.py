"""``kvstore controller-manager``: the controllers and the scheduler in one process.

The manager owns, in order: the store client, the leader elector, and — while
leader — the shared informers and the controllers. Losing leadership stops the
controllers and informers (nothing acts on a stale view) and campaigns again.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from kvstore.client import Client
from kvstore.controllers import connect, process
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.config import (
    ControllerConfig,
    InformerConfig,
    LeaderElectionConfig,
    ManagerConfig,
    NodeLifecycleConfig,
    QueueConfig,
    SchedulerConfig,
)
from kvstore.controllers.controller import Controller
from kvstore.controllers.deployment import DeploymentController
from kvstore.controllers.endpoints import EndpointsController
from kvstore.controllers.gc import GarbageCollector
from kvstore.controllers.informer import Informers
from kvstore.controllers.leaderelection import LeaderElector
from kvstore.controllers.nodelifecycle import NodeLifecycleController
from kvstore.controllers.objects import DEPLOYMENT, LEASE, NODE, POD, REPLICA_SET, SERVICE
from kvstore.controllers.replicaset import ReplicaSetController
from kvstore.controllers.scheduler import Scheduler

logger = logging.getLogger(__name__)

ALL_CONTROLLERS = ("replicaset", "deployment", "scheduler", "gc", "endpoints", "nodelifecycle")


class ControllerManager:
    def __init__(self, config: ManagerConfig, client: Client | None = None) -> None:
        self.config = config
        self._own_client = client is None
        self.client = client or config.store.client()
        self.api = ObjectClient(self.client)
        self.informers: Informers | None = None
        self.controllers: list[Controller] = []
        self.elector: LeaderElector | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        if self._own_client:
            await self.client.open()
        if self.config.leader_election.enabled:
            self.elector = LeaderElector(
                self.client,
                self.config.leader_election,
                self._start_controllers,
                self._stop_controllers,
            )
            await self.elector.start()
        else:
            await self._start_controllers()

    async def aclose(self) -> None:
        if self.elector is not None:
            await self.elector.aclose()
        await self._stop_controllers()
        if self._own_client:
            await self.client.aclose()

    def _build(self, informers: Informers) -> list[Controller]:
        cfg = self.config
        wanted = set(cfg.controllers)
        out: list[Controller] = []
        pods, rss = informers.get(POD), informers.get(REPLICA_SET)
        if "replicaset" in wanted:
            out.append(ReplicaSetController.from_informers(self.api, rss, pods, cfg.controller))
        if "deployment" in wanted:
            out.append(
                DeploymentController.from_informers(
                    self.api, informers.get(DEPLOYMENT), rss, pods, cfg.controller
                )
            )
        if "scheduler" in wanted:
            out.append(
                Scheduler.from_informers(
                    self.api, pods, informers.get(NODE), cfg.scheduler, cfg.controller
                )
            )
        if "gc" in wanted:
            owners = [informers.get(DEPLOYMENT), rss, pods]
            out.append(GarbageCollector.from_informers(self.api, owners, cfg.controller))
        if "endpoints" in wanted:
            out.append(
                EndpointsController.from_informers(
                    self.api, informers.get(SERVICE), pods, cfg.controller
                )
            )
        if "nodelifecycle" in wanted:
            out.append(
                NodeLifecycleController(
                    self.api,
                    informers.get(NODE),
                    informers.get(LEASE),
                    pods,
                    cfg.node_lifecycle,
                    cfg.controller,
                )
            )
        return out

    async def _start_controllers(self) -> None:
        async with self._lock:
            if self.informers is not None:
                return
            self.informers = Informers(self.api, self.config.informer)
            self.controllers = self._build(self.informers)
            await self.informers.start()
            await asyncio.gather(*(c.start() for c in self.controllers))
            logger.info("controllers running: %s", ", ".join(c.name for c in self.controllers))

    async def _stop_controllers(self) -> None:
        async with self._lock:
            controllers, self.controllers = self.controllers, []
            for c in controllers:
                await c.aclose()
            informers, self.informers = self.informers, None
            if informers is not None:
                await informers.aclose()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kvstore controller-manager",
        description="Run the ReplicaSet, Deployment and garbage-collection controllers and "
        "the scheduler against a kvstore (or etcd) cluster.",
    )
    connect.add_flags(p)
    p.add_argument(
        "--controllers",
        default=",".join(ALL_CONTROLLERS),
        help=f"comma-separated subset of {','.join(ALL_CONTROLLERS)}",
    )
    p.add_argument("--workers", type=int, default=2, help="workers per controller")
    p.add_argument("--resync-period", type=float, default=30.0, help="seconds")
    p.add_argument("--expectations-timeout", type=float, default=30.0, help="seconds")
    p.add_argument("--retry-base-delay", type=float, default=0.005, help="seconds")
    p.add_argument("--retry-max-delay", type=float, default=60.0, help="seconds")
    p.add_argument("--scheduler-backoff", type=float, default=0.5, help="seconds")
    p.add_argument("--scheduler-backoff-max", type=float, default=10.0, help="seconds")
    p.add_argument(
        "--leader-elect",
        default="true",
        choices=["true", "false"],
        help="campaign for leadership before acting (run several copies safely)",
    )
    p.add_argument("--leader-elect-lease-duration", type=int, default=5, help="lease TTL, seconds")
    p.add_argument("--leader-elect-name", default=LeaderElectionConfig.name)
    p.add_argument("--identity", default="", help="proclaimed identity (default host_pid)")
    p.add_argument(
        "--node-monitor-grace-period",
        type=float,
        default=NodeLifecycleConfig.grace_period,
        help="seconds without a heartbeat before a node is Ready=Unknown",
    )
    p.add_argument(
        "--pod-eviction-timeout",
        type=float,
        default=NodeLifecycleConfig.eviction_timeout,
        help="seconds a node is not Ready before its pods are evicted",
    )
    p.add_argument(
        "--node-eviction-rate",
        type=float,
        default=NodeLifecycleConfig.eviction_rate,
        help="most pod evictions per second",
    )
    p.add_argument(
        "--node-monitor-period",
        type=float,
        default=NodeLifecycleConfig.monitor_period,
        help="seconds between heartbeat checks",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def build_config(args: argparse.Namespace) -> ManagerConfig:
    controllers = tuple(c.strip() for c in args.controllers.split(",") if c.strip())
    unknown = set(controllers) - set(ALL_CONTROLLERS)
    if unknown:
        raise ValueError(f"unknown controllers: {', '.join(sorted(unknown))}")
    return ManagerConfig(
        store=connect.from_args(args),
        controllers=controllers,
        informer=InformerConfig(resync_period=args.resync_period),
        controller=ControllerConfig(
            workers=args.workers,
            expectations_timeout=args.expectations_timeout,
            queue=QueueConfig(base_delay=args.retry_base_delay, max_delay=args.retry_max_delay),
        ),
        scheduler=SchedulerConfig(
            backoff_initial=args.scheduler_backoff, backoff_max=args.scheduler_backoff_max
        ),
        leader_election=LeaderElectionConfig(
            enabled=args.leader_elect == "true",
            name=args.leader_elect_name,
            lease_ttl=args.leader_elect_lease_duration,
            identity=args.identity,
        ),
        node_lifecycle=NodeLifecycleConfig(
            monitor_period=args.node_monitor_period,
            grace_period=args.node_monitor_grace_period,
            eviction_timeout=args.pod_eviction_timeout,
            eviction_rate=args.node_eviction_rate,
        ),
    )


def main(argv: list[str] | None = None) -> int:
    return process.main(
        "kvstore controller-manager",
        parser(),
        build_config,
        ControllerManager,
        argv,
        close_timeout=10.0,
    )
