"""PeerConnection over a real TCP pair, driven by pysyncobj's poller."""

from __future__ import annotations

import os
import pickle
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pysyncobj.poller import createPoller

from kvstore.raft import clock
from kvstore.raft.frames import FrameCipher, FrameCodec
from kvstore.raft.peerlink import PeerConnection

SECRET = "the-cluster-secret"


@dataclass
class End:
    conn: PeerConnection
    sock: socket.socket
    received: list[Any] = field(default_factory=list)
    dropped: list[bool] = field(default_factory=list)


@dataclass
class Link:
    poller: Any
    a: End
    b: End

    def pump(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "condition not met in time"
            self.poller.poll(0.01)


def _end(poller: Any, sock: socket.socket, secret: str | None) -> End:
    sock.setblocking(False)
    end = End(None, sock)  # type: ignore[arg-type]
    end.conn = PeerConnection(
        poller=poller,
        socket=sock,
        onMessageReceived=end.received.append,
        onDisconnected=lambda: end.dropped.append(True),
        timeout=30.0,
        sendBufferSize=2**16,
        recvBufferSize=2**16,
    )
    end.conn.encryptor = FrameCipher(secret) if secret is not None else None
    return end


@pytest.fixture
def link() -> Iterator[Link]:
    poller = createPoller("auto")
    with socket.create_server(("127.0.0.1", 0)) as server:
        dialed = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
    a, b = _end(poller, dialed, SECRET), _end(poller, accepted, SECRET)
    yield Link(poller, a, b)
    for end in (a, b):
        end.conn.disconnect()


def test_a_burst_much_larger_than_the_socket_buffers_arrives_whole_and_in_order(
    link: Link,
) -> None:
    messages = [{"i": i, "data": os.urandom(256 * 1024)} for i in range(40)]
    for message in messages:
        link.a.conn.send(message)  # ~10 MB queued behind a 64 KB socket buffer
    assert link.a.conn.getSendBufferSize() > 1024 * 1024
    link.pump(lambda: len(link.b.received) == len(messages))
    assert link.b.received == messages
    assert link.a.conn.getSendBufferSize() == 0
    assert not link.a.dropped and not link.b.dropped


def test_messages_carry_the_connections_random_key(link: Link) -> None:
    """pysyncobj's handshake: after it, every message carries the receiver's key."""
    link.b.conn.recvRandKey = b"b's key"
    link.a.conn.sendRandKey = b"b's key"
    link.a.conn.send("keyed")
    link.pump(lambda: bool(link.b.received))
    assert link.b.received == ["keyed"]
    link.a.conn.sendRandKey = b"another connection's key"
    link.a.conn.send("replayed elsewhere")
    link.pump(lambda: bool(link.b.dropped))
    assert link.b.received == ["keyed"]


def _raw(link: Link, data: bytes) -> None:
    link.a.sock.sendall(data)
    link.pump(lambda: bool(link.b.dropped))


def test_a_frame_sealed_with_another_secret_drops_the_link(link: Link) -> None:
    frame = FrameCodec(FrameCipher("another-secret")).encode("hello")
    _raw(link, struct.pack("<i", len(frame)) + frame)
    assert link.b.received == []


def test_a_negative_frame_length_drops_the_link(link: Link) -> None:
    _raw(link, struct.pack("<i", -5) + b"x" * 64)
    assert link.b.received == []


def test_a_bare_pickle_is_not_unpickled_when_a_secret_is_set(link: Link) -> None:
    payload = pickle.dumps({"type": "append_entries"})
    _raw(link, struct.pack("<i", len(payload)) + payload)
    assert link.b.received == []


def test_a_dropped_connection_numbers_its_frames_from_one_again(link: Link) -> None:
    link.a.conn.send("first")
    link.pump(lambda: bool(link.b.received))
    link.a.conn.disconnect()
    # what it sends on its next connection starts a fresh count
    frame = link.a.conn._frames().encode("after reconnecting")
    assert FrameCodec(FrameCipher(SECRET)).decode(frame) == "after reconnecting"


def test_a_link_with_messages_waiting_outlives_its_timeout(link: Link) -> None:
    """This end stalled past the timeout (stopped, paused) while its peer kept
    sending: the link is alive, and what waits is read, not thrown away."""
    link.b.conn._TcpConnection__lastReadTime = clock.now() - 60.0  # timeout 30 s
    link.a.conn.send({"heartbeat": 1})
    link.pump(lambda: bool(link.b.received) or bool(link.b.dropped))
    assert link.b.received == [{"heartbeat": 1}]
    assert not link.b.dropped


def test_a_link_whose_peer_answers_nothing_for_its_timeout_is_dropped(link: Link) -> None:
    link.b.conn.send({"vote?": 1})
    link.b.conn._silent_since = clock.now() - 60.0  # timeout 30 s
    link.b.conn._TcpConnection__processConnectionTimeout()
    assert link.b.dropped


def test_a_quiet_link_carries_its_first_message_in_a_long_while(link: Link) -> None:
    """Nothing crossed the link in either direction for longer than its
    timeout (the two followers' link between elections): quiet is not dead."""
    for end in (link.a, link.b):
        end.conn._TcpConnection__lastReadTime = clock.now() - 60.0
        end.conn._last_send = clock.now() - 60.0
    link.b.conn.send({"vote?": 1})
    link.pump(lambda: bool(link.a.received) or bool(link.b.dropped))
    assert link.a.received == [{"vote?": 1}]
    assert not link.b.dropped


def test_messages_sent_before_the_peer_closed_are_read_before_the_link_drops(
    link: Link,
) -> None:
    """The peer sent, then closed its end; this end, waking from a stall,
    wrote to the closed link first (the peer answers with a reset). What
    the peer sent is still delivered."""
    link.a.conn.send({"heartbeat": 1})
    link.a.conn.disconnect()
    time.sleep(0.05)
    link.b.conn.send({"reply": 1})  # to a closed socket: reset
    time.sleep(0.05)
    link.pump(lambda: bool(link.b.dropped))
    assert link.b.received == [{"heartbeat": 1}]
