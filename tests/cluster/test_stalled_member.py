"""A member stopped past its election timeout and its peers' link timeout
(SIGSTOP: what a long pause or swap looks like from outside) rejoins the
cluster when it resumes, without deposing a healthy leader."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.kvcluster import kv, kv_cluster
from tests.support.procs import wait_until

#: past the election timeout (1-2 s at the defaults) and the link timeout (1.5 s)
STALL = 2.5


def _local_value(stub: rpc_pb2_grpc.KVStub) -> bytes:
    local = stub.Range(rpc_pb2.RangeRequest(key=b"k", serializable=True), timeout=5)
    return bytes(local.kvs[0].value)


def test_a_stopped_follower_rejoins_without_an_election(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        leader = cluster.leader()
        term = cluster.status(leader).header.raft_term
        follower = next(m for m in cluster.members if m is not leader)
        proc = follower.server.proc
        assert proc is not None
        leader_channel, leader_kv = kv(leader)
        follower_channel, follower_kv = kv(follower)
        with leader_channel, follower_channel:
            for round_ in range(3):
                proc.send_signal(signal.SIGSTOP)
                try:
                    time.sleep(STALL)
                finally:
                    proc.send_signal(signal.SIGCONT)
                value = b"after stall %d" % round_
                leader_kv.Put(rpc_pb2.PutRequest(key=b"k", value=value), timeout=10)
                wait_until(lambda v=value: _local_value(follower_kv) == v)
                terms = {m.name: cluster.status(m).header.raft_term for m in cluster.members}
                assert set(terms.values()) == {term}, f"round {round_}: an election ran: {terms}"
        assert cluster.leader() is leader
