"""A follower's link to the leader drops and comes back, the leader unchanged:
a write forwarded meanwhile is sent again over the new link, not left waiting
for its request timeout."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.kvcluster import kv, kv_cluster


def test_a_write_forwarded_while_the_link_is_down_goes_through_once_it_is_back(
    tmp_path: Path,
) -> None:
    # a request timeout longer than the client waits: only a resent write succeeds
    with kv_cluster(tmp_path, extra=["--request-timeout", "60s"]) as cluster:
        leader = cluster.leader()
        follower = next(m for m in cluster.members if m is not leader)
        channel, stub = kv(follower)
        with channel:
            stub.Put(rpc_pb2.PutRequest(key=b"before", value=b"x"), timeout=10)
            outcome: list[object] = []

            def put() -> None:
                try:
                    outcome.append(stub.Put(rpc_pb2.PutRequest(key=b"k", value=b"v"), timeout=20))
                except grpc.RpcError as exc:
                    outcome.append(exc)

            cluster.cut(follower, leader)
            time.sleep(0.3)
            writer = threading.Thread(target=put)
            writer.start()
            time.sleep(1.0)
            cluster.heal_links()
            writer.join(30)
        assert len(outcome) == 1 and isinstance(outcome[0], rpc_pb2.PutResponse), outcome
        assert cluster.leader() is leader  # the path under test: no new leader
        with grpc.insecure_channel(leader.endpoint) as ch:
            got = rpc_pb2_grpc.KVStub(ch).Range(rpc_pb2.RangeRequest(key=b"k"), timeout=10)
        assert [kv.value for kv in got.kvs] == [b"v"]
