"""TLS on pysyncobj's peer transport, on top of the shared-secret encryption.

pysyncobj speaks length-prefixed frames over raw non-blocking TCP sockets driven
by its poller. Here each socket is wrapped in ``ssl`` once TCP is up:

- outgoing: ``TlsTcpConnection`` wraps its socket when the non-blocking connect
  completes (just before the transport's first send), verifying the peer's
  certificate against the peer CA and the peer's host (IP SANs work);
- incoming: ``TlsTcpServer`` wraps each accepted socket (server side); with
  ``client_cert_auth`` the connecting member must present a certificate of the
  peer CA too.

The handshake is never driven explicitly: OpenSSL performs it inside the first
reads and writes, and "want read" / "want write" are treated like EAGAIN (the
poller calls again). The file descriptor stays the same, so pysyncobj's poller
subscriptions stay valid. A failed handshake or a bad certificate just drops the
connection; pysyncobj retries as for any dropped peer.

This reaches into pysyncobj's name-mangled internals (``_TcpConnection__socket``,
``_TcpServer__onNewConnection``, ...) of the pinned version; the cluster tests in
tests/security cover it.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pysyncobj.poller import POLL_EVENT_TYPE
from pysyncobj.tcp_connection import TcpConnection
from pysyncobj.tcp_server import TcpServer

from kvstore.config import TLSConfig

_AGAIN = (errno.EAGAIN, errno.EWOULDBLOCK)


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


class TlsTcpConnection(TcpConnection):  # type: ignore[misc]
    # pysyncobj's private state, as this subclass uses it
    _TcpConnection__socket: Any
    _TcpConnection__writeBuffer: bytes
    _TcpConnection__readBuffer: bytes
    _TcpConnection__recvBufferSize: int

    def __init__(self, *args: Any, ssl_context: ssl.SSLContext, **kwargs: Any) -> None:
        self._ssl_context = ssl_context
        self._peer_host: str | None = None
        super().__init__(*args, **kwargs)

    def connect(self, host: str, port: int) -> bool:
        self._peer_host = host
        return bool(super().connect(host, port))

    def setOnConnectedCallback(self, onConnected: Callable[[], None] | None) -> None:
        def connected() -> None:
            if not self._wrap_client():
                return
            if onConnected is not None:
                onConnected()

        super().setOnConnectedCallback(connected)

    def _wrap_client(self) -> bool:
        sock = self._TcpConnection__socket
        try:
            self._TcpConnection__socket = self._ssl_context.wrap_socket(
                sock,
                server_side=False,
                do_handshake_on_connect=False,
                server_hostname=self._peer_host,
            )
        except (OSError, ValueError):
            self.disconnect()
            return False
        return True

    # Copies of pysyncobj's private send/receive steps, with TLS's "want read /
    # want write" treated as EAGAIN instead of as a broken connection.

    def _TcpConnection__processSend(self) -> bool:
        buffer = self._TcpConnection__writeBuffer
        if not buffer:
            return False
        try:
            sent = self._TcpConnection__socket.send(buffer)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except OSError as exc:
            if exc.errno not in _AGAIN:
                self.disconnect()
            return False
        if sent <= 0:
            if sent < 0:
                self.disconnect()
            return False
        self._TcpConnection__writeBuffer = buffer[sent:]
        return True

    def _TcpConnection__processRead(self) -> bool:
        sock = self._TcpConnection__socket
        try:
            incoming = sock.recv(self._TcpConnection__recvBufferSize)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except OSError as exc:
            if exc.errno not in _AGAIN:
                self.disconnect()
            return False
        if not incoming or sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.disconnect()
            return False
        self._TcpConnection__readBuffer += incoming
        return True


class TlsTcpServer(TcpServer):  # type: ignore[misc]
    """pysyncobj's server, wrapping each accepted socket in server-side TLS."""

    _TcpServer__socket: Any
    _TcpServer__sendBufferSize: int
    _TcpServer__recvBufferSize: int

    def __init__(self, plain: TcpServer, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context
        super().__init__(
            plain._TcpServer__poller,
            plain._TcpServer__host,
            plain._TcpServer__port,
            onNewConnection=plain._TcpServer__onNewConnectionCallback,
            sendBufferSize=plain._TcpServer__sendBufferSize,
            recvBufferSize=plain._TcpServer__recvBufferSize,
            connectionTimeout=plain._TcpServer__connectionTimeout,
            keepalive=plain._TcpServer__keepalive,
        )

    def _TcpServer__onNewConnection(self, descr: int, event: int) -> None:
        if event & POLL_EVENT_TYPE.READ:
            try:
                sock, _ = self._TcpServer__socket.accept()
            except OSError as exc:
                if exc.errno not in _AGAIN:
                    self.unbind()
                return
            try:
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_SNDBUF, self._TcpServer__sendBufferSize
                )
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_RCVBUF, self._TcpServer__recvBufferSize
                )
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setblocking(False)
                wrapped = self._ssl_context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
            except (OSError, ValueError):
                sock.close()
                return
            conn = TlsTcpConnection(
                poller=self._TcpServer__poller,
                socket=wrapped,
                timeout=self._TcpServer__connectionTimeout,
                sendBufferSize=self._TcpServer__sendBufferSize,
                recvBufferSize=self._TcpServer__recvBufferSize,
                keepalive=self._TcpServer__keepalive,
                ssl_context=self._ssl_context,
            )
            self._TcpServer__onNewConnectionCallback(conn)
        if event & POLL_EVENT_TYPE.ERROR:
            self.unbind()


def tls_connection_like(plain: TcpConnection, ssl_context: ssl.SSLContext) -> TlsTcpConnection:
    """A not-yet-connected TLS connection configured as ``plain`` (an outgoing one)."""
    return TlsTcpConnection(
        poller=plain._TcpConnection__poller,
        timeout=plain._TcpConnection__timeout,
        sendBufferSize=plain._TcpConnection__sendBufferSize,
        recvBufferSize=plain._TcpConnection__recvBufferSize,
        keepalive=plain._TcpConnection__keepalive,
        ssl_context=ssl_context,
    )
