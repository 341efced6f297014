"""Hostile traffic on a member's peer (Raft) port: rejected, and nothing breaks.

Peer messages are length-prefixed frames: pickles sealed (AES-GCM-SIV) with a key
from the cluster secret (``kvstore.raft.frames``). We send random bytes, absurd length
prefixes, plain pickles that would run code if unpickled (bare, and zlib'd as
pysyncobj's own format had them), and well-formed frames sealed with a wrong secret.
The member must not execute anything, must keep serving, and the cluster must keep a
leader and accept writes.
"""

from __future__ import annotations

import os
import pickle
import random
import socket
import struct
import zlib
from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2
from kvstore.raft.frames import FrameCipher, FrameCodec
from tests.support.kvcluster import Cluster, kv, kv_cluster, retry_write


class _Touch:
    """Unpickling this creates ``path``: proof that a peer message was executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.path),))


def _frame(data: bytes) -> bytes:
    return struct.pack("<i", len(data)) + data


def _send(port: int, chunks: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            for chunk in chunks:
                sock.sendall(chunk)
            sock.settimeout(0.5)
            while sock.recv(65536):  # drain until the member hangs up (or stays quiet)
                pass
        except OSError:
            pass


def _payloads(rng: random.Random, marker: Path) -> list[list[bytes]]:
    evil = pickle.dumps(_Touch(marker))
    wrong = FrameCodec(FrameCipher("not-the-cluster-secret"))
    return [
        [rng.randbytes(rng.randrange(1, 4096))],
        [struct.pack("<i", -5) + rng.randbytes(64)],
        [struct.pack("<i", 2**31 - 1) + rng.randbytes(1024)],  # claims 2 GiB, sends 1 KiB
        [_frame(evil)],  # a plain (unsealed) pickle
        [_frame(zlib.compress(evil))],  # the same, as pysyncobj framed it
        [_frame(wrong.encode(os.urandom(32))), _frame(wrong.encode(_Touch(marker)))],
        [_frame(rng.randbytes(100)) for _ in range(20)],
    ]


def _healthy(cluster: Cluster, key: bytes) -> None:
    leader = cluster.leader()
    channel, stub = kv(leader)
    with channel:
        retry_write(lambda: stub.Put(rpc_pb2.PutRequest(key=key, value=b"ok"), timeout=5))
    for member in cluster.members:
        channel, stub = kv(member)
        with channel:
            got = retry_write(lambda s=stub: s.Range(rpc_pb2.RangeRequest(key=key), timeout=5))
            assert isinstance(got, rpc_pb2.RangeResponse) and got.kvs[0].value == b"ok"


def test_garbage_and_wrong_secret_on_peer_ports_are_rejected(tmp_path: Path) -> None:
    rng = random.Random(42)
    marker = tmp_path / "pwned"
    with kv_cluster(tmp_path) as cluster:
        for round_ in range(3):
            for member in cluster.members:
                for chunks in _payloads(rng, marker):
                    _send(member.peer_port, chunks)
            for member in cluster.members:
                assert member.server.proc is not None
                assert member.server.proc.poll() is None, (
                    f"{member.name} died:\n{member.server.log()}"
                )
            _healthy(cluster, f"/fuzz/{round_}".encode())
        assert not marker.exists(), "a peer message from outside the cluster was unpickled"
        try:
            _healthy(cluster, b"/fuzz/final")
        except grpc.RpcError as err:  # pragma: no cover - reported with context
            raise AssertionError(f"cluster stopped serving: {err}") from err
