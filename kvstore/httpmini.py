"""The little HTTP/1.x that members and node agents serve beside gRPC: one
request per connection, its body unread, answered with ``Connection: close``
(container logs for ``kvctl kube logs``; metrics and health for monitoring)."""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

logger = logging.getLogger(__name__)

#: header lines read before a request counts as malformed
MAX_HEADER_LINES = 100
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]

    def param(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[0]


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The request line and headers; None when they are not HTTP."""
    try:
        parts = (await reader.readline()).decode("latin-1").split()
        for _ in range(MAX_HEADER_LINES):
            if (await reader.readline()) in (b"\r\n", b"\n", b""):
                break
        else:
            return None
    except (ValueError, asyncio.LimitOverrunError):  # a line past the reader's limit
        return None
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    url = urllib.parse.urlsplit(parts[1])
    return Request(parts[0], urllib.parse.unquote(url.path), urllib.parse.parse_qs(url.query))


def head(status: int, content_type: str = TEXT, length: int | None = None) -> bytes:
    """A response's status line and headers; without ``length`` the body ends
    when the connection closes."""
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        f"Content-Type: {content_type}",
        "Connection: close",
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def respond(
    writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str = TEXT
) -> None:
    writer.write(head(status, content_type, len(body)) + body)
    await writer.drain()


Answer = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]
Connection = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def handler(answer: Answer, what: str) -> Connection:
    """An ``asyncio.start_server`` callback: one request read and handed to
    ``answer``; one that is not HTTP gets 400; a client gone away is logged
    (``what`` serves it), and the connection is always closed."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await read_request(reader)
            if request is None:
                await respond(writer, 400, b"not an HTTP request\n")
            else:
                await answer(request, writer)
        except (ConnectionError, OSError) as exc:
            logger.debug("%s client went away: %s", what, exc)
        finally:
            writer.close()

    return serve
