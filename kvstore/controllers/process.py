"""The shell of a control-plane process: logging, flags, run until a signal.

Shared by ``kvstore controller-manager`` and ``kvstore agent``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from typing import Protocol, TypeVar

logger = logging.getLogger(__name__)

Config = TypeVar("Config")


class Component(Protocol):
    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


async def serve(component: Component, close_timeout: float, name: str) -> int:
    """Start ``component``, wait for SIGTERM or SIGINT, then close it (bounded)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await component.start()
    try:
        await stop.wait()
    finally:
        logger.info("shutting down %s", name)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(component.aclose(), close_timeout)
    return 0


def main(
    prog: str,
    parser: argparse.ArgumentParser,
    build: Callable[[argparse.Namespace], Config],
    make: Callable[[Config], Component],
    argv: list[str] | None,
    close_timeout: float,
) -> int:
    """Parse flags, set up logging, build the config (a ValueError is a usage
    error, exit 2) and serve the component until signalled."""
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        config = build(args)
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(serve(make(config), close_timeout, prog))
