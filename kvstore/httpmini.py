"""The little HTTP/1.x that members and node agents serve beside gRPC: one
request per connection, its body unread, answered with ``Connection: close``
(container logs for ``kvctl kube logs``; metrics and health for monitoring)."""

from __future__ import annotations

import asyncio
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus

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
