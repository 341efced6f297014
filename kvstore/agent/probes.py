"""Liveness and readiness probes: ``exec``, ``tcpSocket`` and ``httpGet``.

A :class:`Prober` holds one probe's schedule and counters: it runs at most every
``periodSeconds`` after ``initialDelaySeconds``, and its result flips only after
``failureThreshold`` consecutive failures or ``successThreshold`` successes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

PortResolver = Callable[[object], int | None]
"""Maps a probe's ``port`` (number or name) to the host port the process listens on."""


async def _exec(command: list[str], env: dict[str, str], cwd: str | None, limit: float) -> bool:
    proc = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return await asyncio.wait_for(proc.wait(), limit) == 0
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return False


async def _tcp(port: int, limit: float) -> bool:
    _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), limit)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _http(port: int, path: str, limit: float) -> bool:
    async def get() -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
            await writer.drain()
            line = await reader.readline()
            parts = line.split()
            return len(parts) >= 2 and 200 <= int(parts[1]) < 400
        finally:
            writer.close()

    return await asyncio.wait_for(get(), limit)


class Prober:
    def __init__(
        self,
        spec: dict[str, Any],
        ports: PortResolver,
        env: dict[str, str],
        cwd: str | None,
        *,
        initially: bool,
    ) -> None:
        self.spec = spec
        self.ports = ports
        self.env = env
        self.cwd = cwd
        self.initial = initially
        self.result = initially
        self._streak = 0
        self._due = 0.0
        self._task: asyncio.Task[bool] | None = None

    def reset(self, now: float) -> None:
        """The container (re)started: wait ``initialDelaySeconds`` and start over."""
        self.cancel()
        self.result = self.initial
        self._streak = 0
        self._due = now + float(self.spec.get("initialDelaySeconds", 0))

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def tick(self, now: float | None = None) -> None:
        """Collect a finished probe and start the next one when it is due."""
        now = time.monotonic() if now is None else now
        if self._task is not None:
            if not self._task.done():
                return
            ok = False
            if not self._task.cancelled() and self._task.exception() is None:
                ok = self._task.result()
            self._task = None
            self._record(ok)
        if now >= self._due:
            self._due = now + float(self.spec.get("periodSeconds", 10))
            self._task = asyncio.create_task(self._probe(), name="probe")

    def _record(self, ok: bool) -> None:
        if ok != self.result:
            self._streak += 1
            needed = self.spec.get("successThreshold" if ok else "failureThreshold", 1 if ok else 3)
            if self._streak >= int(needed):
                self.result, self._streak = ok, 0
        else:
            self._streak = 0

    async def _probe(self) -> bool:
        timeout = float(self.spec.get("timeoutSeconds", 1))
        try:
            if "exec" in self.spec:
                command = list(self.spec["exec"].get("command") or [])
                return await _exec(command, self.env, self.cwd, timeout)
            if "tcpSocket" in self.spec:
                port = self.ports(self.spec["tcpSocket"].get("port"))
                return port is not None and await _tcp(port, timeout)
            if "httpGet" in self.spec:
                http = self.spec["httpGet"]
                port = self.ports(http.get("port"))
                return port is not None and await _http(port, http.get("path", "/"), timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            logger.debug("probe failed: %s", exc)
            return False
        return True
