"""Fixtures: an in-process store, a typed client on it, and polling helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from kvstore.client import Client
from kvstore.controllers.api import ObjectClient
from tests.support.inproc import InprocServer, running_inproc


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InprocServer]:
    with running_inproc(tmp_path) as server:
        yield server


@pytest.fixture
async def client(store: InprocServer) -> AsyncIterator[Client]:
    async with Client([store.endpoint]) as c:
        yield c


@pytest.fixture
async def api(client: Client) -> ObjectClient:
    return ObjectClient(client)


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], limit: float = 20.0, interval: float = 0.05
) -> None:
    """Poll ``check`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + limit
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
        except Exception as exc:
            last = exc
        await asyncio.sleep(interval)
    raise TimeoutError(f"condition not met within {limit}s (last error: {last!r})")
