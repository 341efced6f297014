"""pysyncobj's peer connections, speaking ``frames`` and optionally TLS.

pysyncobj builds its links from ``TcpConnection`` (one per peer, reconnected in
place) and ``TcpServer`` (accepting the other members' links). ``DurableTransport``
swaps in the classes here:

- ``PeerConnection`` sends and parses ``frames`` instead of pysyncobj's
  ``zlib(pickle)`` + Fernet; a frame refused, or a message that does not carry
  the connection's random key (pysyncobj's handshake), drops the link as
  pysyncobj does. With an ``ssl_context`` it also wraps its socket in TLS
  (see ``peertls``).
- ``PeerServer`` accepts sockets as pysyncobj's server does, and hands each to
  a ``PeerConnection`` (wrapped in server-side TLS when configured).
- A link times out when this end has been sending and heard nothing back for
  the timeout, not merely for being quiet; never while the peer's messages
  wait unread; and messages the peer sent before it closed are read before
  the link drops: a member waking from a stall hears the leader before it
  calls an election, and a first vote request on a quiet link arrives.

This reaches into pysyncobj's name-mangled internals (``_TcpConnection__socket``,
``_TcpServer__onNewConnection``, ...) of the pinned version.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import socket
import ssl
import struct
import termios
from collections.abc import Callable
from typing import Any

from pysyncobj.poller import POLL_EVENT_TYPE
from pysyncobj.tcp_connection import CONNECTION_STATE, TcpConnection
from pysyncobj.tcp_server import TcpServer

from kvstore.raft import clock
from kvstore.raft.frames import FrameCipher, FrameCodec, FrameRefused

logger = logging.getLogger(__name__)

_AGAIN = (errno.EAGAIN, errno.EWOULDBLOCK)
_ALL_EVENTS = POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.WRITE | POLL_EVENT_TYPE.ERROR
#: a frame's length, before it
_LENGTH = struct.Struct("<i")


class PeerConnection(TcpConnection):  # type: ignore[misc]
    # pysyncobj's private state, as this subclass uses it. The buffers are
    # bytearrays here (pysyncobj's are bytes): a bytearray grows in place and
    # lets go of its sent front without copying the rest, where a bytes buffer
    # was copied whole on every append and every partial send, quadratic in
    # what is queued (a burst of 1 MB writes queued tens of MB per follower).
    _TcpConnection__socket: Any
    _TcpConnection__writeBuffer: bytearray
    _TcpConnection__readBuffer: bytearray
    _TcpConnection__recvBufferSize: int
    _TcpConnection__trySendBuffer: Callable[[], None]
    _TcpConnection__lastReadTime: float
    _TcpConnection__timeout: float
    _TcpConnection__fileno: int | None
    _TcpConnection__poller: Any
    _TcpConnection__onMessageReceived: Callable[[Any], None] | None
    #: set by pysyncobj's transport: the node's ``encryptor``, here the frame cipher
    encryptor: FrameCipher | None

    def __init__(
        self, *args: Any, ssl_context: ssl.SSLContext | None = None, **kwargs: Any
    ) -> None:
        self._ssl_context = ssl_context
        self._peer_host: str | None = None
        self._codec: FrameCodec | None = None
        super().__init__(*args, **kwargs)
        self._start_over()

    #: bytes of frames sent and read since the transport last took them
    #: (``take_counts``)
    _sent_bytes = 0
    _received_bytes = 0

    def take_counts(self) -> tuple[int, int]:
        """(bytes sent, bytes read) since the last call."""
        counts = (self._sent_bytes, self._received_bytes)
        self._sent_bytes = self._received_bytes = 0
        return counts

    def _start_over(self) -> None:
        self._TcpConnection__writeBuffer = bytearray()
        self._TcpConnection__readBuffer = bytearray()
        #: when this end began waiting on a silent peer: its first send since
        #: it last read anything, or since a lull in its own sends; None when
        #: it has read since its last send
        self._silent_since: float | None = None
        self._last_send = float("-inf")

    # ---- frames -----------------------------------------------------------

    def _frames(self) -> FrameCodec:
        if self._codec is None:
            self._codec = FrameCodec(self.encryptor)
        return self._codec

    def send(self, message: Any) -> None:
        now = clock.now()
        if self._silent_since is None or now - self._last_send > self._TcpConnection__timeout:
            self._silent_since = now
        self._last_send = now
        if self.sendRandKey:
            message = (self.sendRandKey, message)
        frame = self._frames().encode(message)
        self._TcpConnection__writeBuffer += _LENGTH.pack(len(frame)) + frame
        self._sent_bytes += _LENGTH.size + len(frame)
        self._TcpConnection__trySendBuffer()
        if self._TcpConnection__writeBuffer and self._TcpConnection__fileno is not None:
            # pysyncobj sends the rest only with its next message; the poller
            # sends it as soon as the socket takes more (the leader may hold
            # its next message back while a link is backlogged)
            self._TcpConnection__poller.subscribe(
                self._TcpConnection__fileno, self._TcpConnection__processConnection, _ALL_EVENTS
            )

    def backlog(self) -> int:
        """Bytes queued and not yet handed to the socket."""
        return len(self._TcpConnection__writeBuffer)

    def _TcpConnection__processParseMessage(self) -> Any:
        buffer = self._TcpConnection__readBuffer
        if len(buffer) < _LENGTH.size:
            return None
        (length,) = _LENGTH.unpack_from(buffer)
        if length < 0:
            return self._refuse(FrameRefused(f"negative frame length {length}"))
        end = _LENGTH.size + length
        if len(buffer) < end:
            return None
        # one copy of the frame (slicing the bytearray would copy it once more)
        with memoryview(buffer) as view:
            frame = bytes(view[_LENGTH.size : end])
        del buffer[:end]
        self._received_bytes += end
        try:
            message = self._frames().decode(frame)
            if self.recvRandKey:
                rand_key, message = message
                if rand_key != self.recvRandKey:
                    raise FrameRefused("message of another connection")
        except Exception as exc:  # refused or undecodable
            return self._refuse(exc)
        return message

    def _TcpConnection__processConnectionTimeout(self) -> None:
        """Drop a link whose peer stopped answering. pysyncobj drops one
        that has read nothing for its timeout, which also drops links that are
        merely quiet: the two followers' link carries nothing until an
        election, and its first vote request tore it down and was lost (every
        failover took two election rounds). A connected link is dead here
        when this end has been sending and has heard nothing back for the
        timeout. And pysyncobj checks before it reads: a member that stalled
        past the timeout dropped every link on waking, with its peers'
        messages unread. A link with bytes waiting is alive: they are read
        next."""
        now = clock.now()
        timeout = self._TcpConnection__timeout
        if self.state == CONNECTION_STATE.CONNECTED:
            if self._silent_since is None or now - self._silent_since <= timeout:
                return
        elif now - self._TcpConnection__lastReadTime <= timeout:  # connecting
            return
        if self._unread_bytes() > 0:
            return
        self.disconnect()

    def _TcpConnection__processConnection(self, descr: int, event: int) -> None:
        if event & POLL_EVENT_TYPE.ERROR and descr == self.fileno() and self._unread_bytes() > 0:
            # The peer closed the link (or reset it: this end sent after it
            # closed) with messages of its still unread here, say the leader's
            # last heartbeats while this member stalled. pysyncobj drops the
            # link on the error without reading them: read them first.
            self._deliver_waiting()
        super()._TcpConnection__processConnection(descr, event)

    def _deliver_waiting(self) -> None:
        """Read what waits in the socket and hand over each whole message.
        Not through ``_TcpConnection__processRead``: on the error that ends
        these reads it drops the link, and with it what was read."""
        sock = self._TcpConnection__socket
        while self.state == CONNECTION_STATE.CONNECTED:
            try:
                incoming = sock.recv(self._TcpConnection__recvBufferSize)
            except OSError:  # the reset itself, or (TLS) nothing more to read
                break
            if not incoming:
                break
            self._TcpConnection__readBuffer += incoming
            self._silent_since = None
        while self.state == CONNECTION_STATE.CONNECTED:
            message = self._TcpConnection__processParseMessage()
            if message is None:
                break
            received = self._TcpConnection__onMessageReceived
            if received is not None:
                received(message)

    def _unread_bytes(self) -> int:
        """Bytes waiting in the socket's receive queue (also under TLS)."""
        sock = self._TcpConnection__socket
        if sock is None:
            return 0
        try:
            waiting = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
        except (OSError, ValueError):
            return 0
        return int(_LENGTH.unpack(waiting)[0])

    def _refuse(self, exc: Exception) -> None:
        """Drop the link, as pysyncobj does with a message it cannot read."""
        logger.warning("peer link dropped: %s", exc)
        self.disconnect()

    def disconnect(self) -> None:
        self._codec = None  # a new connection numbers its frames from 1 again
        super().disconnect()
        self._start_over()

    # ---- TLS (outgoing) -----------------------------------------------------

    def connect(self, host: str, port: int) -> bool:
        self._peer_host = host
        self._codec = None
        connected = bool(super().connect(host, port))
        self._start_over()  # pysyncobj's connect starts them over as bytes
        return connected

    def setOnConnectedCallback(self, onConnected: Callable[[], None] | None) -> None:
        if self._ssl_context is None:
            super().setOnConnectedCallback(onConnected)
            return

        def connected() -> None:
            if not self._wrap_client():
                return
            if onConnected is not None:
                onConnected()

        super().setOnConnectedCallback(connected)

    def _wrap_client(self) -> bool:
        assert self._ssl_context is not None
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

    # pysyncobj's private send/receive steps, with TLS's "want read / want
    # write" treated as EAGAIN instead of as a broken connection.

    def _socket_io(self, op: Callable[[], Any]) -> Any:
        """``op()``, or None when the socket would block; a broken link is dropped."""
        try:
            return op()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except OSError as exc:
            if exc.errno not in _AGAIN:
                self.disconnect()
            return None

    def _TcpConnection__processSend(self) -> bool:
        buffer = self._TcpConnection__writeBuffer
        if not buffer:
            return False
        sock = self._TcpConnection__socket
        sent: int | None = self._socket_io(lambda: sock.send(buffer))
        if sent is None:
            return False
        if sent <= 0:
            if sent < 0:
                self.disconnect()
            return False
        del buffer[:sent]
        return True

    def _TcpConnection__processRead(self) -> bool:
        """One read; True if there may be more to read now. On plain TCP a
        short read ends the round: the poller is level-triggered and reports
        the socket again if more arrives, so the usual message costs one
        ``recv``, not a second one that fails with EAGAIN. TLS reads on until
        it would block, as before: a TLS read returns at most one record
        (16 KiB), so a short read says nothing there, and decrypted bytes it
        holds are invisible to the poller. An error on the socket surfaces in
        ``recv`` itself (pysyncobj also asked for SO_ERROR after each one)."""
        sock = self._TcpConnection__socket
        size = self._TcpConnection__recvBufferSize
        incoming: bytes | None = self._socket_io(lambda: sock.recv(size))
        if incoming is None:
            return False
        if not incoming:
            self.disconnect()
            return False
        self._TcpConnection__readBuffer += incoming
        self._silent_since = None
        return len(incoming) == size or isinstance(sock, ssl.SSLSocket)


class PeerServer(TcpServer):  # type: ignore[misc]
    """pysyncobj's server, handing each accepted socket to a ``PeerConnection``
    (wrapped in server-side TLS with an ``ssl_context``)."""

    _TcpServer__socket: Any
    _TcpServer__sendBufferSize: int
    _TcpServer__recvBufferSize: int

    def __init__(self, plain: TcpServer, ssl_context: ssl.SSLContext | None) -> None:
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
                if self._ssl_context is not None:
                    sock = self._ssl_context.wrap_socket(
                        sock, server_side=True, do_handshake_on_connect=False
                    )
            except (OSError, ValueError):
                sock.close()
                return
            conn = PeerConnection(
                poller=self._TcpServer__poller,
                socket=sock,
                timeout=self._TcpServer__connectionTimeout,
                sendBufferSize=self._TcpServer__sendBufferSize,
                recvBufferSize=self._TcpServer__recvBufferSize,
                keepalive=self._TcpServer__keepalive,
                ssl_context=self._ssl_context,
            )
            self._TcpServer__onNewConnectionCallback(conn)
        if event & POLL_EVENT_TYPE.ERROR:
            self.unbind()


def connection_like(plain: TcpConnection, ssl_context: ssl.SSLContext | None) -> PeerConnection:
    """A not-yet-connected ``PeerConnection`` configured as ``plain`` (an outgoing one)."""
    return PeerConnection(
        poller=plain._TcpConnection__poller,
        timeout=plain._TcpConnection__timeout,
        sendBufferSize=plain._TcpConnection__sendBufferSize,
        recvBufferSize=plain._TcpConnection__recvBufferSize,
        keepalive=plain._TcpConnection__keepalive,
        ssl_context=ssl_context,
    )
