"""The ReplicaSet controller: keep ``spec.replicas`` pods matching the selector.

``reconcile(key)``:

1. claim pods: owned pods that no longer match are released (owner reference
   removed); matching orphans are adopted (owner reference added);
2. if the expectations of this ReplicaSet are met (its cache has seen the creates
   and deletes of the last round), create or delete the difference — deleting the
   least valuable pods first (see :func:`pods.deletion_rank`);
3. write ``status`` (replicas, fullyLabeledReplicas, readyReplicas,
   availableReplicas, observedGeneration) when it changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from kvstore.controllers import objects as o
from kvstore.controllers import pods as p
from kvstore.controllers.api import ObjectWriter
from kvstore.controllers.cache import Cache
from kvstore.controllers.config import ControllerConfig
from kvstore.controllers.controller import Controller
from kvstore.controllers.errors import ConflictError, NotFoundError
from kvstore.controllers.expectations import Expectations
from kvstore.controllers.informer import Handlers, Informer
from kvstore.controllers.objects import POD, REPLICA_SET, Obj
from kvstore.controllers.selectors import from_label_selector

logger = logging.getLogger(__name__)


class ReplicaSetController(Controller):
    name = "replicaset"

    def __init__(
        self,
        api: ObjectWriter,
        replicasets: Cache,
        pods: Cache,
        config: ControllerConfig,
        wait_for: list[Informer] | None = None,
    ) -> None:
        super().__init__(config, wait_for or [], config.workers)
        self.api = api
        self.replicasets = replicasets
        self.pods = pods
        self.expectations = Expectations(config.expectations_timeout)

    @classmethod
    def from_informers(
        cls, api: ObjectWriter, rs: Informer, pods: Informer, config: ControllerConfig
    ) -> ReplicaSetController:
        ctl = cls(api, rs.cache, pods.cache, config, [rs, pods])
        rs.add_handlers(
            Handlers(
                on_add=ctl.enqueue,
                on_update=lambda old, new: ctl.enqueue(new),
                on_delete=ctl.enqueue,
            )
        )
        pods.add_handlers(Handlers(ctl.pod_added, ctl.pod_updated, ctl.pod_deleted))
        return ctl

    # --- event handlers --------------------------------------------------------------

    def enqueue(self, rs: Obj) -> None:
        self.queue.add(o.cache_key(rs))

    def _owner_key(self, pod: Obj) -> str | None:
        ref = o.controller_ref(pod)
        if ref is None or ref.get("kind") != REPLICA_SET.kind:
            return None
        rs = self.replicasets.get_by_uid(str(ref.get("uid")))
        return o.cache_key(rs) if rs is not None else None

    def _enqueue_matching(self, pod: Obj) -> None:
        for rs in self.replicasets.list(o.namespace(pod)):
            sel = from_label_selector((rs.get("spec") or {}).get("selector"))
            if not sel.empty and sel.matches(o.labels(pod)):
                self.enqueue(rs)

    def pod_added(self, pod: Obj) -> None:
        if o.is_deleting(pod):
            self.pod_deleted(pod)
            return
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)
        elif o.controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def pod_updated(self, old: Obj, new: Obj) -> None:
        if o.is_deleting(new) and not o.is_deleting(old):
            self.pod_deleted(new)
            return
        old_key, new_key = self._owner_key(old), self._owner_key(new)
        if old_key is not None and old_key != new_key:
            self.queue.add(old_key)
        if new_key is not None:
            self.queue.add(new_key)
        elif o.controller_ref(new) is None:
            self._enqueue_matching(new)

    def pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, o.cache_key(pod))
            self.queue.add(key)

    # --- reconcile -------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        rs = self.replicasets.get(key)
        if rs is None:
            self.expectations.forget(key)
            return None
        owned = await self._claim(rs)
        active = [pod for pod in owned if p.is_active(pod)]
        if self.expectations.satisfied(key) and not o.is_deleting(rs):
            await self._manage(rs, key, active)
        return await self._update_status(rs, active)

    async def _claim(self, rs: Obj) -> list[Obj]:
        spec = rs.get("spec") or {}
        selector = from_label_selector(spec.get("selector"))
        owned: list[Obj] = []
        for pod in self.pods.list(o.namespace(rs)):
            ref = o.controller_ref(pod)
            matches = not selector.empty and selector.matches(o.labels(pod))
            if ref is not None:
                if ref.get("uid") != o.uid(rs):
                    continue
                if matches or o.is_deleting(pod):
                    owned.append(pod)
                else:
                    await self._set_owner(pod, None)
            elif matches and not o.is_deleting(pod) and not o.is_deleting(rs):
                adopted = await self._set_owner(pod, rs)
                if adopted is not None:
                    owned.append(adopted)
        return owned

    async def _set_owner(self, pod: Obj, rs: Obj | None) -> Obj | None:
        """Adopt (``rs``) or release (None) ``pod``; None if the pod changed meanwhile."""
        new = o.deep_copy(pod)
        refs = [r for r in o.owner_references(new) if not r.get("controller")]
        if rs is not None:
            refs.append(o.owner_ref_to(rs))
        o.meta(new)["ownerReferences"] = refs
        try:
            updated = await self.api.update(new)
        except (ConflictError, NotFoundError):
            return None
        logger.info("%s pod=%s", "adopted" if rs is not None else "released", o.cache_key(pod))
        return updated

    async def _manage(self, rs: Obj, key: str, active: list[Obj]) -> None:
        spec = rs.get("spec") or {}
        diff = len(active) - int(spec.get("replicas", 1))
        if diff < 0:
            count = min(-diff, self.config.burst_replicas)
            self.expectations.expect_creations(key, count)
            results = await asyncio.gather(
                *(self.api.create(pod_from_template(rs)) for _ in range(count)),
                return_exceptions=True,
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            for _ in errors:
                self.expectations.creation_observed(key)
            logger.info("created pods rs=%s count=%d failed=%d", key, count, len(errors))
            if errors:
                raise errors[0]
        elif diff > 0:
            victims = sorted(active, key=p.deletion_rank)[: min(diff, self.config.burst_replicas)]
            self.expectations.expect_deletions(key, [o.cache_key(v) for v in victims])
            deleted = await asyncio.gather(
                *(self.api.delete(POD, o.namespace(v), o.name(v), uid=o.uid(v)) for v in victims),
                return_exceptions=True,
            )
            for victim, result in zip(victims, deleted, strict=True):
                if isinstance(result, NotFoundError):
                    self.expectations.deletion_observed(key, o.cache_key(victim))
                elif isinstance(result, BaseException):
                    self.expectations.deletion_observed(key, o.cache_key(victim))
                    raise result
            logger.info("deleted pods rs=%s count=%d", key, len(victims))

    async def _update_status(self, rs: Obj, active: list[Obj]) -> float | None:
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        now = time.time()
        ready = [pod for pod in active if p.is_ready(pod)]
        available = [pod for pod in ready if p.is_available(pod, min_ready, now)]
        fully = [
            pod
            for pod in active
            if all(o.labels(pod).get(k) == v for k, v in template_labels.items())
        ]
        wanted: dict[str, Any] = {
            "replicas": len(active),
            "fullyLabeledReplicas": len(fully),
            "readyReplicas": len(ready),
            "availableReplicas": len(available),
            "observedGeneration": int(o.meta(rs).get("generation") or 1),
        }
        status = dict(rs.get("status") or {})
        if any(status.get(k) != v for k, v in wanted.items()):
            new = o.deep_copy(rs)
            new["status"] = {**status, **wanted}
            try:
                await self.api.update_status(new)
            except NotFoundError:
                return None
        if len(available) < len(ready):
            return float(min_ready) / 2 or 0.5  # look again when they may be available
        return None


def pod_from_template(rs: Obj) -> Obj:
    """A new pod for ``rs``: its template, a generated name and an owner reference."""
    template = (rs.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{o.name(rs)}-",
            "namespace": o.namespace(rs),
            "labels": dict(tmeta.get("labels") or {}),
            "ownerReferences": [o.owner_ref_to(rs)],
        },
        "spec": o.deep_copy(template.get("spec") or {}),
        "status": {"phase": "Pending"},
    }
    if tmeta.get("annotations"):
        pod["metadata"]["annotations"] = dict(tmeta["annotations"])
    return pod
