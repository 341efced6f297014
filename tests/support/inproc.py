"""An in-process kvstore member on 127.0.0.1:0, running its own event loop in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

from kvstore.api.server import KvServer
from kvstore.config import ServerConfig, StorageConfig


@dataclasses.dataclass
class InprocServer:
    server: KvServer
    endpoint: str

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"


def make_config(tmp: Path, **overrides: object) -> ServerConfig:
    config = ServerConfig(
        name="inproc",
        storage=StorageConfig(data_dir=tmp / "inproc.kvstore"),
        listen_client_urls=("http://127.0.0.1:0",),
        advertise_client_urls=("http://127.0.0.1:0",),
        shutdown_grace=0.2,
    )
    return dataclasses.replace(config, **overrides)  # type: ignore[arg-type]


@contextlib.contextmanager
def running_inproc(tmp: Path, **overrides: object) -> Iterator[InprocServer]:
    """Start a member in a background thread; stop it and join the thread on exit."""
    config = make_config(tmp, **overrides)
    loop = asyncio.new_event_loop()
    server = KvServer(config)
    thread = threading.Thread(target=loop.run_forever, name="inproc-kvstore", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
        yield InprocServer(server, server.endpoints[0])
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(server.aclose(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
