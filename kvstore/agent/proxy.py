"""The Service proxy: each Service port listens on ``127.0.0.1:<port>`` and forwards
every TCP connection to one of the Service's ready endpoints, round-robin.

Endpoints are read from the informer's cache when a connection arrives, so a change
(a rolling update, an eviction) applies to the next connection. A backend that
refuses the connection is skipped and the next one tried, so a client sees a failure
only when no endpoint answers.

**Every agent on one machine listens on the port.** Each agent's proxy binds the
Service port with SO_REUSEPORT, and the kernel spreads new connections over them:
when an agent dies, the others already listen, so there is no gap (only
connections the kernel had queued for the dead agent are reset). A port held by
another program without SO_REUSEPORT is retried every ``proxy_bind_retry``
seconds. (On separate machines each agent binds its own, as kube-proxy does.)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import itertools
import logging

from kvstore.controllers import objects as o
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.config import InformerConfig
from kvstore.controllers.informer import Handlers, Informer
from kvstore.controllers.objects import ENDPOINTS, SERVICE, Obj

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 1.0


def backends(endpoints: Obj | None, port_name: str) -> list[tuple[str, int]]:
    """``(ip, port)`` of every ready address for the Service port named ``port_name``."""
    out: list[tuple[str, int]] = []
    for subset in (endpoints or {}).get("subsets") or []:
        for port in subset.get("ports") or []:
            if str(port.get("name") or "") == port_name:
                out.extend((a["ip"], int(port["port"])) for a in subset.get("addresses") or [])
    return sorted(out)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


class ServiceProxy:
    def __init__(self, api: ObjectClient, config: InformerConfig, bind_retry: float) -> None:
        self.services = Informer(api, SERVICE, config)
        self.endpoints = Informer(api, ENDPOINTS, config)
        self.bind_retry = bind_retry
        self.listeners: dict[int, asyncio.Server] = {}
        """Service port → our listening server (ports other agents hold are absent)."""
        self._rr: dict[tuple[str, str], itertools.count[int]] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conns: set[asyncio.Task[None]] = set()
        poke = Handlers(
            lambda obj: self._changed.set(),
            lambda a, b: self._changed.set(),
            lambda obj: self._changed.set(),
        )
        self.services.add_handlers(poke)

    async def start(self) -> None:
        await self.services.start()
        await self.endpoints.start()
        self._task = asyncio.create_task(self._run(), name="proxy")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for server in self.listeners.values():
            server.close()
        self.listeners.clear()
        for conn in list(self._conns):
            conn.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        await self.endpoints.aclose()
        await self.services.aclose()

    def wanted(self) -> dict[int, tuple[str, str]]:
        """Service port → (service key, port name)."""
        out: dict[int, tuple[str, str]] = {}
        for svc in self.services.cache.items():
            for port in (svc.get("spec") or {}).get("ports") or []:
                out.setdefault(int(port["port"]), (o.cache_key(svc), str(port.get("name") or "")))
        return out

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            await self._sync()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.bind_retry)

    async def _sync(self) -> None:
        wanted = self.wanted()
        for port in set(self.listeners) - set(wanted):
            self.listeners.pop(port).close()
            logger.info("proxy released port=%d", port)
        for port, target in wanted.items():
            if port in self.listeners:
                continue
            try:
                self.listeners[port] = await asyncio.start_server(
                    functools.partial(self._accept, target=target),
                    "127.0.0.1",
                    port,
                    reuse_port=True,
                )
                logger.info("proxy listening port=%d service=%s", port, target[0])
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    logger.warning("proxy cannot bind port=%d: %s", port, exc)

    def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, target: tuple[str, str]
    ) -> None:
        task = asyncio.create_task(self._forward(reader, writer, target))
        self._conns.add(task)
        task.add_done_callback(self._conns.discard)

    async def _forward(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: tuple[str, str]
    ) -> None:
        key, port_name = target
        candidates = backends(self.endpoints.cache.get(key), port_name)
        counter = self._rr.setdefault(target, itertools.count())
        start = next(counter)
        try:
            for i in range(len(candidates)):
                host, port = candidates[(start + i) % len(candidates)]
                try:
                    up_reader, up_writer = await asyncio.wait_for(
                        asyncio.open_connection(host, port), CONNECT_TIMEOUT
                    )
                except (OSError, TimeoutError):
                    continue
                try:
                    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
                finally:
                    up_writer.close()
                return
            logger.debug("no endpoint answered service=%s", key)
        finally:
            writer.close()
