"""The scheduler: bind each pending pod to a node (``spec.nodeName``).

``reconcile(pod key)``: filter the nodes — Ready, not ``spec.unschedulable``,
labels matching the pod's ``nodeSelector``, CPU/memory requests fitting in
allocatable minus what pods already bound there request, pod count below
``allocatable.pods`` — then score them: fewest pods of the same owner first (spreads
a ReplicaSet), then most free resources, then name. The winner is written with an
optimistic update of the pod; until the cache shows the binding, the pod is kept as
*assumed* on that node so the next decision counts its requests.

A pod that fits nowhere gets ``PodScheduled=False`` (reason ``Unschedulable``, with
kubectl's style of message) and is retried with exponential back-off, or sooner when
a node is added or changes.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter

from kvstore.controllers import objects as o
from kvstore.controllers import pods as p
from kvstore.controllers.api import ObjectWriter
from kvstore.controllers.cache import Cache
from kvstore.controllers.config import ControllerConfig, SchedulerConfig
from kvstore.controllers.controller import Controller
from kvstore.controllers.errors import NotFoundError
from kvstore.controllers.informer import Handlers, Informer
from kvstore.controllers.objects import PV, PVC, Obj
from kvstore.controllers.resources import node_allocatable, pod_requests
from kvstore.controllers.selectors import from_labels

logger = logging.getLogger(__name__)

SCHEDULER_NAME = "default-scheduler"


def needs_scheduling(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    return (
        not spec.get("nodeName")
        and not o.is_deleting(pod)
        and spec.get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME
        and p.phase(pod) not in ("Succeeded", "Failed")
    )


def node_ready(node: Obj) -> bool:
    cond = o.get_condition(node, "Ready")
    return cond is not None and cond.get("status") == "True"


class Scheduler(Controller):
    name = "scheduler"

    def __init__(
        self,
        api: ObjectWriter,
        pods: Cache,
        nodes: Cache,
        config: SchedulerConfig,
        controller_config: ControllerConfig,
        wait_for: list[Informer] | None = None,
    ) -> None:
        super().__init__(controller_config, wait_for or [], config.workers)
        self.api = api
        self.pods = pods
        self.nodes = nodes
        self.settings = config
        self.assumed: dict[str, str] = {}
        self.unschedulable: dict[str, int] = {}
        """Pod key → consecutive failed attempts."""

    @classmethod
    def from_informers(
        cls,
        api: ObjectWriter,
        pods: Informer,
        nodes: Informer,
        config: SchedulerConfig,
        controller_config: ControllerConfig,
    ) -> Scheduler:
        s = cls(api, pods.cache, nodes.cache, config, controller_config, [pods, nodes])
        pods.add_handlers(Handlers(s.pod_changed, lambda old, new: s.pod_changed(new), s.pod_gone))
        nodes.add_handlers(
            Handlers(s.node_changed, lambda old, new: s.node_changed(new), s.node_changed)
        )
        return s

    def pod_changed(self, pod: Obj) -> None:
        key = o.cache_key(pod)
        if needs_scheduling(pod):
            if key not in self.unschedulable:
                self.queue.add(key)
        else:
            self.assumed.pop(key, None)
            self.unschedulable.pop(key, None)

    def pod_gone(self, pod: Obj) -> None:
        key = o.cache_key(pod)
        self.assumed.pop(key, None)
        self.unschedulable.pop(key, None)

    def node_changed(self, node: Obj) -> None:
        for key in list(self.unschedulable):
            self.queue.add(key)

    async def reconcile(self, key: str) -> float | None:
        pod = self.pods.get(key)
        if pod is None or not needs_scheduling(pod):
            self.unschedulable.pop(key, None)
            return None
        if key in self.assumed:
            return None  # bound already; the cache has not caught up
        try:
            volume_node = await self.volume_node(pod)
        except NotFoundError as exc:
            return await self._unschedulable(pod, key, str(exc))
        node, reason = self.pick(pod, volume_node)
        if node is None:
            return await self._unschedulable(pod, key, reason)
        bound = o.deep_copy(pod)
        bound["spec"]["nodeName"] = node
        try:
            updated = await self.api.update(bound)
        except NotFoundError:
            return None
        self.assumed[key] = node
        self.unschedulable.pop(key, None)
        status = dict(updated.get("status") or {})
        o.set_condition(status, "PodScheduled", "True")
        updated["status"] = status
        try:
            await self.api.update_status(updated)
        except Exception as exc:  # the binding stands; the condition is cosmetic
            logger.debug("PodScheduled condition not written pod=%s: %s", key, exc)
        logger.info("bound pod=%s node=%s", key, node)
        return None

    async def _unschedulable(self, pod: Obj, key: str, reason: str) -> float:
        attempts = self.unschedulable.get(key, 0) + 1
        self.unschedulable[key] = attempts
        cond = o.get_condition(pod, "PodScheduled")
        if cond is None or cond.get("status") != "False" or cond.get("message") != reason:
            new = o.deep_copy(pod)
            status = dict(new.get("status") or {})
            o.set_condition(status, "PodScheduled", "False", "Unschedulable", reason)
            new["status"] = status
            with contextlib.suppress(NotFoundError):
                await self.api.update_status(new)
        logger.info("unschedulable pod=%s: %s", key, reason)
        delay = self.settings.backoff_initial * 2 ** (attempts - 1)
        return float(min(delay, self.settings.backoff_max))

    # --- filter and score --------------------------------------------------------------

    def _usage(self) -> tuple[dict[str, list[int]], dict[str, Counter[str]]]:
        """Per node: [millicores, bytes, pods] requested, and pods per owner uid."""
        used: dict[str, list[int]] = {}
        owners: dict[str, Counter[str]] = {}
        for pod in self.pods.items():
            key = o.cache_key(pod)
            node = p.node_name(pod) or self.assumed.get(key, "")
            if not node or p.phase(pod) in ("Succeeded", "Failed"):
                continue
            cpu, mem = pod_requests(pod)
            u = used.setdefault(node, [0, 0, 0])
            u[0] += cpu
            u[1] += mem
            u[2] += 1
            ref = o.controller_ref(pod)
            if ref is not None and not o.is_deleting(pod):
                owners.setdefault(node, Counter())[str(ref.get("uid"))] += 1
        return used, owners

    async def volume_node(self, pod: Obj) -> str | None:
        """The node a pod must run on because a claim it mounts is bound to a
        volume there (host-directory volumes live on one node), or None."""
        namespace = o.namespace(pod)
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            claim_ref = volume.get("persistentVolumeClaim")
            if not claim_ref:
                continue
            claim = await self.api.get(PVC, namespace, str(claim_ref.get("claimName")))
            volume_name = (claim.get("spec") or {}).get("volumeName")
            if volume_name:
                pv = await self.api.get(PV, "", str(volume_name))
                node = (pv.get("spec") or {}).get("nodeName")
                if node:
                    return str(node)
        return None

    def pick(self, pod: Obj, volume_node: str | None = None) -> tuple[str | None, str]:
        """The best node for ``pod``, or None and the reason none fits.

        ``volume_node``: the only node allowed (a bound claim's volume is there).
        """
        nodes = self.nodes.items()
        if not nodes:
            return None, "0/0 nodes are available: no nodes registered."
        spec = pod.get("spec") or {}
        selector = from_labels(spec.get("nodeSelector") or {})
        cpu, mem = pod_requests(pod)
        used, owners = self._usage()
        ref = o.controller_ref(pod)
        owner = str(ref.get("uid")) if ref is not None else ""
        reasons: Counter[str] = Counter()
        candidates: list[tuple[int, float, str]] = []
        for node in nodes:
            name = o.name(node)
            if volume_node is not None and name != volume_node:
                reasons["node(s) didn't have the pod's bound volume"] += 1
                continue
            if not node_ready(node):
                reasons["node(s) were not ready"] += 1
                continue
            if (node.get("spec") or {}).get("unschedulable"):
                reasons["node(s) were unschedulable"] += 1
                continue
            if not selector.matches(o.labels(node)):
                reasons["node(s) didn't match Pod's node affinity/selector"] += 1
                continue
            a_cpu, a_mem, a_pods = node_allocatable(node)
            u = used.get(name, [0, 0, 0])
            misfit = []
            if u[2] + 1 > a_pods:
                misfit.append("Too many pods")
            if u[0] + cpu > a_cpu:
                misfit.append("Insufficient cpu")
            if u[1] + mem > a_mem:
                misfit.append("Insufficient memory")
            if misfit:
                for m in misfit:
                    reasons[m] += 1
                continue
            free = ((a_cpu - u[0] - cpu) / max(a_cpu, 1) + (a_mem - u[1] - mem) / max(a_mem, 1)) / 2
            same_owner = owners.get(name, Counter())[owner] if owner else 0
            candidates.append((same_owner, -free, name))
        if candidates:
            return min(candidates)[2], ""
        detail = ", ".join(f"{n} {text}" for text, n in sorted(reasons.items()))
        return None, f"0/{len(nodes)} nodes are available: {detail}."
