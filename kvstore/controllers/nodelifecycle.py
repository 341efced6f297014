"""The node lifecycle controller: notice dead nodes, evict their pods.

Every ``monitor_period`` it looks at each Node's heartbeat Lease
(``kube-node-lease/<node>``). Time is *local observation* time, as in Kubernetes:
the controller remembers when it last saw the Lease's resourceVersion change, so
clocks of agents do not matter. Then:

1. Lease unchanged for ``grace_period`` → the Node's ``Ready`` becomes ``Unknown``
   (reason ``NodeStatusUnknown``) and its pods' ``Ready`` becomes ``False``, so the
   endpoints controller drops them from Services at once.
2. Node not Ready for ``eviction_timeout`` → its pods are deleted (gracefully), at
   most ``eviction_rate`` per second; their ReplicaSets replace them elsewhere.
   When *every* node is not Ready at once, nothing is evicted: that looks like a
   problem of the control plane's network, not of the nodes.
3. An evicted pod still there after its grace period, on a node still not Ready, is
   removed with grace 0 (no agent is there to confirm its processes stopped; if the
   agent comes back it kills processes of pods that no longer exist).

The agent puts ``Ready`` back to True itself on its next heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from kvstore.controllers import objects as o
from kvstore.controllers import pods as p
from kvstore.controllers.api import ObjectWriter
from kvstore.controllers.config import ControllerConfig, NodeLifecycleConfig
from kvstore.controllers.controller import Controller
from kvstore.controllers.errors import ApiError, NotFoundError
from kvstore.controllers.informer import Informer
from kvstore.controllers.objects import NODE_LEASE_NAMESPACE, POD, Obj
from kvstore.controllers.scheduler import node_ready

logger = logging.getLogger(__name__)


class TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.tokens = self.burst
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class NodeLifecycleController(Controller):
    """A periodic monitor rather than a queue of keys (it has no workers)."""

    name = "nodelifecycle"

    def __init__(
        self,
        api: ObjectWriter,
        nodes: Informer,
        leases: Informer,
        pods: Informer,
        config: NodeLifecycleConfig,
        controller_config: ControllerConfig,
    ) -> None:
        super().__init__(controller_config, [nodes, leases, pods], 0)
        self.api = api
        self.nodes = nodes
        self.leases = leases
        self.pods = pods
        self.settings = config
        self.bucket = TokenBucket(config.eviction_rate)
        self.observed: dict[str, tuple[int, float]] = {}
        """Node → (lease resourceVersion, local time it was first seen)."""
        self.not_ready_since: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def reconcile(self, key: str) -> float | None:
        return None

    async def start(self) -> None:
        await super().start()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await super().aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.monitor()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("node monitor failed")
            await asyncio.sleep(self.settings.monitor_period)

    def pods_on(self, node: str) -> list[Obj]:
        return [pod for pod in self.pods.cache.items() if p.node_name(pod) == node]

    async def monitor(self) -> None:
        now = time.monotonic()
        nodes = self.nodes.cache.items()
        for node in nodes:
            await self._check_heartbeat(node, now)
        ready = {o.name(n): node_ready(n) for n in self.nodes.cache.items()}
        for name, ok in ready.items():
            if ok:
                self.not_ready_since.pop(name, None)
            else:
                self.not_ready_since.setdefault(name, now)
        for gone in set(self.observed) - set(ready):
            self.observed.pop(gone, None)
            self.not_ready_since.pop(gone, None)
        if ready and not any(ready.values()):
            logger.warning("every node is not Ready: evictions stopped")
            return
        for name, since in sorted(self.not_ready_since.items()):
            if now - since >= self.settings.eviction_timeout:
                await self._evict(name)
            await self._force_delete(name)

    async def _check_heartbeat(self, node: Obj, now: float) -> None:
        name = o.name(node)
        lease = self.leases.cache.get(f"{NODE_LEASE_NAMESPACE}/{name}")
        rv = o.resource_version(lease) if lease is not None else 0
        seen = self.observed.get(name)
        if seen is None or seen[0] != rv:
            self.observed[name] = (rv, now)
            return
        if now - seen[1] < self.settings.grace_period:
            return
        cond = o.get_condition(node, "Ready")
        if cond is not None and cond.get("status") == "Unknown":
            return
        new = o.deep_copy(node)
        status = dict(new.get("status") or {})
        o.set_condition(
            status, "Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."
        )
        new["status"] = status
        with contextlib.suppress(NotFoundError):
            await self.api.update_status(new)
        logger.warning("node not ready node=%s (no heartbeat for %.1fs)", name, now - seen[1])
        for pod in self.pods_on(name):
            if p.is_ready(pod):
                pod = o.deep_copy(pod)
                pstatus = dict(pod.get("status") or {})
                o.set_condition(pstatus, "Ready", "False", "NodeNotReady")
                pod["status"] = pstatus
                with contextlib.suppress(ApiError):
                    await self.api.update_status(pod)

    async def _evict(self, node: str) -> None:
        for pod in self.pods_on(node):
            if o.is_deleting(pod):
                continue
            if not self.bucket.take():
                return
            with contextlib.suppress(NotFoundError):
                grace = int((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
                await self.api.delete(
                    POD, o.namespace(pod), o.name(pod), grace_period=grace, uid=o.uid(pod)
                )
                logger.info("evicted pod=%s node=%s", o.cache_key(pod), node)

    async def _force_delete(self, node: str) -> None:
        for pod in self.pods_on(node):
            md = o.meta(pod)
            stamp = md.get("deletionTimestamp")
            if not stamp:
                continue
            grace = float(md.get("deletionGracePeriodSeconds") or 0)
            if time.time() >= o.parse_time(str(stamp)) + grace:
                with contextlib.suppress(NotFoundError):
                    await self.api.delete(
                        POD, o.namespace(pod), o.name(pod), grace_period=0, uid=o.uid(pod)
                    )
                    logger.info(
                        "removed terminating pod=%s of not-ready node=%s", o.cache_key(pod), node
                    )
