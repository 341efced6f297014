"""member remove of the leader, sent to a follower: the leader hands leadership
over and is removed, as etcd removes its leader; a member asked to remove
itself refuses (it would never hear its removal commit). Real processes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import invoke, ok
from tests.cli.test_cluster import all_published, leader_of
from tests.support.cluster_kvstore import kvstore_cluster
from tests.support.procs import ServerProcess, wait_until


def _member_ids(endpoint: str) -> set[int]:
    listed = json.loads(ok(invoke(endpoint, "-w", "json", "member", "list")))
    return {m["ID"] for m in listed["members"]}


def _own_id(member: ServerProcess) -> int:
    status = json.loads(ok(invoke(member.endpoint, "-w", "json", "endpoint", "status")))
    return int(status[0]["Status"]["header"]["member_id"])


def test_the_leader_is_removed_through_a_follower_and_no_member_removes_itself(
    tmp_path: Path,
) -> None:
    with kvstore_cluster(tmp_path) as members:
        everyone = ",".join(m.endpoint for m in members)
        wait_until(lambda: leader_of(everyone), timeout=30)
        wait_until(lambda: all_published(everyone), timeout=30)
        leader_id = leader_of(everyone)
        assert leader_id is not None
        by_id = {_own_id(m): m for m in members}
        leader = by_id[leader_id]
        follower = next(m for mid, m in by_id.items() if mid != leader_id)
        follower_id = _own_id(follower)

        for member, member_id in ((leader, leader_id), (follower, follower_id)):
            refused = invoke(member.endpoint, "member", "remove", f"{member_id:x}")
            assert refused.exit_code == 1, refused.stdout
            assert "a member cannot remove itself" in refused.stderr
        assert _member_ids(follower.endpoint) == set(by_id)

        removed = ok(invoke(follower.endpoint, "member", "remove", f"{leader_id:x}"))
        assert removed.startswith(f"Member {leader_id:x} removed from cluster ")
        rest = [m for m in members if m is not leader]
        remaining = ",".join(m.endpoint for m in rest)
        assert _member_ids(follower.endpoint) == set(by_id) - {leader_id}
        wait_until(lambda: leader_of(remaining) not in (None, leader_id), timeout=30)
        ok(invoke(remaining, "put", "after-removal", "yes"))
        for member in rest:
            wait_until(
                lambda m=member: (
                    ok(  # type: ignore[misc]
                        invoke(m.endpoint, "get", "after-removal", "--consistency", "s")
                    )
                    == "after-removal\nyes\n"
                ),
                timeout=15,
            )
