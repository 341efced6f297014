"""A fault-injecting TCP proxy for peer links: forward, block (partition), heal.

Runs its own event loop in a thread. ``block()`` closes every open connection
and closes new ones at once, so the member behind it is cut off; ``heal()``
lets traffic through again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class LinkProxy:
    def __init__(self, listen_port: int, target_port: int, host: str = "127.0.0.1") -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self.host = host
        self.blocked = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.listen_port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self._writers.difference_update((writer, up_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while not self.blocked:
                data = await reader.read(65536)
                if not data or self.blocked:
                    break
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    def block(self) -> None:
        """Partition: drop every connection through this proxy, refuse new ones."""

        def cut() -> None:
            self.blocked = True
            for writer in list(self._writers):
                writer.close()

        self._loop.call_soon_threadsafe(cut)

    def heal(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "blocked", False)

    def stop(self) -> None:
        async def shutdown() -> None:
            self.blocked = True
            for writer in list(self._writers):
                writer.close()
            if self._server is not None:
                self._server.close()
                with contextlib.suppress(Exception):
                    await self._server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
