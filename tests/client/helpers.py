"""Polling and reaping helpers for the client tests (no fixed sleeps)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable


async def eventually(
    predicate: Callable[[], Awaitable[bool]], within: float = 15.0, interval: float = 0.05
) -> None:
    """Poll ``predicate`` until true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        if await predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


def reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill and wait for a subprocess (no-op if it already exited)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
