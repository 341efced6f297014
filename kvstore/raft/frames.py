"""What a peer link carries: one frame per Raft message, sealed with the cluster secret.

pysyncobj frames a message as ``zlib(pickle(message))``, Fernet-encrypted when a
password is set. Both cost more than the message itself: on 3 members with 128
writes in flight, compressing and Fernet (HMAC, AES-CBC, base64, the token
checked twice on receipt) took about a quarter of the leader's Raft thread, and
peer traffic on a LAN gains nothing from compression (etcd does not compress its
peer traffic either). A frame here is::

    counter (8 bytes, big-endian) | nonce (12 bytes) | AES-GCM-SIV(pickle(message))

- The key is derived from the cluster secret (HKDF-SHA256); a member without
  it can neither read a frame nor make one that is accepted.
- The counter numbers a connection's frames in each direction from 1 and is
  authenticated with the frame: a frame replayed, dropped or reordered within a
  connection is refused. pysyncobj's own handshake (each side of a connection
  sends a random key that every later message must carry) refuses frames
  recorded on another connection.
- AES-GCM-SIV keeps its guarantees even if two random nonces ever coincide
  (it is nonce-misuse resistant), so one key serves the cluster's whole life.
- A message is unpickled only once its frame is authenticated.

Without a secret (``--insecure-peers``, tests only) a frame is the bare pickle.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_COUNTER = 8
_NONCE = 12
_TAG = 16
_SALT = b"kvstore peer frames"
_INFO = b"kvstore peer frames v1: AES-256-GCM-SIV"


class FrameRefused(Exception):
    """A frame that was not sealed with the cluster secret, or came out of turn."""


class FrameCipher:
    """Seals and opens frames with a key derived from the cluster secret."""

    def __init__(self, secret: str) -> None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO)
        self._aead = AESGCMSIV(hkdf.derive(secret.encode()))

    def seal(self, counter: int, payload: bytes) -> bytes:
        head = counter.to_bytes(_COUNTER, "big")
        nonce = os.urandom(_NONCE)
        return head + nonce + self._aead.encrypt(nonce, payload, head)

    def open(self, frame: bytes) -> tuple[int, bytes]:
        """``(counter, payload)`` of a frame sealed with this key."""
        if len(frame) < _COUNTER + _NONCE + _TAG:
            raise FrameRefused("frame too short")
        head = frame[:_COUNTER]
        nonce = frame[_COUNTER : _COUNTER + _NONCE]
        try:
            payload = self._aead.decrypt(nonce, frame[_COUNTER + _NONCE :], head)
        except InvalidTag as exc:
            raise FrameRefused("frame not sealed with the cluster secret") from exc
        return int.from_bytes(head, "big"), payload


class FrameCodec:
    """One connection's frames, both directions (the counters start over with it)."""

    def __init__(self, cipher: FrameCipher | None) -> None:
        self._cipher = cipher
        self._sent = 0
        self._received = 0

    def encode(self, message: Any) -> bytes:
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        if self._cipher is None:
            return payload
        self._sent += 1
        return self._cipher.seal(self._sent, payload)

    def decode(self, frame: bytes) -> Any:
        """The message in ``frame``; ``FrameRefused`` (or an unpickling error)
        if it is not the next frame sealed for this connection."""
        if self._cipher is not None:
            counter, frame = self._cipher.open(frame)
            if counter != self._received + 1:
                raise FrameRefused(f"frame {counter} out of turn (expected {self._received + 1})")
            self._received = counter
        return pickle.loads(frame)
