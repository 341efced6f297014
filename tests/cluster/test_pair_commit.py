"""A follower takes a write as committed from the leader's stamped journal
(``kvstore.raft.paircommit``): it answers before the leader has counted its
acknowledgement, and the leader's reads still see what it answered."""

from __future__ import annotations

from pathlib import Path

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.kvcluster import kv, kv_cluster


def test_a_follower_answers_first_and_the_leader_still_reads_it(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        leader = cluster.leader()
        follower = next(m for m in cluster.members if m is not leader)
        f_channel, f_stub = kv(follower)
        l_channel, l_stub = kv(leader)
        with f_channel, l_channel:
            f_stub.Put(rpc_pb2.PutRequest(key=b"k", value=b"warm"), timeout=10)
            # every peer message now takes 0.15 s each way: the follower's
            # acknowledgement reaches the leader 0.15 s after the leader's
            # stamped answer reaches the follower
            cluster.set_latency(0.15)
            ahead = 0
            for i in range(5):
                value = b"v%d" % i
                put = f_stub.Put(rpc_pb2.PutRequest(key=b"k", value=value), timeout=10)
                leader_applied = cluster.status(leader).raftAppliedIndex
                if leader_applied < cluster.status(follower).raftAppliedIndex:
                    ahead += 1
                got = l_stub.Range(rpc_pb2.RangeRequest(key=b"k"), timeout=10)
                assert [(kv_.value, kv_.mod_revision) for kv_ in got.kvs] == [
                    (value, put.header.revision)
                ]
                lease = rpc_pb2_grpc.LeaseStub(f_channel).LeaseGrant(
                    rpc_pb2.LeaseGrantRequest(TTL=60), timeout=10
                )
                alive = rpc_pb2_grpc.LeaseStub(l_channel).LeaseTimeToLive(
                    rpc_pb2.LeaseTimeToLiveRequest(ID=lease.ID), timeout=10
                )
                assert alive.TTL > 0, alive
            cluster.heal_links()
        # answered while the leader had not applied the write: it had not committed it
        assert ahead >= 3, ahead


def test_the_other_follower_reads_a_write_the_leader_has_not_counted(tmp_path: Path) -> None:
    """The leader answers the reader's ReadIndex question at once (the reader
    and the leader are a majority), while the writer's acknowledgement is
    still on its way and the write has not reached the reader: only the index
    the leader stamped on its answer to the writer keeps the read from missing
    the write."""
    with kv_cluster(tmp_path) as cluster:
        reader, leader = cluster.lowest, cluster.highest
        (writer,) = [m for m in cluster.members if m not in (reader, leader)]
        cluster.make_leader(leader)
        w_channel, w_stub = kv(writer)
        r_channel, r_stub = kv(reader)
        with w_channel, r_channel:
            w_stub.Put(rpc_pb2.PutRequest(key=b"k", value=b"warm"), timeout=10)
            cluster.delay(leader, reader, 0.3)
            cluster.delay(writer, leader, 0.3)
            for i in range(3):
                value = b"v%d" % i
                w_stub.Put(rpc_pb2.PutRequest(key=b"k", value=value), timeout=10)
                got = r_stub.Range(rpc_pb2.RangeRequest(key=b"k"), timeout=10)
                assert [kv_.value for kv_ in got.kvs] == [value]
            cluster.heal_links()
