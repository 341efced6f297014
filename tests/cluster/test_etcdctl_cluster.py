"""Debian's etcdctl drives membership and leadership of a kvstore cluster."""

from __future__ import annotations

import json
import shutil
import signal
import threading
from pathlib import Path

from tests.support.kvcluster import etcdctl, kv_cluster, move_leader
from tests.support.procs import wait_until


def test_member_list_move_leader_add_and_remove(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        listed = json.loads(etcdctl(cluster, "member", "list", "-w", "json").stdout)
        names = {m["name"]: m for m in listed["members"]}
        assert set(names) == {"m1", "m2", "m3"}
        for member in cluster.members:
            assert names[member.name]["clientURLs"] == [member.server.url]

        leader = cluster.leader()
        target = next(m for m in cluster.members if m is not leader)
        target_id = cluster.status(target).header.member_id
        out = etcdctl(cluster, "move-leader", f"{target_id:x}").stdout
        assert "Leadership transferred" in out
        wait_until(lambda: cluster.leader() is target, timeout=20)

        # remove a follower, then add it back as a new member with a wiped data dir
        victim = next(m for m in cluster.members if m is not target)
        victim_id = cluster.status(victim).header.member_id
        victim.server.kill()
        out = etcdctl(cluster, "member", "remove", f"{victim_id:x}").stdout
        assert "removed from cluster" in out
        listed = json.loads(etcdctl(cluster, "member", "list", "-w", "json").stdout)
        assert victim.name not in {m["name"] for m in listed["members"]}

        etcdctl(cluster, "put", "during", "absence")
        shutil.rmtree(victim.server.data_dir)
        out = etcdctl(
            cluster, "member", "add", victim.name, f"--peer-urls={victim.peer_url}"
        ).stdout
        assert "added to cluster" in out
        cluster.start(victim, state="existing")
        cluster.wait_applied_equal()
        got = etcdctl(
            cluster, "get", "during", "--consistency=s", endpoints=[victim.server.url]
        ).stdout
        assert got.split() == ["during", "absence"]
        status = json.loads(etcdctl(cluster, "endpoint", "status", "-w", "json").stdout)
        leaders = {s["Status"]["leader"] for s in status}
        assert len(leaders) == 1 and len(status) == 3


def test_move_leader_waits_for_a_transferee_to_be_ready(tmp_path: Path) -> None:
    """As etcd's leader does, ours waits for its transferee to hold the whole
    log (it is behind for a round trip after every write, and every member is
    right after an election) and to hear it (just restarted), and gives up
    only when the request times out."""
    with kv_cluster(tmp_path) as cluster:
        leader = cluster.leader()
        target, other = (m for m in cluster.members if m is not leader)
        target_id = cluster.status(target).header.member_id
        other_id = cluster.status(other).header.member_id
        proc = target.server.proc
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)
        resume = threading.Timer(1.0, proc.send_signal, (signal.SIGCONT,))
        try:
            etcdctl(cluster, "put", "k", "transferee asleep", endpoints=[leader.server.url])
            resume.start()
            move_leader(leader, target_id)
        finally:
            resume.cancel()
            proc.send_signal(signal.SIGCONT)
        assert cluster.leader() is target

        other.server.kill()
        cluster.start(other, state="existing")
        move_leader(target, other_id)  # before it has heard the leader again
        assert cluster.leader() is other

        # a member that cannot catch up: refused once the request times out
        target.server.kill()
        at_leader = [other.server.url]
        refused = etcdctl(cluster, "move-leader", f"{target_id:x}", endpoints=at_leader, ok=False)
        assert "leader transfer took too long" in refused.stderr
        assert cluster.leader() is other
        refused = etcdctl(cluster, "move-leader", "dead", endpoints=at_leader, ok=False)
        assert "bad leader transferee" in refused.stderr
