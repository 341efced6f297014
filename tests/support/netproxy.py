"""A fault-injecting TCP proxy for peer links: forward, block (partition), heal, delay.

Runs its own event loop in a thread. ``block()`` closes every open connection
and closes new ones at once, so the member behind it is cut off; ``heal()``
lets traffic through again.

Per-link faults: when built with ``identify`` (source port -> peer name, e.g.
``tests.support.kvcluster`` resolves it through ``/proc``), ``block_from(name)``
cuts only the connections that peer opened through this proxy, and
``set_delay(seconds)`` adds latency to every chunk forwarded (both directions,
order kept), or only to those going one way (``toward``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

#: directions through a proxy: to the member behind it, back to the peer that connected
LISTENER = "listener"
CONNECTOR = "connector"


class LinkProxy:
    def __init__(
        self,
        listen_port: int,
        target_port: int,
        host: str = "127.0.0.1",
        identify: Callable[[int], str | None] | None = None,
    ) -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self.host = host
        self.identify = identify
        self.blocked = False
        self.blocked_sources: frozenset[str] = frozenset()
        #: seconds added to each chunk going to the member behind this proxy
        #: ("listener") and back to the peer that connected ("connector")
        self.delays = {LISTENER: 0.0, CONNECTOR: 0.0}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        #: the forwarding tasks of open links (two per link)
        self._pipes: set[asyncio.Future[None]] = set()
        self._source_of: dict[asyncio.StreamWriter, str | None] = {}

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.listen_port)

    def _source(self, writer: asyncio.StreamWriter) -> str | None:
        if self.identify is None:
            return None
        peer = writer.get_extra_info("peername")
        try:
            return self.identify(int(peer[1]))
        except Exception:
            return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Identifying a peer scans /proc, which is slow on a busy machine: do it
        # only while a per-peer cut is in force (block_from identifies the open
        # connections itself), so a healthy proxy never stalls new connections.
        source = self._source(writer) if self.blocked_sources else None
        if self.blocked or (source is not None and source in self.blocked_sources):
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        self._source_of[writer] = self._source_of[up_writer] = source
        pipes = {
            asyncio.ensure_future(self._pipe(reader, up_writer, source, LISTENER)),
            asyncio.ensure_future(self._pipe(up_reader, writer, source, CONNECTOR)),
        }
        self._pipes |= pipes
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes -= pipes
        self._writers.difference_update((writer, up_writer))
        self._source_of.pop(writer, None)
        self._source_of.pop(up_writer, None)

    def _cut(self, source: str | None) -> bool:
        return self.blocked or (source is not None and source in self.blocked_sources)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        source: str | None,
        toward: str,
    ) -> None:
        try:
            while not self._cut(source):
                data = await reader.read(65536)
                if not data or self._cut(source):
                    break
                if self.delays[toward] > 0:
                    await asyncio.sleep(self.delays[toward])
                    if self._cut(source):
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
        """Let everything through again (whole-proxy and per-source blocks)."""

        def heal() -> None:
            self.blocked = False
            self.blocked_sources = frozenset()

        self._loop.call_soon_threadsafe(heal)

    def block_from(self, source: str) -> None:
        """Cut only the connections opened by peer ``source`` (needs ``identify``)."""

        def cut() -> None:
            self.blocked_sources = self.blocked_sources | {source}
            for writer, owner in list(self._source_of.items()):
                if owner is None and writer in self._writers:
                    owner = self._source_of[writer] = self._source(writer)
                if owner == source:
                    writer.close()

        self._loop.call_soon_threadsafe(cut)

    def set_delay(self, seconds: float, toward: str | None = None) -> None:
        """Add ``seconds`` of latency to every forwarded chunk (0 turns it off),
        or only to those going ``toward`` (``LISTENER`` or ``CONNECTOR``)."""
        ways = (LISTENER, CONNECTOR) if toward is None else (toward,)
        for way in ways:
            self._loop.call_soon_threadsafe(self.delays.__setitem__, way, max(0.0, seconds))

    def stop(self) -> None:
        async def shutdown() -> None:
            self.blocked = True
            for writer in list(self._writers):
                writer.close()
            if self._server is not None:
                self._server.close()
                with contextlib.suppress(Exception):
                    await self._server.wait_closed()
            # links still forwarding (or sleeping out a delay) end here, not
            # as pending tasks of a stopped loop; their handlers then return
            for pipe in list(self._pipes):
                pipe.cancel()
            others = asyncio.all_tasks() - {asyncio.current_task()}
            if others:
                await asyncio.wait(others, timeout=5)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
