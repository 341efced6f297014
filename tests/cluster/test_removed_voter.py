"""A removed voter stops, as etcd's removed members do: running when it is
removed, and restarted after it was removed while down. A voter that merely
hears no leader keeps running. Real processes; removals by Debian's etcdctl."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.kvcluster import Cluster, Member, etcdctl, kv_cluster
from tests.support.procs import wait_until

#: the removal check runs after 5 election timeouts of silence (5 s here)
STOPS_WITHIN = 40


def _remove(cluster: Cluster, target: Member, member_id: int) -> None:
    others = [m.server.url for m in cluster.running() if m is not target]
    etcdctl(cluster, "member", "remove", f"{member_id:x}", endpoints=others)


def _stopped_as_removed(member: Member) -> None:
    assert member.server.proc is not None
    assert member.server.proc.wait(timeout=STOPS_WITHIN) == 1
    member.server.proc = None
    assert "this member was removed from the cluster" in member.server.log()


def test_a_removed_voter_stops_and_one_that_hears_no_leader_does_not(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        # the lowest peer address dials no one for Raft (pysyncobj links go
        # from the higher address to the lower): it asks on links of its own
        target = cluster.lowest
        others = [m for m in cluster.members if m is not target]
        cluster.make_leader(others[0])

        # cut off from the leader only: no leader for longer than the check
        # waits, and the follower it still reaches says it is a member
        cluster.cut(target, others[0])
        wait_until(lambda: "asking the other voters" in target.server.log(), timeout=30)
        time.sleep(2)
        assert target.server.proc is not None and target.server.proc.poll() is None
        cluster.heal_links()
        etcdctl(cluster, "put", "healed", "1", endpoints=[others[0].server.url])
        wait_until(
            lambda: (
                etcdctl(
                    cluster, "get", "healed", "--consistency=s", endpoints=[target.server.url]
                ).stdout
                == "healed\n1\n"
            ),
            timeout=30,
        )

        _remove(cluster, target, cluster.status(target).header.member_id)
        _stopped_as_removed(target)

        # removed while down, then restarted on its data dir: it stops too
        down = others[1]
        down_id = cluster.status(down).header.member_id
        down.server.kill()
        _remove(cluster, down, down_id)
        etcdctl(cluster, "put", "after", "2", endpoints=[others[0].server.url])
        cluster.start(down, state="existing", wait=False)
        _stopped_as_removed(down)
        out = etcdctl(cluster, "get", "after", endpoints=[others[0].server.url])
        assert out.stdout == "after\n2\n"
