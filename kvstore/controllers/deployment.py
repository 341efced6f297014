"""The Deployment controller: one ReplicaSet per pod template, rolled out by strategy.

``reconcile(key)`` (one step per call; every write re-triggers it through the
informers, so the rollout advances as pods become available):

1. claim ReplicaSets (owned by uid; adopt matching orphans);
2. find the *new* ReplicaSet — the one whose template equals the deployment's
   (ignoring ``pod-template-hash``) — or create it as ``<name>-<hash>`` with the
   next ``deployment.kubernetes.io/revision``; a rollback makes an old one new
   again and gives it the next revision;
3. unless paused: *RollingUpdate* scales the new one up while the sum of all
   ``spec.replicas`` stays ≤ replicas + maxSurge, and old ones down while
   available pods stay ≥ replicas - maxUnavailable; *Recreate* scales old ones to
   0, waits until their pods are gone, then scales the new one up;
4. deletes old, empty ReplicaSets beyond ``revisionHistoryLimit``;
5. writes status and the Available / Progressing conditions (ProgressDeadlineExceeded
   when no progress for ``progressDeadlineSeconds``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kvstore.controllers import objects as o
from kvstore.controllers import rollouts as r
from kvstore.controllers.api import ObjectWriter
from kvstore.controllers.cache import Cache
from kvstore.controllers.config import ControllerConfig
from kvstore.controllers.controller import Controller
from kvstore.controllers.errors import AlreadyExistsError, NotFoundError
from kvstore.controllers.informer import Handlers, Informer
from kvstore.controllers.objects import (
    DEPLOYMENT,
    POD_TEMPLATE_HASH,
    REPLICA_SET,
    REVISION_ANNOTATION,
    Obj,
)
from kvstore.controllers.selectors import from_label_selector

logger = logging.getLogger(__name__)


class DeploymentController(Controller):
    name = "deployment"

    def __init__(
        self,
        api: ObjectWriter,
        deployments: Cache,
        replicasets: Cache,
        pods: Cache,
        config: ControllerConfig,
        wait_for: list[Informer] | None = None,
    ) -> None:
        super().__init__(config, wait_for or [], config.workers)
        self.api = api
        self.deployments = deployments
        self.replicasets = replicasets
        self.pods = pods

    @classmethod
    def from_informers(
        cls,
        api: ObjectWriter,
        deployments: Informer,
        replicasets: Informer,
        pods: Informer,
        config: ControllerConfig,
    ) -> DeploymentController:
        ctl = cls(
            api,
            deployments.cache,
            replicasets.cache,
            pods.cache,
            config,
            [deployments, replicasets, pods],
        )
        deployments.add_handlers(
            Handlers(ctl.enqueue, lambda old, new: ctl.enqueue(new), ctl.enqueue)
        )
        replicasets.add_handlers(
            Handlers(ctl.rs_changed, lambda old, new: ctl.rs_changed(new), ctl.rs_changed)
        )
        pods.add_handlers(Handlers(on_delete=ctl.pod_deleted))
        return ctl

    # --- event handlers --------------------------------------------------------------

    def enqueue(self, d: Obj) -> None:
        self.queue.add(o.cache_key(d))

    def rs_changed(self, rs: Obj) -> None:
        ref = o.controller_ref(rs)
        if ref is not None:
            d = self.deployments.get_by_uid(str(ref.get("uid")))
            if d is not None:
                self.enqueue(d)
            return
        for d in self.deployments.list(o.namespace(rs)):
            sel = from_label_selector((d.get("spec") or {}).get("selector"))
            if sel.matches(o.labels(rs)):
                self.enqueue(d)

    def pod_deleted(self, pod: Obj) -> None:
        ref = o.controller_ref(pod)
        if ref is not None:
            rs = self.replicasets.get_by_uid(str(ref.get("uid")))
            if rs is not None:
                self.rs_changed(rs)

    # --- reconcile -------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        d = self.deployments.get(key)
        if d is None or o.is_deleting(d):
            return None
        rss = await self._claim(d)
        new_rs, old_rss = r.split_new_old(d, rss)
        spec = d.get("spec") or {}
        paused = bool(spec.get("paused"))
        progressed = False
        if paused:
            progressed = await self._scale_paused(d, new_rs, old_rss)
        else:
            if new_rs is None:
                new_rs = await self._create_new_rs(d, old_rss)
                return None  # its add event brings us back
            if r.revision(new_rs) <= max((r.revision(rs) for rs in old_rss), default=0):
                await self._bump_revision(new_rs, old_rss)
                return None
            if (spec.get("strategy") or {}).get("type") == "Recreate":
                progressed = await self._recreate(d, new_rs, old_rss)
            else:
                progressed = await self._rolling(d, new_rs, old_rss)
            await self._cleanup(d, old_rss)
        return await self._sync_status(d, new_rs, old_rss, progressed)

    async def _claim(self, d: Obj) -> list[Obj]:
        selector = from_label_selector((d.get("spec") or {}).get("selector"))
        owned: list[Obj] = []
        for rs in self.replicasets.list(o.namespace(d)):
            ref = o.controller_ref(rs)
            if ref is not None:
                if ref.get("uid") == o.uid(d):
                    owned.append(rs)
            elif selector.matches(o.labels(rs)) and not o.is_deleting(rs):
                new = o.deep_copy(rs)
                o.meta(new)["ownerReferences"] = [*o.owner_references(rs), o.owner_ref_to(d)]
                owned.append(await self.api.update(new))
                logger.info("adopted replicaset=%s", o.cache_key(rs))
        return owned

    async def _create_new_rs(self, d: Obj, old_rss: list[Obj]) -> Obj:
        spec = d.get("spec") or {}
        template = r.template_without_hash(spec.get("template") or {})
        h = o.template_hash(template)
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), POD_TEMPLATE_HASH: h}
        selector = o.deep_copy(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH: h}
        rev = max((r.revision(rs) for rs in old_rss), default=0) + 1
        replicas = self._new_rs_replicas(d, None, old_rss)
        rs: Obj = {
            "apiVersion": REPLICA_SET.api_version,
            "kind": REPLICA_SET.kind,
            "metadata": {
                "name": f"{o.name(d)}-{h}",
                "namespace": o.namespace(d),
                "labels": dict(tmeta["labels"]),
                "annotations": {REVISION_ANNOTATION: str(rev), **_change_cause(d)},
                "ownerReferences": [o.owner_ref_to(d)],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
        }
        try:
            created = await self.api.create(rs)
        except AlreadyExistsError:
            raise  # the cache is behind; retried after back-off
        logger.info(
            "created replicaset=%s revision=%d replicas=%d", o.cache_key(created), rev, replicas
        )
        return created

    async def _bump_revision(self, new_rs: Obj, old_rss: list[Obj]) -> None:
        rev = max((r.revision(rs) for rs in old_rss), default=0) + 1
        updated = o.deep_copy(new_rs)
        o.meta(updated)["annotations"] = {**o.annotations_of(new_rs), REVISION_ANNOTATION: str(rev)}
        await self.api.update(updated)
        logger.info("replicaset=%s is new again revision=%d", o.cache_key(new_rs), rev)

    def _new_rs_replicas(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> int:
        spec = d.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            return replicas if not any(r.spec_replicas(rs) for rs in old_rss) else 0
        current = r.spec_replicas(new_rs)
        if current >= replicas:
            return replicas
        surge, _ = r.surge_and_unavailable(d)
        total = current + sum(r.spec_replicas(rs) for rs in old_rss)
        room = replicas + surge - total
        if room <= 0:
            return current
        return current + min(room, replicas - current)

    async def _scale(self, rs: Obj, replicas: int) -> None:
        if r.spec_replicas(rs) == replicas:
            return
        new = o.deep_copy(rs)
        new["spec"]["replicas"] = replicas
        await self.api.update(new)
        logger.info(
            "scaled replicaset=%s from=%d to=%d", o.cache_key(rs), r.spec_replicas(rs), replicas
        )

    async def _rolling(self, d: Obj, new_rs: Obj, old_rss: list[Obj]) -> bool:
        replicas = int((d.get("spec") or {}).get("replicas", 1))
        # 1. scale the new ReplicaSet up (or down to replicas)
        target = self._new_rs_replicas(d, new_rs, old_rss)
        if target != r.spec_replicas(new_rs):
            await self._scale(new_rs, target)
            return True
        # 2. scale old ones down, keeping replicas - maxUnavailable available
        olds = [rs for rs in old_rss if r.spec_replicas(rs) > 0]
        if not olds:
            return False
        _, max_unavailable = r.surge_and_unavailable(d)
        min_available = replicas - max_unavailable
        all_total = r.spec_replicas(new_rs) + sum(r.spec_replicas(rs) for rs in olds)
        new_unavailable = r.spec_replicas(new_rs) - r.available(new_rs)
        budget = all_total - min_available - new_unavailable
        if budget <= 0:
            return False
        # 2a. unhealthy old pods go first: they do not count as available anyway
        changed = False
        for rs in sorted(olds, key=r.revision):
            unhealthy = r.spec_replicas(rs) - r.available(rs)
            if budget <= 0 or unhealthy <= 0:
                continue
            cut = min(budget, unhealthy)
            await self._scale(rs, r.spec_replicas(rs) - cut)
            budget -= cut
            changed = True
        if changed:
            return True
        # 2b. healthy old pods, as far as availability allows
        total_available = r.available(new_rs) + sum(r.available(rs) for rs in olds)
        budget = min(budget, total_available - min_available)
        for rs in sorted(olds, key=r.revision):
            if budget <= 0:
                break
            cut = min(budget, r.spec_replicas(rs))
            await self._scale(rs, r.spec_replicas(rs) - cut)
            budget -= cut
            changed = True
        return changed

    async def _recreate(self, d: Obj, new_rs: Obj, old_rss: list[Obj]) -> bool:
        active_old = [rs for rs in old_rss if r.spec_replicas(rs) > 0]
        for rs in active_old:
            await self._scale(rs, 0)
        if active_old:
            return True
        if any(self.pods.by_index("owner", o.uid(rs)) for rs in old_rss):
            return False  # wait until the old pods are gone
        replicas = int((d.get("spec") or {}).get("replicas", 1))
        if r.spec_replicas(new_rs) != replicas:
            await self._scale(new_rs, replicas)
            return True
        return False

    async def _scale_paused(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> bool:
        """Paused: no rollout, but a scale of a settled deployment still applies."""
        replicas = int((d.get("spec") or {}).get("replicas", 1))
        settled = new_rs is not None and not any(r.spec_replicas(rs) for rs in old_rss)
        if new_rs is not None and settled and r.spec_replicas(new_rs) != replicas:
            await self._scale(new_rs, replicas)
            return True
        return False

    async def _cleanup(self, d: Obj, old_rss: list[Obj]) -> None:
        limit = int((d.get("spec") or {}).get("revisionHistoryLimit", 10))
        idle = [
            rs
            for rs in old_rss
            if r.spec_replicas(rs) == 0
            and r.status_int(rs, "replicas") == 0
            and not o.is_deleting(rs)
        ]
        excess = len(idle) - limit
        for rs in sorted(idle, key=r.revision)[: max(excess, 0)]:
            try:
                await self.api.delete(REPLICA_SET, o.namespace(rs), o.name(rs), uid=o.uid(rs))
                logger.info("deleted old replicaset=%s (history limit)", o.cache_key(rs))
            except NotFoundError:
                pass

    async def _sync_status(
        self, d: Obj, new_rs: Obj | None, old_rss: list[Obj], progressed: bool
    ) -> float | None:
        spec = d.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        all_rss = ([new_rs] if new_rs is not None else []) + old_rss
        _, max_unavailable = r.surge_and_unavailable(d)
        counts: dict[str, Any] = {
            "observedGeneration": int(o.meta(d).get("generation") or 1),
            "replicas": sum(r.status_int(rs, "replicas") for rs in all_rss),
            "updatedReplicas": r.status_int(new_rs, "replicas"),
            "readyReplicas": sum(r.status_int(rs, "readyReplicas") for rs in all_rss),
            "availableReplicas": sum(r.status_int(rs, "availableReplicas") for rs in all_rss),
        }
        counts["unavailableReplicas"] = max(replicas - counts["availableReplicas"], 0)
        old_status: dict[str, Any] = dict(d.get("status") or {})
        status: dict[str, Any] = {**old_status, **counts}
        progressed = progressed or any(old_status.get(k) != v for k, v in counts.items())
        if counts["availableReplicas"] >= replicas - max_unavailable:
            o.set_condition(
                status,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            o.set_condition(
                status,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        rs_name = o.name(new_rs) if new_rs is not None else o.name(d)
        complete = (
            new_rs is not None
            and counts["updatedReplicas"] == replicas
            and counts["replicas"] == replicas
            and counts["availableReplicas"] == replicas
            and r.spec_replicas(new_rs) == replicas
        )
        deadline = float(spec.get("progressDeadlineSeconds", 600))
        again: float | None = None
        if spec.get("paused"):
            o.set_condition(
                status, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused"
            )
        elif complete:
            o.set_condition(
                status,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        else:
            cond = o.get_condition(d, "Progressing")
            last = (
                o.parse_time(cond["lastUpdateTime"])
                if cond and cond.get("lastUpdateTime")
                else time.time()
            )
            if (
                progressed
                or cond is None
                or cond.get("reason") in ("NewReplicaSetAvailable", "DeploymentPaused")
            ):
                o.set_condition(
                    status,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{rs_name}" is progressing.',
                    touch=True,
                )
                again = deadline
            elif time.time() - last > deadline:
                o.set_condition(
                    status,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                )
            else:
                again = max(deadline - (time.time() - last), 0.1)
        if new_rs is not None:
            rev = o.annotations_of(new_rs).get(REVISION_ANNOTATION)
            if rev and o.annotations_of(d).get(REVISION_ANNOTATION) != rev:
                updated = o.deep_copy(d)
                o.meta(updated)["annotations"] = {**o.annotations_of(d), REVISION_ANNOTATION: rev}
                d = await self.api.update(updated)
        if status != old_status:
            new = o.deep_copy(d)
            new["status"] = status
            await self.api.update_status(new)
        return again


def _change_cause(d: Obj) -> dict[str, str]:
    cause = o.annotations_of(d).get(r.CHANGE_CAUSE)
    return {r.CHANGE_CAUSE: cause} if cause else {}


__all__ = ["DEPLOYMENT", "DeploymentController"]
