"""A fake node agent for tests: acts only through the typed client, like a real one.

It registers its Nodes (Ready, with allocatable resources), marks pods bound to
them Running and Ready after ``ready_delay`` seconds, and removes pods that have a
``deletionTimestamp`` (their "containers" stop at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kvstore.controllers import objects as o
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.config import InformerConfig
from kvstore.controllers.errors import AlreadyExistsError, ApiError, NotFoundError
from kvstore.controllers.informer import Handlers, Informer
from kvstore.controllers.objects import NODE, POD, Obj

logger = logging.getLogger(__name__)


def node_object(name: str, cpu: str, memory: str, labels: dict[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "spec": {},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }


class FakeNodeAgent:
    def __init__(
        self,
        api: ObjectClient,
        nodes: list[str],
        *,
        ready_delay: float = 0.1,
        cpu: str = "4",
        memory: str = "8Gi",
        labels: dict[str, str] | None = None,
    ) -> None:
        self.api = api
        self.node_names = set(nodes)
        self.ready_delay = ready_delay
        self.cpu, self.memory, self.labels = cpu, memory, labels or {}
        self.informer = Informer(api, POD, InformerConfig(resync_period=1.0))
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> FakeNodeAgent:
        for name in sorted(self.node_names):
            node = node_object(name, self.cpu, self.memory, self.labels)
            try:
                await self.api.create(node)
            except AlreadyExistsError:
                current = await self.api.get(NODE, "", name)
                current["status"] = node["status"]
                await self.api.update_status(current)
        self.informer.add_handlers(
            Handlers(self._seen, lambda old, new: self._seen(new), lambda obj: None)
        )
        await self.informer.start()
        await self.informer.wait_synced(10)
        return self

    async def aclose(self) -> None:
        await self.informer.aclose()
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _seen(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName") not in self.node_names:
            return
        key = o.cache_key(pod)
        ready = o.get_condition(pod, "Ready")
        if not o.is_deleting(pod) and ready is not None and ready.get("status") == "True":
            return
        if key in self._tasks:
            if o.is_deleting(pod):
                self._tasks.pop(key).cancel()
            else:
                return
        task = asyncio.create_task(self._act(key), name=f"agent-{key}")
        self._tasks[key] = task
        task.add_done_callback(lambda t, k=key: self._done(k, t))

    def _done(self, key: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]

    async def _act(self, key: str) -> None:
        pod = self.informer.cache.get(key)
        if pod is None:
            return
        if o.is_deleting(pod):
            with contextlib.suppress(NotFoundError):
                await self.api.delete(
                    POD, o.namespace(pod), o.name(pod), grace_period=0, uid=o.uid(pod)
                )
            return
        await asyncio.sleep(self.ready_delay)
        for _ in range(5):
            if o.is_deleting(pod):
                return
            try:
                await self.api.update_status(running(pod))
                return
            except NotFoundError:
                return
            except ApiError as exc:
                logger.debug("agent status retry pod=%s: %s", key, exc)
                try:
                    pod = await self.api.get(POD, *o.split_key(key))
                except NotFoundError:
                    return


def running(pod: Obj) -> Obj:
    new = o.deep_copy(pod)
    status = dict(new.get("status") or {})
    status["phase"] = "Running"
    status["hostIP"] = "127.0.0.1"
    status["podIP"] = "10.0.0.1"
    status.setdefault("startTime", o.now_rfc3339())
    status["containerStatuses"] = [
        {
            "name": c.get("name"),
            "image": c.get("image"),
            "ready": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": o.now_rfc3339()}},
        }
        for c in (new.get("spec") or {}).get("containers") or []
    ]
    for cond in ("Initialized", "ContainersReady", "Ready"):
        o.set_condition(status, cond, "True")
    new["status"] = status
    return new
