"""Commands that run until they are stopped (lock, elect, lease keep-alive,
make-mirror): their coroutine runs on the client's loop, and Ctrl-C or SIGTERM
asks it to wind down (an ``asyncio.Event``) instead of leaving it running."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from types import FrameType
from typing import Any, TypeVar

from kvstore.cli.main import CliError, session

T = TypeVar("T")


async def first(*aws: asyncio.Future[Any]) -> asyncio.Future[Any]:
    """The first of ``aws`` to finish; the others are cancelled."""
    done, pending = await asyncio.wait(aws, return_when=asyncio.FIRST_COMPLETED)
    for other in pending:
        other.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await other
    return next(iter(done))


async def or_stop(work: Awaitable[T], stop: asyncio.Event, interrupted: str) -> T:
    """``work``'s result, or CliError(``interrupted``) once ``stop`` is set first."""
    task = asyncio.ensure_future(work)
    if await first(task, asyncio.ensure_future(stop.wait())) is not task:
        raise CliError(interrupted)
    return task.result()


async def until_stop(work: Awaitable[object], stop: asyncio.Event) -> bool:
    """Run ``work`` until it ends (True) or ``stop`` is set (False; it is cancelled)."""
    task = asyncio.ensure_future(work)
    if await first(task, asyncio.ensure_future(stop.wait())) is task:
        task.result()
        return True
    return False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM ends the wait as Ctrl-C does."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def until_done(start: Callable[[asyncio.Event], Coroutine[Any, Any, T]]) -> T:
    """Run ``start(stop)`` on the client's loop and wait for it; Ctrl-C and
    SIGTERM set ``stop`` (the coroutine winds down and cleans up)."""
    client = session().client()
    stop = asyncio.Event()  # set from this thread, waited for on the client's loop
    with _sigterm_interrupts():
        future = client.submit(start(stop))
        while True:
            try:
                return future.result()
            except KeyboardInterrupt:
                client.call_soon(stop.set)
