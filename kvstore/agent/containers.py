"""One container of a pod: its process, restart policy with back-off, probes, status.

:meth:`ContainerRunner.step` is called by the pod worker every ``sync_interval``:

* running → if the process exited, record ``lastState.terminated`` and set the
  back-off: ``backoff_base * 2**(exits - 1)``, capped at ``backoff_max`` (a run of
  ``backoff_reset`` seconds starts the count afresh); a failing liveness probe kills
  the process group, which then counts as an exit;
* not running → start it if it never ran, or if the restart policy asks for a
  restart (``Always``; ``OnFailure`` after a non-zero exit) and the back-off is over;
  meanwhile the state is ``waiting: CrashLoopBackOff``.

Worked example (base 10 s): exits at t=0, 10, 30 → restarts at 10, 30, 70.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvstore.agent import procs
from kvstore.agent.config import AgentConfig
from kvstore.agent.probes import Prober
from kvstore.agent.procs import ProcessRecord
from kvstore.controllers import objects as o

logger = logging.getLogger(__name__)

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in command, args and env values."""
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), text)


@dataclass
class PodContext:
    """What every container of one pod shares."""

    namespace: str
    name: str
    uid: str
    node: str
    dir: Path
    host_ports: dict[str, int]
    """``"<container>/<containerPort>"`` → host port."""
    volumes: dict[str, str] = field(default_factory=dict)
    """Volume name → host directory."""


class ContainerRunner:
    def __init__(self, spec: dict[str, Any], pod: PodContext, config: AgentConfig) -> None:
        self.spec = spec
        self.pod = pod
        self.config = config
        self.name = str(spec["name"])
        self.env = self._env()
        self.cwd = self._cwd()
        self.proc: subprocess.Popen[bytes] | None = None
        self.record: ProcessRecord | None = None
        self.restart_count = 0
        self.exits = 0
        self.started_mono = 0.0
        self.backoff_until = 0.0
        self.backoff = 0.0
        self.last_terminated: dict[str, Any] | None = None
        self.waiting: tuple[str, str] = ("ContainerCreating", "")
        self.done = False
        """Exited and not to be restarted (restart policy)."""
        self.liveness = self._prober("livenessProbe", initially=True)
        self.readiness = self._prober("readinessProbe", initially=False)

    # --- environment -----------------------------------------------------------------

    def ports(self) -> list[dict[str, Any]]:
        out = []
        for port in self.spec.get("ports") or []:
            cp = int(port["containerPort"])
            entry = {"containerPort": cp, "hostPort": self.pod.host_ports[f"{self.name}/{cp}"]}
            if port.get("name"):
                entry["name"] = port["name"]
            out.append(entry)
        return out

    def host_port(self, port: object) -> int | None:
        for entry in self.ports():
            if port in (entry["containerPort"], entry.get("name"), str(entry["containerPort"])):
                return int(entry["hostPort"])
        return int(port) if isinstance(port, int) else None

    def _env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in ("PATH", "LANG", "HOME", "TMPDIR") if k in os.environ}
        env.update(
            KV_POD_NAME=self.pod.name,
            KV_POD_NAMESPACE=self.pod.namespace,
            KV_NODE_NAME=self.pod.node,
            HOSTNAME=self.pod.name,
        )
        for i, entry in enumerate(self.ports()):
            if i == 0:
                env["PORT"] = str(entry["hostPort"])
            env[f"PORT_{entry['containerPort']}"] = str(entry["hostPort"])
            if entry.get("name"):
                env[f"PORT_{str(entry['name']).upper().replace('-', '_')}"] = str(entry["hostPort"])
        for mount in self.spec.get("volumeMounts") or []:
            path = self.pod.volumes.get(str(mount.get("name")))
            if path is not None:
                env[f"VOLUME_{str(mount['name']).upper().replace('-', '_')}"] = path
        for item in self.spec.get("env") or []:
            env[str(item["name"])] = expand(str(item.get("value", "")), env)
        return env

    def _cwd(self) -> str | None:
        wd = str(self.spec.get("workingDir") or "")
        if not wd:
            return None
        for mount in self.spec.get("volumeMounts") or []:
            path = self.pod.volumes.get(str(mount.get("name")))
            mpath = str(mount.get("mountPath", ""))
            if path is not None and mpath and (wd == mpath or wd.startswith(mpath + "/")):
                return path + wd[len(mpath) :]
        return str(wd)

    def _prober(self, which: str, *, initially: bool) -> Prober | None:
        spec = self.spec.get(which)
        if not spec:
            return None
        return Prober(spec, self.host_port, self.env, self.cwd, initially=initially)

    def argv(self) -> list[str]:
        parts = list(self.spec.get("command") or []) + list(self.spec.get("args") or [])
        return [expand(a, self.env) for a in parts]

    # --- paths -------------------------------------------------------------------------

    @property
    def record_path(self) -> Path:
        return self.pod.dir / f"{self.name}.json"

    def log_path(self, restart: int) -> Path:
        return self.pod.dir / self.name / f"{restart}.log"

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.record is not None

    def adopt(self, record: ProcessRecord) -> None:
        """Take over a process a previous agent started (it is alive and matches)."""
        self.record = record
        self.restart_count = record.restart_count
        self.started_mono = time.monotonic()
        self._reset_probes()
        logger.info("adopted pod=%s container=%s pid=%d", self.pod.name, self.name, record.pid)

    def start(self) -> None:
        argv = self.argv()
        if not argv:
            self.waiting = ("CreateContainerError", "no command or args to run")
            return
        if self.cwd:
            Path(self.cwd).mkdir(parents=True, exist_ok=True)
        try:
            self.proc = procs.spawn(
                argv,
                env=self.env,
                cwd=self.cwd,
                log_path=self.log_path(self.restart_count),
                resources=self.spec.get("resources") or {},
            )
        except OSError as exc:
            self.waiting = ("CreateContainerError", str(exc))
            self._exited(127, time.monotonic(), reason="StartError", message=str(exc))
            return
        ticks = procs.start_ticks(self.proc.pid) or 0
        self.record = ProcessRecord(
            self.proc.pid,
            ticks,
            self.name,
            self.restart_count,
            str(self.log_path(self.restart_count)),
            o.now_rfc3339(),
        )
        procs.save(self.record, self.record_path)
        self.started_mono = time.monotonic()
        self._reset_probes()
        logger.info(
            "started pod=%s container=%s pid=%d restart=%d",
            self.pod.name,
            self.name,
            self.proc.pid,
            self.restart_count,
        )

    def _reset_probes(self) -> None:
        now = time.monotonic()
        for prober in (self.liveness, self.readiness):
            if prober is not None:
                prober.reset(now)

    def _poll(self) -> tuple[bool, int | None]:
        """(exited, exit code if known)."""
        if self.proc is not None:
            code = self.proc.poll()
            return code is not None, code
        assert self.record is not None
        return not procs.is_alive(self.record), None

    def step(self, restart_policy: str) -> None:
        now = time.monotonic()
        if self.record is not None:
            exited, code = self._poll()
            if not exited:
                self._probe(now)
                return
            self._exited(code, now)
        if self.done:
            return
        if self.exits == 0:
            self.start()
        elif self._should_restart(restart_policy):
            if now >= self.backoff_until:
                self.restart_count += 1
                self.start()
            else:
                self.waiting = (
                    "CrashLoopBackOff",
                    f"back-off {self.backoff:g}s restarting failed container={self.name}",
                )
        else:
            self.done = True

    def _should_restart(self, policy: str) -> bool:
        if policy == "Always":
            return True
        code = (self.last_terminated or {}).get("exitCode", 1)
        return policy == "OnFailure" and code != 0

    def _probe(self, now: float) -> None:
        if self.readiness is not None:
            self.readiness.tick(now)
        if self.liveness is not None:
            self.liveness.tick(now)
            if not self.liveness.result and self.record is not None:
                logger.info("liveness probe failed pod=%s container=%s", self.pod.name, self.name)
                procs.signal_group(self.record.pid, signal.SIGKILL)
                self.liveness.reset(now + 3600)  # no second kill while it dies

    def _exited(self, code: int | None, now: float, reason: str = "", message: str = "") -> None:
        if self.record is not None:
            procs.signal_group(self.record.pid, signal.SIGKILL)  # leftovers of the group
        started = self.record.started_at if self.record else o.now_rfc3339()
        ran = now - self.started_mono
        self.proc, self.record = None, None
        self.record_path.unlink(missing_ok=True)
        for prober in (self.liveness, self.readiness):
            if prober is not None:
                prober.cancel()
        if ran >= self.config.backoff_reset:
            self.exits = 0
        self.exits += 1
        self.backoff = min(
            self.config.backoff_max, self.config.backoff_base * 2 ** (self.exits - 1)
        )
        self.backoff_until = now + self.backoff
        exit_code = -1 if code is None else (128 - code if code < 0 else code)
        self.last_terminated = {
            "exitCode": exit_code,
            "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            "startedAt": started,
            "finishedAt": o.now_rfc3339(),
        }
        if message:
            self.last_terminated["message"] = message
        logger.info(
            "exited pod=%s container=%s code=%s backoff=%.2fs",
            self.pod.name,
            self.name,
            exit_code,
            self.backoff,
        )

    async def stop(self, grace: float) -> None:
        """SIGTERM the group, SIGKILL it after ``grace`` seconds, wait until it is gone."""
        record = self.record
        if record is None:
            return
        procs.signal_group(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while not self._poll()[0]:
            if time.monotonic() >= deadline:
                procs.signal_group(record.pid, signal.SIGKILL)
                deadline = float("inf")
            await asyncio.sleep(0.05)
        procs.signal_group(record.pid, signal.SIGKILL)
        self.proc, self.record = None, None
        self.record_path.unlink(missing_ok=True)
        for prober in (self.liveness, self.readiness):
            if prober is not None:
                prober.cancel()

    # --- status ------------------------------------------------------------------------

    def is_running_run(self, run: int) -> bool:
        """Is run number ``run`` (its restart count) the one still running?"""
        return self.running and self.restart_count == run

    @property
    def ready(self) -> bool:
        return self.running and (self.readiness is None or self.readiness.result)

    def status(self) -> dict[str, Any]:
        state: dict[str, Any]
        if self.record is not None:
            state = {"running": {"startedAt": self.record.started_at}}
        elif self.done and self.last_terminated is not None:
            state = {"terminated": self.last_terminated}
        else:
            reason, message = self.waiting
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        out: dict[str, Any] = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "ready": self.ready,
            "started": self.running,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
            "ports": self.ports(),
        }
        return out
