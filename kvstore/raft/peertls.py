"""TLS on pysyncobj's peer transport, on top of the shared-secret encryption.

pysyncobj speaks length-prefixed frames over raw non-blocking TCP sockets driven
by its poller. Here each socket is wrapped in ``ssl`` once TCP is up:

- outgoing: a ``PeerConnection`` wraps its socket when the non-blocking connect
  completes (just before the transport's first send), verifying the peer's
  certificate against the peer CA and the peer's host (IP SANs work);
- incoming: ``PeerServer`` wraps each accepted socket (server side); with
  ``client_cert_auth`` the connecting member must present a certificate of the
  peer CA too.

The handshake is never driven explicitly: OpenSSL performs it inside the first
reads and writes, and "want read" / "want write" are treated like EAGAIN (the
poller calls again). The file descriptor stays the same, so pysyncobj's poller
subscriptions stay valid. A failed handshake or a bad certificate just drops the
connection; pysyncobj retries as for any dropped peer.

Both classes are in ``peerlink``; the cluster tests in tests/security cover it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from kvstore.config import TLSConfig


@dataclass(frozen=True)
class PeerTLS:
    """The two sides of peer TLS: dialing other members, and accepting them."""

    client: ssl.SSLContext
    server: ssl.SSLContext

    @classmethod
    def from_config(cls, tls: TLSConfig) -> PeerTLS:
        ca = str(tls.trusted_ca_file) if tls.trusted_ca_file is not None else None
        client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
        client.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca)
        server.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        server.verify_mode = ssl.CERT_REQUIRED if tls.client_cert_auth else ssl.CERT_NONE
        for ctx in (client, server):
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return cls(client, server)
