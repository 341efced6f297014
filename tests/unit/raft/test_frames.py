"""Peer frames: sealed with the cluster secret, numbered per connection, not compressed."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from kvstore.raft.frames import FrameCipher, FrameCodec, FrameRefused

SECRET = "the-cluster-secret"
MESSAGE: dict[str, Any] = {"type": "append_entries", "term": 3, "entries": [(b"v" * 500, 7, 3)]}


def _pair(secret: str = SECRET) -> tuple[FrameCodec, FrameCodec]:
    return FrameCodec(FrameCipher(secret)), FrameCodec(FrameCipher(secret))


def test_a_frame_carries_the_message_uncompressed() -> None:
    sender, receiver = _pair()
    frame = sender.encode(MESSAGE)
    assert receiver.decode(frame) == MESSAGE
    # counter, nonce and tag around the bare pickle: nothing compressed (the
    # entry is 500 identical bytes), nothing in the clear
    payload = pickle.dumps(MESSAGE, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(frame) == 8 + 12 + len(payload) + 16
    assert b"v" * 32 not in frame and b"append_entries" not in frame


def test_sealing_the_same_message_twice_gives_different_frames() -> None:
    cipher = FrameCipher(SECRET)
    assert cipher.seal(1, b"same") != cipher.seal(1, b"same")


def test_a_frame_sealed_with_another_secret_is_refused() -> None:
    sender = FrameCodec(FrameCipher("another-secret"))
    _, receiver = _pair()
    with pytest.raises(FrameRefused, match="cluster secret"):
        receiver.decode(sender.encode(MESSAGE))


@pytest.mark.parametrize("at", [0, 7, 8, 19, 20, -1])
def test_a_frame_changed_anywhere_is_refused(at: int) -> None:
    sender, receiver = _pair()
    frame = bytearray(sender.encode(MESSAGE))
    frame[at] ^= 0x01
    with pytest.raises(FrameRefused):
        receiver.decode(bytes(frame))


def test_a_truncated_frame_is_refused() -> None:
    sender, receiver = _pair()
    with pytest.raises(FrameRefused):
        receiver.decode(sender.encode(MESSAGE)[:30])
    with pytest.raises(FrameRefused, match="too short"):
        receiver.decode(b"\x00" * 35)


def test_a_replayed_frame_is_refused() -> None:
    sender, receiver = _pair()
    first = sender.encode(MESSAGE)
    assert receiver.decode(first) == MESSAGE
    with pytest.raises(FrameRefused, match="out of turn"):
        receiver.decode(first)


def test_frames_must_arrive_in_the_order_they_were_sealed() -> None:
    sender, receiver = _pair()
    first, second = sender.encode("one"), sender.encode("two")
    with pytest.raises(FrameRefused, match="frame 2 out of turn"):
        receiver.decode(second)
    assert receiver.decode(first) == "one"
    assert receiver.decode(second) == "two"


def test_a_frame_of_an_earlier_connection_is_refused_on_a_new_one() -> None:
    """Each connection numbers from 1: a recorded frame 5 does not fit a fresh one,
    and a recorded frame 1 only where pysyncobj's handshake key refuses it."""
    sender, _ = _pair()
    frames = [sender.encode(i) for i in range(5)]
    fresh = FrameCodec(FrameCipher(SECRET))
    with pytest.raises(FrameRefused):
        fresh.decode(frames[4])


def test_without_a_secret_a_frame_is_the_bare_pickle() -> None:
    codec = FrameCodec(None)
    frame = codec.encode(MESSAGE)
    assert frame == pickle.dumps(MESSAGE, protocol=pickle.HIGHEST_PROTOCOL)
    assert FrameCodec(None).decode(frame) == MESSAGE
