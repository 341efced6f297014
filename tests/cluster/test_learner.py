"""Learners, driven by Debian's etcdctl on real processes: ``member add
--learner``, what a learner serves, that it counts for no quorum, and ``member
promote`` turning it into a voter that does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2
from tests.support.kvcluster import Cluster, Member, etcdctl, kv, kv_cluster
from tests.support.procs import wait_until


def _members(cluster: Cluster) -> dict[str, dict[str, object]]:
    voters = [m.server.url for m in cluster.members[:3] if m.server.proc is not None]
    listed = json.loads(etcdctl(cluster, "member", "list", "-w", "json", endpoints=voters).stdout)
    return {str(m.get("name") or m["peerURLs"][0]): m for m in listed["members"]}


def _get(member: Member, key: bytes) -> bytes | None:
    channel, stub = kv(member)
    with channel:
        resp = stub.Range(rpc_pb2.RangeRequest(key=key, serializable=True), timeout=5)
    return resp.kvs[0].value if resp.kvs else None


def _put(member: Member, key: bytes, value: bytes, timeout: float = 10) -> None:
    channel, stub = kv(member)
    with channel:
        stub.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=timeout)


def _member_add(
    cluster: Cluster, new: Member, via: Member, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    """``etcdctl member add`` of ``new`` (as a voter), sent to ``via``."""
    args = ("member", "add", new.name, f"--peer-urls={new.peer_url}")
    return etcdctl(cluster, *args, ok=ok, endpoints=[via.server.url])


def _quorum_lost(member: Member) -> bool:
    """A write through ``member`` fails for want of a quorum."""
    try:
        _put(member, b"/quorum", b"?", timeout=6)
    except grpc.RpcError as err:
        assert err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), err
        return True
    return False


def test_learner_follows_the_log_serves_reads_and_is_promoted(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        first = cluster.members[0]
        etcdctl(cluster, "put", "before", "1")
        m4 = cluster.add_member("m4")
        out = etcdctl(cluster, "member", "add", "m4", f"--peer-urls={m4.peer_url}", "--learner")
        assert "added to cluster" in out.stdout
        learner_id = int(out.stdout.split()[1], 16)
        assert _members(cluster)[m4.peer_url]["isLearner"] is True

        cluster.start(m4, state="existing")
        wait_until(lambda: _get(m4, b"before") == b"1", timeout=30)
        etcdctl(cluster, "put", "after", "2", endpoints=[first.server.url])
        wait_until(lambda: _get(m4, b"after") == b"2", timeout=30)
        status = cluster.status(m4)
        assert status.isLearner and status.header.member_id == learner_id
        # its --initial-cluster differs from the founders', yet it joined their cluster
        cluster_id = cluster.status(first).header.cluster_id
        assert status.header.cluster_id == cluster_id
        assert status.leader == cluster.status(first).leader

        # as etcd's learners: serializable reads and Status, nothing else
        refused = etcdctl(cluster, "put", "k", "v", endpoints=[m4.server.url], ok=False)
        assert refused.returncode != 0
        assert "rpc not supported for learner" in refused.stderr
        refused = etcdctl(cluster, "get", "after", endpoints=[m4.server.url], ok=False)
        assert "rpc not supported for learner" in refused.stderr
        got = etcdctl(cluster, "get", "after", "--consistency=s", endpoints=[m4.server.url])
        assert got.stdout.split() == ["after", "2"]

        # a learner counts for no quorum: it and one voter down, two voters still write
        voters = cluster.members[:3]
        leader = cluster.leader(voters)
        down = next(m for m in voters if m is not leader)
        m4.server.kill()
        down.server.kill()
        _put(leader, b"/while-down", b"ok")
        cluster.start(down)  # its --initial-cluster now names m4: ignored, as etcd does
        cluster.start(m4, state="existing")
        wait_until(lambda: _get(m4, b"/while-down") == b"ok", timeout=30)

        # promote: it becomes a voter in place
        voters = [m.server.url for m in cluster.members[:3]]
        promoted = etcdctl(cluster, "member", "promote", f"{learner_id:x}", endpoints=voters)
        assert "promoted in cluster" in promoted.stdout
        assert not _members(cluster)["m4"].get("isLearner")
        wait_until(lambda: not cluster.status(m4).isLearner, timeout=30)
        _put(m4, b"/from-m4", b"voter")
        wait_until(lambda: _get(first, b"/from-m4") == b"voter", timeout=30)
        # it can lead, and every member names it as leader (it was not among
        # the peers they were started with)
        moved = etcdctl(cluster, "move-leader", f"{learner_id:x}", endpoints=voters)
        assert "Leadership transferred" in moved.stdout
        wait_until(lambda: cluster.leader() is m4, timeout=30)

        # ... and now counts: with it and one other voter down, 2 of 4 cannot write
        leader = cluster.leader()
        down = next(m for m in cluster.members[:3] if m is not leader)
        m4.server.kill()
        down.server.kill()
        assert _quorum_lost(leader)
        cluster.start(m4, state="existing")
        wait_until(lambda: not _quorum_lost(leader), timeout=60)
        status = cluster.status(m4)
        assert not status.isLearner  # restarted as the voter it is
        assert status.header.cluster_id == cluster_id


def test_promote_add_and_move_refusals_match_etcd(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        voter_id = cluster.status(cluster.members[0]).header.member_id
        refused = etcdctl(cluster, "member", "promote", f"{voter_id:x}", ok=False)
        assert "can only promote a learner member" in refused.stderr

        m4 = cluster.add_member("m4")
        out = etcdctl(cluster, "member", "add", "m4", f"--peer-urls={m4.peer_url}", "--learner")
        learner_id = int(out.stdout.split()[1], 16)
        # not started: it holds none of the log
        refused = etcdctl(cluster, "member", "promote", f"{learner_id:x}", ok=False)
        assert "can only promote a learner member which is in sync with leader" in refused.stderr
        refused = etcdctl(cluster, "move-leader", f"{learner_id:x}", ok=False)
        assert "bad leader transferee" in refused.stderr

        m5 = cluster.add_member("m5")
        refused = etcdctl(
            cluster, "member", "add", "m5", f"--peer-urls={m5.peer_url}", "--learner", ok=False
        )
        assert "too many learner members in cluster" in refused.stderr
        assert m5.peer_url not in _members(cluster)


def test_a_removed_learner_stops_and_a_stranger_gets_no_log(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        etcdctl(cluster, "put", "before", "1")
        m4 = cluster.add_member("m4")
        out = etcdctl(cluster, "member", "add", "m4", f"--peer-urls={m4.peer_url}", "--learner")
        learner_id = int(out.stdout.split()[1], 16)
        cluster.start(m4, state="existing")
        wait_until(lambda: _get(m4, b"before") == b"1", timeout=30)

        # removed, it stops, as etcd's removed members do
        voters = [m.server.url for m in cluster.members[:3]]
        etcdctl(cluster, "member", "remove", f"{learner_id:x}", endpoints=voters)
        assert m4.server.proc is not None
        assert m4.server.proc.wait(timeout=30) == 1
        m4.server.proc = None
        assert "removed from the cluster" in m4.server.log()

        # a member never added connects to every voter as a learner: each refuses it
        m5 = cluster.add_member("m5")
        cluster.start(m5, state="existing")
        voter_logs = [m.server for m in cluster.members[:3]]
        wait_until(lambda: all(m5.peer_url[7:] in s.log() for s in voter_logs), timeout=30)
        assert all("refused a learner link" in s.log() for s in voter_logs)
        assert _get(m5, b"before") is None


def test_a_cluster_down_to_one_voter_takes_a_voter_as_a_learner_it_promotes(
    tmp_path: Path,
) -> None:
    """``member add`` without --learner on one voter works, as in etcd; the
    newcomer joins as a learner (it cannot count before it runs) and the
    leader promotes it once it has caught up."""
    with kv_cluster(tmp_path, size=2) as cluster:
        leader = cluster.leader()
        other = next(m for m in cluster.members if m is not leader)
        other_id = cluster.status(other).header.member_id
        other.server.kill()
        etcdctl(cluster, "member", "remove", f"{other_id:x}", endpoints=[leader.server.url])
        _put(leader, b"/alone", b"1")

        m3 = cluster.add_member("m3")
        out = _member_add(cluster, m3, leader)
        assert "Member" in out.stdout and "added to cluster" in out.stdout
        added = _members(cluster)[m3.peer_url]
        assert added.get("isLearner") is True  # until it has caught up
        # the lone voter still writes alone: the newcomer does not count yet
        _put(leader, b"/still", b"alone")
        # one newcomer at a time
        m4 = cluster.add_member("m4")
        refused = _member_add(cluster, m4, leader, ok=False)
        assert "too many learner members in cluster" in refused.stderr
        cluster.members.remove(m4)
        m4.proxy.stop()

        cluster.start(m3, state="existing")
        wait_until(lambda: not cluster.status(m3).isLearner, timeout=30)
        assert _members(cluster)["m3"].get("isLearner") is not True
        _put(m3, b"/two", b"voters")
        wait_until(lambda: _get(leader, b"/two") == b"voters", timeout=30)
        # it counts: without it, the first voter alone cannot write
        m3.server.kill()
        assert _quorum_lost(leader)


def test_one_member_with_peer_flags_grows_into_three(tmp_path: Path) -> None:
    """Started alone with --initial-cluster and a peer secret, a member runs
    Raft, and grows as etcd's do: m2 added as a voter (promoted by the
    leader once it has caught up), m3 as a learner promoted by hand."""
    with kv_cluster(tmp_path, size=1) as cluster:
        (first,) = cluster.members
        etcdctl(cluster, "put", "seed", "1")
        got = etcdctl(cluster, "get", "seed")  # linearizable, with no follower to ask
        assert got.stdout.split() == ["seed", "1"]
        for name, flags in (("m2", []), ("m3", ["--learner"])):
            new = cluster.add_member(name)
            voters = [m.server.url for m in cluster.running()]
            out = etcdctl(
                cluster,
                "member",
                "add",
                name,
                f"--peer-urls={new.peer_url}",
                *flags,
                endpoints=voters,
            )
            new_id = int(out.stdout.split()[1], 16)
            cluster.start(new, state="existing")
            wait_until(lambda new=new: _get(new, b"seed") == b"1", timeout=30)
            if flags:
                etcdctl(cluster, "member", "promote", f"{new_id:x}", endpoints=voters)
            wait_until(lambda new=new: not cluster.status(new).isLearner, timeout=30)
        listed = json.loads(etcdctl(cluster, "member", "list", "-w", "json").stdout)
        assert sorted(m["name"] for m in listed["members"]) == ["m1", "m2", "m3"]
        assert not any(m.get("isLearner") for m in listed["members"])

        # three voters now: the founder may go, and the other two write on
        etcdctl(cluster, "move-leader", f"{cluster.status(cluster.members[1]).header.member_id:x}")
        wait_until(lambda: cluster.leader() is cluster.members[1], timeout=30)
        first.server.kill()
        _put(cluster.members[2], b"/after", b"founder gone")
        wait_until(lambda: _get(cluster.members[1], b"/after") == b"founder gone", timeout=30)
