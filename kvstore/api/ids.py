"""Member and cluster IDs, and the URL forms gRPC and Raft bind to."""

from __future__ import annotations

import hashlib
from urllib.parse import urlparse

from kvstore.errors import UnsupportedError


def id_of(*parts: str) -> int:
    """A stable 64-bit ID from names and URLs (member and cluster IDs)."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


def member_id_of(peer_url: str) -> int:
    """A member's ID follows from its peer URL, so MemberAdd can name it in advance."""
    return id_of("member", peer_url)


def peer_address(url: str) -> str:
    """``http://host:port`` -> ``host:port`` for the Raft transport."""
    parsed = urlparse(url)
    if parsed.hostname is None or parsed.port is None:
        raise ValueError(f"peer URL needs host and port: {url!r}")
    return f"{parsed.hostname}:{parsed.port}"


def bind_address(url: str) -> str:
    """``http(s)://host:port`` -> ``host:port`` for gRPC (https: served with TLS)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https", ""):
        raise UnsupportedError(f"client URL scheme {parsed.scheme!r}")
    if parsed.hostname is None or parsed.port is None:
        raise ValueError(f"client URL needs host and port: {url!r}")
    return f"{parsed.hostname}:{parsed.port}"


def is_https(url: str) -> bool:
    return urlparse(url).scheme == "https"
