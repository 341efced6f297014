"""A leader cut off from both followers never serves a stale linearizable read."""

from __future__ import annotations

import time
from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.kvcluster import kv, kv_cluster, retry_write
from tests.support.procs import wait_until


def test_isolated_leader_serves_no_stale_reads(tmp_path: Path) -> None:
    with kv_cluster(tmp_path, extra=["--request-timeout", "3s"]) as cluster:
        # Make the member whose links all sit behind its own proxy the leader.
        target = cluster.lowest
        cluster.make_leader(target)

        channel, old_stub = kv(target)
        with channel:
            old_stub.Put(rpc_pb2.PutRequest(key=b"k", value=b"before"), timeout=10)
            leases = rpc_pb2_grpc.LeaseStub(channel)
            lease = leases.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=60), timeout=10)
            target.proxy.block()  # partition: target | the other two

            others = [m for m in cluster.members if m is not target]
            new_leader = cluster.leader(others)
            assert new_leader is not target
            ch2, new_stub = kv(new_leader)
            with ch2:
                retry_write(
                    lambda: new_stub.Put(rpc_pb2.PutRequest(key=b"k", value=b"after"), timeout=5)
                )
                fresh = new_stub.Range(rpc_pb2.RangeRequest(key=b"k"), timeout=10)
                assert fresh.kvs[0].value == b"after"

            # The cut-off member: a linearizable read must fail, never return "before".
            try:
                stale = old_stub.Range(rpc_pb2.RangeRequest(key=b"k"), timeout=15)
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNAVAILABLE, err
                assert err.details() in (
                    "etcdserver: request timed out",
                    "etcdserver: no leader",
                    "etcdserver: leader changed",
                )
            else:
                raise AssertionError(f"stale linearizable read: {stale.kvs[0].value!r}")
            # A write there is not acknowledged (its outcome is unknown: it may still
            # be applied after the partition heals, as with etcd).
            try:
                old_stub.Put(rpc_pb2.PutRequest(key=b"lost", value=b"x"), timeout=15)
                raise AssertionError("a write in the minority must not be acknowledged")
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNAVAILABLE, err
            # Nor is a lease kept alive there: the member asks a leader it cannot
            # reach, and answers with an error within the request timeout.
            keepalive = rpc_pb2.LeaseKeepAliveRequest(ID=lease.ID)
            try:
                renewed = next(leases.LeaseKeepAlive(iter([keepalive]), timeout=15))
                raise AssertionError(f"a keep-alive in the minority was answered: {renewed}")
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNAVAILABLE, err
                assert err.details() in ("etcdserver: request timed out", "etcdserver: no leader")
            # Serializable reads are allowed to be stale, and are served locally.
            local = old_stub.Range(rpc_pb2.RangeRequest(key=b"k", serializable=True), timeout=5)
            assert local.kvs[0].value == b"before"

            target.proxy.heal()
            wait_until(
                lambda: (
                    old_stub.Range(rpc_pb2.RangeRequest(key=b"k"), timeout=5).kvs[0].value
                    == b"after"
                ),
                timeout=60,
            )


def test_member_cut_off_from_the_leader_alone_does_not_depose_it(tmp_path: Path) -> None:
    """A follower that cannot hear the leader but still reaches the other
    follower must not win that follower's vote while it hears the leader
    (pre-vote): the leader keeps leading, in the same term."""
    with kv_cluster(tmp_path) as cluster:
        leader = cluster.leader()
        cut_off, other = [m for m in cluster.members if m is not leader]
        channel, stub = kv(leader)
        with channel:
            retry_write(lambda: stub.Put(rpc_pb2.PutRequest(key=b"k", value=b"v0"), timeout=5))
            cluster.wait_applied_equal()
            term = cluster.status(leader).raftTerm
            leader_id = cluster.status(leader).header.member_id

            cluster.cut(cut_off, leader)
            # Many election timeouts (0.4-1 s) of the cut-off member, with writes
            # going on through the leader.
            deadline = time.monotonic() + 6
            written = 0
            while time.monotonic() < deadline:
                written += 1
                put = rpc_pb2.PutRequest(key=b"k", value=b"v%d" % written)
                retry_write(lambda put=put: stub.Put(put, timeout=5))
                time.sleep(0.05)
            for member in (leader, other):
                status = cluster.status(member)
                assert status.leader == leader_id
                assert status.raftTerm == term, f"{member.name}: term {status.raftTerm} != {term}"
            # Nor did it raise its own term.
            assert cluster.status(cut_off).raftTerm == term

            cluster.heal_links()
            wait_until(lambda: cluster.status(cut_off).leader == leader_id)
            cluster.wait_applied_equal()
            assert cluster.status(leader).raftTerm == term
