"""A small HTTP endpoint serving container logs (what ``kvctl kube logs`` reads).

``GET /containerLogs/<namespace>/<pod>/<container>[?follow=true][&previous=true]``
answers ``200`` with the log as ``text/plain`` (HTTP/1.0 style: the body ends when the
connection closes). ``follow`` keeps streaming new lines until the container's run
ends or the client goes away; ``previous`` is the run before the current one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from kvstore.httpmini import Request, handler, head, respond

LogLocator = Callable[[str, str, str, bool], tuple[Path, Callable[[], bool]] | str]
"""(namespace, pod, container, previous) → (log file, "is this run still going?"),
or an error message."""


class LogServer:
    def __init__(self, locate: LogLocator, port: int = 0) -> None:
        self.locate = locate
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            handler(self._answer, "log"), "127.0.0.1", self.port
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _answer(self, request: Request, writer: asyncio.StreamWriter) -> None:
        segments = request.path.strip("/").split("/")
        if len(segments) == 3:
            segments.append("")  # no container named: the pod's only one
        if len(segments) != 4 or segments[0] != "containerLogs":
            await respond(writer, 404, b"use /containerLogs/NAMESPACE/POD/CONTAINER\n")
            return
        previous = request.param("previous", "false") == "true"
        found = self.locate(segments[1], segments[2], segments[3], previous)
        if isinstance(found, str):
            await respond(writer, 404, found.encode() + b"\n")
            return
        path, live = found
        writer.write(head(200, "text/plain"))
        await self._stream(writer, path, live, request.param("follow", "false") == "true")

    async def _stream(
        self, writer: asyncio.StreamWriter, path: Path, live: Callable[[], bool], follow: bool
    ) -> None:
        with contextlib.suppress(FileNotFoundError), path.open("rb") as f:
            while True:
                chunk = f.read(65536)
                if chunk:
                    writer.write(chunk)
                    await writer.drain()
                    continue
                if not follow or not live():
                    return
                await asyncio.sleep(0.2)
