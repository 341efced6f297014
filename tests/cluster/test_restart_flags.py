"""A member whose data dir exists ignores ``--initial-cluster`` and
``--initial-cluster-state``, as etcd does: real processes, Debian's etcdctl."""

from __future__ import annotations

import json
from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.kvcluster import etcdctl, kv, kv_cluster
from tests.support.procs import free_port, kvstore_process, running, wait_until


def test_restart_with_other_cluster_flags_keeps_the_founding_cluster(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        leader = cluster.leader()
        target = next(m for m in cluster.members if m is not leader)
        before = cluster.status(target).header
        record = json.loads((target.server.data_dir / "member" / "cluster.json").read_text())
        assert record["initial_cluster_state"] == "new"
        founders = ",".join(f"{name}={url}" for name, url in record["initial_cluster"])
        assert founders == cluster.initial_cluster()
        target.server.kill()
        # a member that never existed, and the joining state: both ignored
        ghost = f"ghost=http://127.0.0.1:{free_port()}"
        cluster.start(target, state="existing", initial=f"{cluster.initial_cluster()},{ghost}")

        after = cluster.status(target).header
        assert (after.cluster_id, after.member_id) == (before.cluster_id, before.member_id)
        listed = etcdctl(cluster, "member", "list", "-w", "json", endpoints=[target.server.url])
        names = {m["name"] for m in json.loads(listed.stdout)["members"]}
        assert names == {"m1", "m2", "m3"}

        # its Raft quorum is still 2 of the 3 founders: leading with one of
        # them down, it commits at once, in the same term (counting the ghost,
        # it would need 3 of 4: it would step down and another would lead)
        target_id = after.member_id
        etcdctl(cluster, "move-leader", f"{target_id:x}")
        wait_until(lambda: cluster.leader() is target, timeout=30)
        term = cluster.status(target).raftTerm
        other = next(m for m in cluster.members if m is not target)
        other.server.kill()
        channel, stub = kv(target)
        with channel:
            put = stub.Put(rpc_pb2.PutRequest(key=b"k", value=b"2 of 3"), timeout=10)
        assert put.header.raft_term == term
        assert cluster.status(target).leader == target_id
        assert "--initial-cluster and --initial-cluster-state are ignored" in target.server.log()


def test_a_cluster_members_data_dir_does_not_start_alone(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        member = cluster.members[0]
        member.server.kill()
        argv = cluster.argv(member)
        at = argv.index("--initial-cluster")
        member.server.argv = argv[:at] + argv[at + 2 :]  # no peers named at all
        assert member.server.run_to_exit() == 1
        assert "belongs to a member of a cluster" in member.server.log()
        # it starts again with its peers
        cluster.start(member)
        wait_until(lambda: cluster.status(member).leader != 0, timeout=30)


def test_a_data_dir_without_peers_cannot_form_a_cluster(tmp_path: Path) -> None:
    server = kvstore_process(tmp_path, "solo")
    with running(server), grpc.insecure_channel(server.endpoint) as channel:
        rpc_pb2_grpc.KVStub(channel).Put(rpc_pb2.PutRequest(key=b"k", value=b"v"), timeout=10)
    (tmp_path / "secret").write_text("s3cret")
    peers = f"solo=http://127.0.0.1:{free_port()},other=http://127.0.0.1:{free_port()}"
    server.argv += ["--initial-cluster", peers, "--peer-secret-file", str(tmp_path / "secret")]
    assert server.run_to_exit() == 1
    assert "belongs to a member without peers" in server.log()
