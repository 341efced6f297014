"""One task per pod bound to this node: run its containers, report its status,
stop it gracefully when it is deleted.

The worker loop, every ``sync_interval`` (or sooner when the pod changes)::

    pod deleted or gone? ──yes──► SIGTERM every container's group, SIGKILL after the
          │ no                     grace period, then remove the pod (grace 0) and
          ▼                        its directory
    step each container (start / restart with back-off / probes)
          ▼
    write pod status if it changed (phase, conditions, containerStatuses, podIP)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kvstore.agent import procs
from kvstore.agent.config import AgentConfig
from kvstore.agent.containers import ContainerRunner, PodContext
from kvstore.agent.procs import ProcessRecord
from kvstore.controllers import objects as o
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.errors import ApiError, ConflictError, NotFoundError
from kvstore.controllers.objects import POD, Obj
from kvstore.ports import pick_port

logger = logging.getLogger(__name__)

HOST_IP = "127.0.0.1"

VolumeResolver = Callable[[Obj], Awaitable[dict[str, str]]]
"""Volume name → host directory for a pod; raises ``VolumeNotReady``."""


class VolumeNotReady(Exception):
    """A pod's volume cannot be provided (yet); the message says why."""


def free_port() -> int:
    return pick_port(HOST_IP)


async def stop_record(record: ProcessRecord, grace: float) -> None:
    """Stop a recorded process nobody adopted: SIGTERM, SIGKILL after ``grace``."""
    if not procs.is_alive(record):
        return
    procs.signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not procs.is_alive(record):
            return
        await asyncio.sleep(0.05)
    procs.kill_record(record)


class PodWorker:
    def __init__(
        self,
        pod: Obj,
        api: ObjectClient,
        config: AgentConfig,
        volumes: VolumeResolver,
        adopted: dict[str, ProcessRecord],
    ) -> None:
        self.pod = pod
        self.api = api
        self.config = config
        self.volumes = volumes
        self.adopted = adopted
        self.uid = o.uid(pod)
        self.dir = config.data_dir / "pods" / self.uid
        self.runners: list[ContainerRunner] = []
        self.gone = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._written: dict[str, Any] | None = None
        self._written_rv = 0
        self._pending_reason = ("ContainerCreating", "")

    @property
    def key(self) -> str:
        return o.cache_key(self.pod)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"pod-{self.key}")

    def update(self, pod: Obj) -> None:
        self.pod = pod
        self._wake.set()

    def deleted(self) -> None:
        self.gone = True
        self._wake.set()

    @property
    def finished(self) -> bool:
        return self._task is not None and self._task.done()

    async def aclose(self, *, stop_processes: bool) -> None:
        """Stop the worker; its processes too if asked (else a restarted agent adopts them)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if stop_processes:
            await asyncio.gather(*(r.stop(min(self._grace(), 5.0)) for r in self.runners))

    # --- the loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self.runners and not self._terminating():
                try:
                    await self._prepare()
                except VolumeNotReady as exc:
                    self._pending_reason = ("VolumeNotReady", str(exc))
                    await self._report()
                    await self._sleep(1.0)
            while not self._terminating():
                policy = str(self.pod["spec"].get("restartPolicy", "Always"))
                for runner in self.runners:
                    runner.step(policy)
                await self._report()
                await self._sleep(self.config.sync_interval)
            await self._terminate()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("pod worker failed pod=%s", self.key)

    def _terminating(self) -> bool:
        return self.gone or o.is_deleting(self.pod)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _prepare(self) -> None:
        volumes = await self.volumes(self.pod)
        self.dir.mkdir(parents=True, exist_ok=True)
        ctx = PodContext(
            o.namespace(self.pod),
            o.name(self.pod),
            self.uid,
            self.config.node_name,
            self.dir,
            self._host_ports(),
            volumes,
        )
        runners = [ContainerRunner(c, ctx, self.config) for c in o.containers(self.pod["spec"])]
        for runner in runners:
            record = self.adopted.pop(runner.name, None)
            if record is not None:
                runner.adopt(record)
        self.runners = runners

    def _host_ports(self) -> dict[str, int]:
        """Stable across container restarts and agent restarts (kept in ports.json)."""
        path = self.dir / "ports.json"
        with contextlib.suppress(OSError, ValueError):
            loaded: dict[str, int] = json.loads(path.read_text())
            return loaded
        ports: dict[str, int] = {}
        for c in o.containers(self.pod["spec"]):
            for port in c.get("ports") or []:
                cp = int(port["containerPort"])
                ports[f"{c['name']}/{cp}"] = int(port.get("hostPort") or free_port())
        path.write_text(json.dumps(ports))
        return ports

    def _grace(self) -> float:
        """The pod's own grace period, shortened by a shorter one given at deletion.
        (The typed client writes 30 s when a deletion names none, whatever the spec.)"""
        spec_grace = float(self.pod["spec"].get("terminationGracePeriodSeconds", 30))
        deletion = o.meta(self.pod).get("deletionGracePeriodSeconds")
        return spec_grace if deletion is None else min(spec_grace, float(deletion))

    async def _terminate(self) -> None:
        grace = self._grace()
        logger.info("stopping pod=%s grace=%.1fs", self.key, grace)
        await asyncio.gather(*(r.stop(grace) for r in self.runners))
        await asyncio.gather(*(stop_record(r, grace) for r in self.adopted.values()))
        self.adopted.clear()
        if not self.gone:
            with contextlib.suppress(NotFoundError):
                await self.api.delete(
                    POD, o.namespace(self.pod), o.name(self.pod), grace_period=0, uid=self.uid
                )
        shutil.rmtree(self.dir, ignore_errors=True)
        logger.info("removed pod=%s", self.key)

    # --- status ------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        old = self._written or dict(self.pod.get("status") or {})
        statuses = [r.status() for r in self.runners]
        if self.runners and all(r.done for r in self.runners):
            ok = all((r.last_terminated or {}).get("exitCode") == 0 for r in self.runners)
            phase = "Succeeded" if ok else "Failed"
        elif any(r.running or r.exits for r in self.runners):
            phase = "Running"
        else:
            phase = "Pending"
        status: dict[str, Any] = {
            "phase": phase,
            "hostIP": HOST_IP,
            "podIP": HOST_IP,
            "startTime": old.get("startTime") or o.now_rfc3339(),
            "conditions": list(old.get("conditions") or []),
            "containerStatuses": statuses,
        }
        ready = bool(self.runners) and all(r.ready for r in self.runners)
        value = "True" if ready else "False"
        o.set_condition(status, "Initialized", "True" if self.runners else "False")
        reason, message = ("", "") if self.runners else self._pending_reason
        o.set_condition(status, "ContainersReady", value, reason, message)
        o.set_condition(status, "Ready", value, reason, message)
        return status

    async def _report(self) -> None:
        status = self.status()
        pod = self.pod
        overwritten = (
            o.resource_version(pod) > self._written_rv and pod.get("status") != self._written
        )
        if status == self._written and not overwritten:
            return
        for _ in range(5):
            new = o.deep_copy(pod)
            new["status"] = status
            try:
                written = await self.api.update_status(new)
                self._written = status
                self._written_rv = o.resource_version(written)
                return
            except NotFoundError:
                self.gone = True
                return
            except ConflictError:
                try:
                    pod = await self.api.get(POD, o.namespace(pod), o.name(pod))
                except NotFoundError:
                    self.gone = True
                    return
                if o.uid(pod) != self.uid:
                    self.gone = True
                    return
                status = self._merge(pod, status)
            except ApiError as exc:
                logger.warning("status not written pod=%s: %s", self.key, exc)
                return

    @staticmethod
    def _merge(current: Obj, status: dict[str, Any]) -> dict[str, Any]:
        """Keep conditions other writers added (PodScheduled) over a conflict."""
        ours = {c["type"] for c in status.get("conditions") or []}
        theirs = [
            c
            for c in (current.get("status") or {}).get("conditions") or []
            if c.get("type") not in ours
        ]
        return {**status, "conditions": [*status.get("conditions", []), *theirs]}
