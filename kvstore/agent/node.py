"""The agent's Node and its heartbeat.

``register()`` creates the Node (or refreshes the status of an existing one):
capacity from the host or the flags, ``Ready=True``, ``addresses`` and
``daemonEndpoints.kubeletEndpoint.Port`` (where ``kvctl kube logs`` finds the log
server). The :class:`Heartbeat` renews the Lease ``kube-node-lease/<node>`` every
``heartbeat_interval`` seconds and puts ``Ready`` back to True if the node lifecycle
controller marked it Unknown while the agent was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from kvstore.agent.config import AgentConfig
from kvstore.controllers import objects as o
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.errors import AlreadyExistsError, ApiError, NotFoundError
from kvstore.controllers.objects import LEASE, NODE, NODE_LEASE_NAMESPACE, Obj

logger = logging.getLogger(__name__)


def host_capacity() -> tuple[str, str]:
    """CPU count and physical memory of this host, as quantities."""
    cpu = str(os.cpu_count() or 1)
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = 1 << 30
    return cpu, f"{memory // (1 << 20)}Mi"


def node_status(config: AgentConfig, log_port: int) -> dict[str, Any]:
    cpu, memory = host_capacity()
    capacity = {
        "cpu": config.cpu or cpu,
        "memory": config.memory or memory,
        "pods": str(config.max_pods),
    }
    status: dict[str, Any] = {
        "capacity": capacity,
        "allocatable": dict(capacity),
        "addresses": [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": config.node_name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": log_port}},
        "nodeInfo": {"kubeletVersion": "kvstore-agent", "operatingSystem": "linux"},
        "conditions": [],
    }
    o.set_condition(status, "Ready", "True", "KubeletReady", "agent is posting ready status")
    return status


async def register(api: ObjectClient, config: AgentConfig, log_port: int) -> Obj:
    status = node_status(config, log_port)
    labels = {"kubernetes.io/hostname": config.node_name, **dict(config.labels)}
    node: Obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": config.node_name, "labels": labels},
        "spec": {},
        "status": status,
    }
    for _ in range(10):
        try:
            return await api.create(node)
        except AlreadyExistsError:
            pass
        try:
            current = await api.get(NODE, "", config.node_name)
            current["status"] = status
            return await api.update_status(current)
        except ApiError as exc:
            logger.debug("node registration retry: %s", exc)
    raise RuntimeError(f"could not register node {config.node_name}")


class Heartbeat:
    """Renews the node's Lease; owned by the agent (``start`` / ``aclose``)."""

    def __init__(self, api: ObjectClient, config: AgentConfig) -> None:
        self.api = api
        self.config = config
        self.renewals = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.beat()
        self._task = asyncio.create_task(self._run(), name="heartbeat")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            try:
                await self.beat()
            except (ApiError, OSError, Exception) as exc:  # keep beating through outages
                logger.warning("heartbeat failed node=%s: %s", self.config.node_name, exc)

    async def beat(self) -> None:
        name = self.config.node_name
        try:
            lease = await self.api.get(LEASE, NODE_LEASE_NAMESPACE, name)
            lease["spec"]["renewTime"] = o.now_precise()
            await self.api.update(lease)
        except NotFoundError:
            await self.api.create(
                {
                    "apiVersion": LEASE.api_version,
                    "kind": "Lease",
                    "metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE},
                    "spec": {
                        "holderIdentity": name,
                        "leaseDurationSeconds": self.config.lease_duration,
                        "renewTime": o.now_precise(),
                    },
                }
            )
        self.renewals += 1
        node = await self.api.get(NODE, "", name)
        cond = o.get_condition(node, "Ready")
        if cond is None or cond.get("status") != "True":
            status = dict(node.get("status") or {})
            o.set_condition(
                status, "Ready", "True", "KubeletReady", "agent is posting ready status"
            )
            node["status"] = status
            await self.api.update_status(node)
            logger.info("node ready again node=%s", name)
