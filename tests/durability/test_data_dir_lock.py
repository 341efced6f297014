"""One member per data dir: a second process on a data dir in use is refused
and changes nothing; kill -9 of the holder frees the data dir."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.procs import kvstore_process, running


def _get(endpoint: str, key: bytes) -> list[bytes]:
    with grpc.insecure_channel(endpoint) as channel:
        resp = rpc_pb2_grpc.KVStub(channel).Range(rpc_pb2.RangeRequest(key=key), timeout=10)
    return [kv.value for kv in resp.kvs]


def _put(endpoint: str, key: bytes, value: bytes) -> None:
    with grpc.insecure_channel(endpoint) as channel:
        rpc_pb2_grpc.KVStub(channel).Put(rpc_pb2.PutRequest(key=key, value=value), timeout=10)


def test_a_second_member_on_a_data_dir_in_use_is_refused(tmp_path: Path) -> None:
    first = kvstore_process(tmp_path)
    # the same --data-dir, its own client port and log
    second = dataclasses.replace(
        kvstore_process(tmp_path), log_path=tmp_path / "second.log", proc=None
    )
    assert second.data_dir == first.data_dir and second.client_port != first.client_port
    with running(first):
        _put(first.endpoint, b"k", b"one")
        assert second.run_to_exit() == 1
        assert first.proc is not None
        assert f"is in use by another process (pid {first.proc.pid})" in second.log()
        _put(first.endpoint, b"k", b"two")  # the first goes on, alone
        assert _get(first.endpoint, b"k") == [b"two"]
        first.kill(signal.SIGKILL)  # the kernel drops the lock with the process
        with running(second):
            assert _get(second.endpoint, b"k") == [b"two"]
