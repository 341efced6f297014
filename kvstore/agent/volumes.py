"""Volumes of the pods on this node: ``emptyDir``, ``hostPath`` and
``persistentVolumeClaim``.

A claim is bound on first use: the agent running the first pod that mounts it
provisions a directory ``<data-dir>/volumes/pvc-<claim uid>``, creates the
PersistentVolume ``pvc-<claim uid>`` (``spec.nodeName`` = this node, ``claimRef``,
``persistentVolumeReclaimPolicy`` from the claim's annotation
``volume.kvstore.io/reclaim-policy``, default ``Delete``) and sets the claim's
``spec.volumeName`` and ``status.phase: Bound``. A pod mounting a claim bound on
another node is not started (its Ready condition says why; pin such pods with a
``nodeSelector``).

The reclaim loop looks at this node's volumes every few seconds: a volume whose
claim is gone is removed (``Delete``) or marked ``Released`` and kept (``Retain``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

from kvstore.agent.config import AgentConfig
from kvstore.agent.podworker import VolumeNotReady
from kvstore.controllers import objects as o
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.errors import AlreadyExistsError, ApiError, NotFoundError
from kvstore.controllers.objects import PV, PVC, Obj

logger = logging.getLogger(__name__)

RECLAIM_ANNOTATION = "volume.kvstore.io/reclaim-policy"


class VolumeManager:
    def __init__(self, api: ObjectClient, config: AgentConfig, reclaim_interval: float = 2.0):
        self.api = api
        self.config = config
        self.root = config.data_dir / "volumes"
        self.reclaim_interval = reclaim_interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._reclaim_loop(), name="volume-reclaim")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def resolve(self, pod: Obj) -> dict[str, str]:
        out: dict[str, str] = {}
        pod_dir = self.config.data_dir / "pods" / o.uid(pod)
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = str(volume.get("name"))
            if "emptyDir" in volume:
                path = pod_dir / "volumes" / name
            elif "hostPath" in volume:
                path = Path(volume["hostPath"]["path"])
            elif "persistentVolumeClaim" in volume:
                claim = str(volume["persistentVolumeClaim"].get("claimName"))
                path = await self._claim_path(o.namespace(pod), claim)
            else:
                raise VolumeNotReady(f"volume {name!r}: unsupported volume type")
            path.mkdir(parents=True, exist_ok=True)
            out[name] = str(path)
        return out

    async def _claim_path(self, namespace: str, claim_name: str) -> Path:
        try:
            claim = await self.api.get(PVC, namespace, claim_name)
        except NotFoundError:
            raise VolumeNotReady(f'persistentvolumeclaim "{claim_name}" not found') from None
        if o.is_deleting(claim):
            raise VolumeNotReady(f'persistentvolumeclaim "{claim_name}" is being deleted')
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if not volume_name:
            return await self._provision(claim)
        try:
            pv = await self.api.get(PV, "", str(volume_name))
        except NotFoundError:
            raise VolumeNotReady(f'persistentvolume "{volume_name}" not found') from None
        node = pv["spec"].get("nodeName")
        if node != self.config.node_name:
            raise VolumeNotReady(
                f'claim "{claim_name}" is bound to a volume on node "{node}" '
                f'(this is node "{self.config.node_name}")'
            )
        return Path(pv["spec"]["hostPath"]["path"])

    async def _provision(self, claim: Obj) -> Path:
        name = f"pvc-{o.uid(claim)}"
        path = self.root / name
        policy = o.annotations_of(claim).get(RECLAIM_ANNOTATION, "Delete")
        requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
        pv: Obj = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": requests.get("storage", "1Gi")},
                "accessModes": (claim.get("spec") or {}).get("accessModes") or ["ReadWriteOnce"],
                "hostPath": {"path": str(path)},
                "nodeName": self.config.node_name,
                "persistentVolumeReclaimPolicy": policy,
                "claimRef": {
                    "namespace": o.namespace(claim),
                    "name": o.name(claim),
                    "uid": o.uid(claim),
                },
            },
            "status": {"phase": "Bound"},
        }
        with contextlib.suppress(AlreadyExistsError):
            await self.api.create(pv)
        path.mkdir(parents=True, exist_ok=True)
        claim = o.deep_copy(claim)
        claim["spec"]["volumeName"] = name
        try:
            claim = await self.api.update(claim)
            claim["status"] = {"phase": "Bound", "capacity": pv["spec"]["capacity"]}
            await self.api.update_status(claim)
        except ApiError as exc:
            raise VolumeNotReady(f"binding claim {o.name(claim)!r}: {exc}") from None
        logger.info("provisioned volume=%s claim=%s", name, o.cache_key(claim))
        return await self._claim_path(o.namespace(claim), o.name(claim))

    async def _reclaim_loop(self) -> None:
        while True:
            await asyncio.sleep(self.reclaim_interval)
            try:
                await self.reclaim()
            except (ApiError, OSError, Exception) as exc:  # retried next round
                logger.warning("volume reclaim failed: %s", exc)

    async def reclaim(self) -> None:
        claims = {o.uid(c) for c in (await self.api.list(PVC)).items}
        for pv in (await self.api.list(PV)).items:
            spec: dict[str, Any] = pv.get("spec") or {}
            if spec.get("nodeName") != self.config.node_name:
                continue
            if str((spec.get("claimRef") or {}).get("uid")) in claims:
                continue
            if spec.get("persistentVolumeReclaimPolicy") == "Retain":
                if (pv.get("status") or {}).get("phase") != "Released":
                    pv["status"] = {"phase": "Released"}
                    await self.api.update_status(pv)
                continue
            shutil.rmtree(spec["hostPath"]["path"], ignore_errors=True)
            with contextlib.suppress(NotFoundError):
                await self.api.delete(PV, "", o.name(pv))
            logger.info("deleted volume=%s (claim gone, policy Delete)", o.name(pv))
