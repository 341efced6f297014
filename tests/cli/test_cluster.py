"""Cluster commands against a real 3-member kvstore cluster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import invoke, ok
from tests.support.cluster_kvstore import kvstore_cluster
from tests.support.procs import ServerProcess, free_port, wait_until


def leader_of(endpoints: str) -> int | None:
    """The leader every member agrees on, or None."""
    result = invoke(endpoints, "-w", "json", "endpoint", "status")
    if result.exit_code != 0:
        return None
    leaders = {s["Status"]["leader"] for s in json.loads(result.stdout)}
    return leaders.pop() if len(leaders) == 1 and 0 not in leaders else None


def all_published(endpoints: str) -> bool:
    doc = json.loads(ok(invoke(endpoints, "-w", "json", "member", "list")))
    return len(doc["members"]) == 3 and all(m.get("clientURLs") for m in doc["members"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    with kvstore_cluster(tmp_path_factory.mktemp("cluster")) as members:
        endpoints = ",".join(m.endpoint for m in members)
        wait_until(lambda: leader_of(endpoints), timeout=30)
        wait_until(lambda: all_published(endpoints), timeout=30)
        yield members


def test_member_list(cluster: list[ServerProcess]) -> None:
    ep = cluster[0].endpoint
    lines = ok(invoke(ep, "member", "list")).splitlines()
    assert len(lines) == 3
    assert {line.split(", ")[2] for line in lines} == {m.name for m in cluster}
    assert all(line.split(", ")[1] == "started" for line in lines)
    table = ok(invoke(ep, "-w", "table", "member", "list"))
    assert "PEER ADDRS" in table and all(m.url in table for m in cluster)
    assert '"Name" : ' in ok(invoke(ep, "-w", "fields", "member", "list"))


def test_endpoint_status_and_health_one_table_for_the_cluster(
    cluster: list[ServerProcess],
) -> None:
    ep = cluster[0].endpoint  # --cluster discovers the others from the member list
    table = ok(invoke(ep, "-w", "table", "endpoint", "status", "--cluster")).splitlines()
    assert "IS LEADER" in table[1] and len(table) == 3 + 3 + 1
    rows = [r for r in table[3:-1]]
    assert sorted(r.count(" true |") for r in rows) == [0, 0, 1]  # exactly one leader marked
    docs = json.loads(ok(invoke(ep, "-w", "json", "endpoint", "status", "--cluster")))
    assert {d["Endpoint"] for d in docs} == {m.url for m in cluster}
    simple = ok(invoke(ep, "endpoint", "status", "--cluster")).splitlines()
    assert len(simple) == 3 and sum(", true, " in line for line in simple) == 1

    health = ok(invoke(ep, "endpoint", "health", "--cluster")).splitlines()
    assert len(health) == 3 and all(" is healthy: " in h for h in health)
    assert "HEALTH" in ok(invoke(ep, "-w", "table", "endpoint", "health", "--cluster"))
    hashes = json.loads(ok(invoke(ep, "-w", "json", "endpoint", "hashkv", "--cluster")))
    assert len(hashes) == 3
    assert ok(invoke(ep, "alarm", "list")) == ""
    assert ok(invoke(ep, "defrag", "--cluster")).count("Finished defragmenting") == 3


def test_move_leader(cluster: list[ServerProcess]) -> None:
    endpoints = ",".join(m.endpoint for m in cluster)
    leader = leader_of(endpoints)
    assert leader is not None
    members = json.loads(ok(invoke(endpoints, "-w", "json", "member", "list")))["members"]
    target = next(m["ID"] for m in members if m["ID"] != leader)
    out = ok(invoke(cluster[0].endpoint, "move-leader", f"{target:x}"))
    assert out == f"Leadership transferred from {leader:x} to {target:x}\n"
    wait_until(lambda: leader_of(endpoints) == target, timeout=15)


def test_member_add_and_remove(cluster: list[ServerProcess], tmp_path: Path) -> None:
    ep = ",".join(m.endpoint for m in cluster)
    url = f"http://127.0.0.1:{free_port()}"
    out = ok(invoke(ep, "member", "add", "extra", "--peer-urls", url))
    assert out.startswith("Member ") and " added to cluster " in out
    assert 'ETCD_NAME="extra"' in out and 'ETCD_INITIAL_CLUSTER_STATE="existing"' in out
    assert f"extra={url}" in out
    new_id = out.split()[1]
    listed = ok(invoke(ep, "member", "list"))
    assert f"{new_id}, unstarted, , {url}" in listed
    removed = ok(invoke(ep, "member", "remove", new_id))
    assert removed.startswith(f"Member {new_id} removed from cluster ")
    assert new_id not in ok(invoke(ep, "member", "list"))


def test_member_add_learner_and_promote_refusals(cluster: list[ServerProcess]) -> None:
    ep = ",".join(m.endpoint for m in cluster)
    url = f"http://127.0.0.1:{free_port()}"
    out = ok(invoke(ep, "member", "add", "student", "--peer-urls", url, "--learner"))
    new_id = out.split()[1]
    assert f"{new_id}, unstarted, , {url}, , true" in ok(invoke(ep, "member", "list"))
    # never started: it holds none of the log, so it cannot be promoted yet
    refused = invoke(ep, "member", "promote", new_id)
    assert refused.exit_code != 0 and "Traceback" not in refused.stderr
    assert "can only promote a learner member which is in sync with leader" in refused.stderr
    members = json.loads(ok(invoke(ep, "-w", "json", "member", "list")))["members"]
    voter = next(m["ID"] for m in members if not m.get("isLearner"))
    refused = invoke(ep, "member", "promote", f"{voter:x}")
    assert "can only promote a learner member" in refused.stderr
    ok(invoke(ep, "member", "remove", new_id))
    assert new_id not in ok(invoke(ep, "member", "list"))
