"""The endpoints controller: each Service's ready pods as an Endpoints object.

``reconcile(service key)`` selects the pods of the Service's namespace matching its
``spec.selector`` that are Ready and not terminating, and writes one subset per pod:
the pod's IP and, for every Service port, the port the pod's process really listens
on. On one machine every pod has IP 127.0.0.1, so the agent gives each declared
``containerPort`` its own host port and reports it in
``status.containerStatuses[].ports``; ``targetPort`` (a number or a port name) is
resolved against those. A Service without a selector is left alone.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from kvstore.controllers import objects as o
from kvstore.controllers import pods as p
from kvstore.controllers.api import ObjectWriter
from kvstore.controllers.cache import Cache
from kvstore.controllers.config import ControllerConfig
from kvstore.controllers.controller import Controller
from kvstore.controllers.errors import AlreadyExistsError, NotFoundError
from kvstore.controllers.informer import Handlers, Informer
from kvstore.controllers.objects import ENDPOINTS, Obj
from kvstore.controllers.selectors import from_labels

logger = logging.getLogger(__name__)


def pod_port(pod: Obj, target: object) -> int | None:
    """The host port serving ``target`` (a containerPort number or a port name)."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        for port in cs.get("ports") or []:
            if target in (port.get("containerPort"), port.get("name")) or (
                isinstance(target, str) and target == str(port.get("containerPort"))
            ):
                return int(port["hostPort"])
    return None


def subsets(service: Obj, pods: list[Obj]) -> list[dict[str, Any]]:
    out = []
    for pod in sorted(pods, key=o.name):
        ports = []
        for sp in (service.get("spec") or {}).get("ports") or []:
            port = pod_port(pod, sp.get("targetPort", sp.get("port")))
            if port is not None:
                ports.append(
                    {"name": sp.get("name") or "", "port": port, "protocol": sp.get("protocol")}
                )
        if not ports:
            continue
        address = {
            "ip": (pod.get("status") or {}).get("podIP", ""),
            "nodeName": p.node_name(pod),
            "targetRef": {"kind": "Pod", "name": o.name(pod), "uid": o.uid(pod)},
        }
        out.append({"addresses": [address], "ports": ports})
    return out


class EndpointsController(Controller):
    name = "endpoints"

    def __init__(
        self,
        api: ObjectWriter,
        services: Cache,
        pods: Cache,
        config: ControllerConfig,
        wait_for: list[Informer] | None = None,
    ) -> None:
        super().__init__(config, wait_for or [], config.workers)
        self.api = api
        self.services = services
        self.pods = pods

    @classmethod
    def from_informers(
        cls, api: ObjectWriter, services: Informer, pods: Informer, config: ControllerConfig
    ) -> EndpointsController:
        c = cls(api, services.cache, pods.cache, config, [services, pods])
        services.add_handlers(
            Handlers(c.service_changed, lambda old, new: c.service_changed(new), c.service_changed)
        )
        pods.add_handlers(
            Handlers(c.pod_changed, lambda old, new: c.pod_changed(old, new), c.pod_changed)
        )
        return c

    def service_changed(self, svc: Obj) -> None:
        self.queue.add(o.cache_key(svc))

    def pod_changed(self, *versions: Obj) -> None:
        for pod in versions:
            for svc in self.services.by_index("namespace", o.namespace(pod)):
                selector = (svc.get("spec") or {}).get("selector") or {}
                if selector and from_labels(selector).matches(o.labels(pod)):
                    self.queue.add(o.cache_key(svc))

    async def reconcile(self, key: str) -> float | None:
        ns, name = o.split_key(key)
        svc = self.services.get(key)
        if svc is None:
            with contextlib.suppress(NotFoundError):
                await self.api.delete(ENDPOINTS, ns, name)
            return None
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector:
            return None
        sel = from_labels(selector)
        ready = [
            pod
            for pod in self.pods.by_index("namespace", ns)
            if sel.matches(o.labels(pod)) and p.is_ready(pod) and not o.is_deleting(pod)
        ]
        want = subsets(svc, ready)
        try:
            current = await self.api.get(ENDPOINTS, ns, name)
        except NotFoundError:
            with contextlib.suppress(AlreadyExistsError):
                await self.api.create(
                    {
                        "apiVersion": "v1",
                        "kind": "Endpoints",
                        "metadata": {"name": name, "namespace": ns, "labels": o.labels(svc)},
                        "subsets": want,
                    }
                )
            return None
        if current.get("subsets") != want:
            current["subsets"] = want
            await self.api.update(current)
            logger.info("endpoints service=%s ready=%d", key, len(want))
        return None
