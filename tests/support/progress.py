"""Waiting for a progress notification on a watch of kvstore's client."""

from __future__ import annotations

import asyncio

from kvstore.client import Watch


async def next_is_progress(watch: Watch, at_least: int, within: float) -> None:
    """The watch's next response, within ``within`` seconds, is a progress
    notification at revision ``at_least`` or later."""

    async def first_response() -> None:
        async for response in watch.responses():
            assert response.progress_notify and response.events == []
            assert response.revision >= at_least
            return
        raise AssertionError("the watch ended without a response")

    await asyncio.wait_for(first_response(), within)
