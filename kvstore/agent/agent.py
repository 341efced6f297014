"""The node agent: registers its Node, heartbeats, runs the pods bound to it.

It owns, in start order: the store client, the log server, the Node registration and
:class:`Heartbeat`, the volume manager, a pod informer (only pods whose
``spec.nodeName`` is this node reach a worker), one :class:`PodWorker` per pod uid,
and the Service proxy. ``aclose()`` stops them in reverse order.

Restart recovery: before the first pod worker starts, the agent reads the process
records left in ``<data-dir>/pods/<uid>/`` by its previous run. Records of pods that
are still bound here are handed to their workers (adopted if the pid is alive with
the same start time); every other recorded process group is killed and its
directory removed. So a restarted agent never runs a second copy and leaves nothing
orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from kvstore.agent import procs
from kvstore.agent.config import AgentConfig
from kvstore.agent.logserver import LogServer
from kvstore.agent.node import Heartbeat, register
from kvstore.agent.podworker import PodWorker
from kvstore.agent.procs import ProcessRecord
from kvstore.agent.proxy import ServiceProxy
from kvstore.agent.volumes import VolumeManager
from kvstore.client import Client
from kvstore.controllers import objects as o
from kvstore.controllers import pods as p
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.config import InformerConfig
from kvstore.controllers.informer import Handlers, Informer
from kvstore.controllers.objects import POD, Obj

logger = logging.getLogger(__name__)


class NodeAgent:
    def __init__(self, config: AgentConfig, client: Client | None = None) -> None:
        self.config = config
        self._own_client = client is None
        self.client = client or config.store.client()
        self.api = ObjectClient(self.client)
        informer_config = InformerConfig(resync_period=config.resync_period)
        self.pods = Informer(self.api, POD, informer_config)
        self.logs = LogServer(self._locate_log, config.log_port)
        self.heartbeat = Heartbeat(self.api, config)
        self.volumes = VolumeManager(self.api, config)
        self.proxy = (
            ServiceProxy(self.api, informer_config, config.proxy_bind_retry)
            if config.proxy
            else None
        )
        self.workers: dict[str, PodWorker] = {}
        """Pod uid → its worker."""
        self._leftovers: dict[str, dict[str, ProcessRecord]] = {}
        self._reaper: asyncio.Task[None] | None = None

    @property
    def pods_dir(self) -> Path:
        return self.config.data_dir / "pods"

    async def start(self) -> None:
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        if self._own_client:
            await self.client.open()
        await self.logs.start()
        await register(self.api, self.config, self.logs.port)
        await self.heartbeat.start()
        await self.volumes.start()
        self._leftovers = self._read_records()
        await self.pods.start()
        await self.pods.wait_synced(60)
        self._clean_leftovers()
        self.pods.add_handlers(Handlers(self._seen, lambda old, new: self._seen(new), self._gone))
        self._reaper = asyncio.create_task(self._reap(), name="worker-reaper")
        if self.proxy is not None:
            await self.proxy.start()
        logger.info(
            "agent running node=%s log_port=%d pods=%d",
            self.config.node_name,
            self.logs.port,
            len(self.workers),
        )

    async def aclose(self) -> None:
        if self.proxy is not None:
            await self.proxy.aclose()
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await self.pods.aclose()
        workers, self.workers = list(self.workers.values()), {}
        await asyncio.gather(
            *(w.aclose(stop_processes=self.config.stop_pods_on_exit) for w in workers)
        )
        await self.volumes.aclose()
        await self.heartbeat.aclose()
        await self.logs.aclose()
        if self._own_client:
            await self.client.aclose()

    # --- restart recovery ------------------------------------------------------------

    def _read_records(self) -> dict[str, dict[str, ProcessRecord]]:
        out: dict[str, dict[str, ProcessRecord]] = {}
        for pod_dir in self.pods_dir.iterdir():
            for path in pod_dir.glob("*.json"):
                record = procs.load(path) if path.name != "ports.json" else None
                if record is not None:
                    out.setdefault(pod_dir.name, {})[record.container] = record
        return out

    def _clean_leftovers(self) -> None:
        mine = {o.uid(pod) for pod in self.pods.cache.items() if self._is_mine(pod)}
        for pod_dir in list(self.pods_dir.iterdir()):
            uid = pod_dir.name
            records = self._leftovers.get(uid, {})
            if uid in mine:
                for name, record in list(records.items()):
                    if not procs.is_alive(record):
                        del records[name]
                continue
            for record in records.values():
                logger.info("killing leftover pid=%d of a pod gone from this node", record.pid)
                procs.kill_record(record)
            self._leftovers.pop(uid, None)
            shutil.rmtree(pod_dir, ignore_errors=True)

    # --- pods --------------------------------------------------------------------------

    def _is_mine(self, pod: Obj) -> bool:
        return (pod.get("spec") or {}).get("nodeName") == self.config.node_name

    def _seen(self, pod: Obj) -> None:
        if not self._is_mine(pod):
            return
        worker = self.workers.get(o.uid(pod))
        if worker is not None:
            worker.update(pod)
            return
        if p.phase(pod) in ("Succeeded", "Failed") and not o.is_deleting(pod):
            return  # finished before this agent (re)started: nothing to run
        worker = PodWorker(
            pod,
            self.api,
            self.config,
            self.volumes.resolve,
            self._leftovers.pop(o.uid(pod), {}),
        )
        self.workers[o.uid(pod)] = worker
        worker.start()

    def _gone(self, pod: Obj) -> None:
        worker = self.workers.get(o.uid(pod))
        if worker is not None:
            worker.deleted()

    async def _reap(self) -> None:
        """Forget workers whose pod was removed (their task has returned)."""
        while True:
            await asyncio.sleep(1.0)
            for uid, worker in list(self.workers.items()):
                if worker.finished:
                    del self.workers[uid]

    # --- logs --------------------------------------------------------------------------

    def _locate_log(
        self, namespace: str, pod: str, container: str, previous: bool
    ) -> tuple[Path, Callable[[], bool]] | str:
        for worker in self.workers.values():
            if o.namespace(worker.pod) != namespace or o.name(worker.pod) != pod:
                continue
            runners = {r.name: r for r in worker.runners}
            if not container and len(runners) == 1:
                container = next(iter(runners))
            runner = runners.get(container)
            if runner is None:
                return f'container "{container}" not found in pod "{pod}" ({", ".join(runners)})'
            run = runner.restart_count - (1 if previous else 0)
            if run < 0:
                return f'previous terminated container "{container}" in pod "{pod}" not found'
            if previous:
                return runner.log_path(run), lambda: False
            return runner.log_path(run), functools.partial(runner.is_running_run, run)
        return f'pod "{pod}" not found on node "{self.config.node_name}"'
