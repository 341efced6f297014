"""etcd's strict reconfiguration check (on by default): membership changes
that could cost the quorum are refused, the same way by a real etcd cluster
and a kvstore cluster, driven by Debian's etcdctl. Before, kvstore added a
voter while one was down and lost its quorum."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster_etcd import etcd_cluster
from tests.support.cluster_kvstore import kvstore_cluster, plan_cluster, started
from tests.support.etcdctl import Etcdctl
from tests.support.procs import ServerProcess, free_port, wait_until

UNHEALTHY = "etcdserver: unhealthy cluster"
NOT_STARTED = "etcdserver: re-configuration failed due to not enough started members"


@contextlib.contextmanager
def _cluster(system: str, tmp: Path) -> Iterator[list[ServerProcess]]:
    with (etcd_cluster if system == "etcd" else kvstore_cluster)(tmp) as members:
        yield members


def _members(ctl: Etcdctl) -> list[dict[str, object]]:
    return list(json.loads(ctl.ok("member", "list", "-w", "json"))["members"])


def _id_of(ctl: Etcdctl, server: ServerProcess) -> int:
    for member in _members(ctl):
        if server.url in member.get("clientURLs", []):  # type: ignore[operator]
            return int(member["ID"])  # type: ignore[call-overload]
    raise AssertionError(f"{server.url} not listed")


def _refused(ctl: Etcdctl, message: str, *args: str) -> None:
    result = ctl.run(*args)
    assert result.returncode == 1, result
    assert f"Error: {message}" in result.stderr, result.stderr


@pytest.mark.parametrize("system", ["etcd", "kvstore"])
def test_changes_that_could_cost_the_quorum_are_refused(system: str, tmp_path: Path) -> None:
    with _cluster(system, tmp_path) as members:
        up = members[:2]
        ctl = Etcdctl(",".join(m.url for m in up))
        wait_until(
            lambda: (
                {m.url for m in members}
                <= {url for m in _members(ctl) for url in m.get("clientURLs", [])}
            ),  # type: ignore[attr-defined]
            timeout=30,
        )
        ids = {m.url: _id_of(ctl, m) for m in members}
        members[2].kill()

        # one voter down: no member may be added, no running one removed
        new_peer = f"--peer-urls=http://127.0.0.1:{free_port()}"
        _refused(ctl, UNHEALTHY, "member", "add", "x", new_peer)
        _refused(ctl, UNHEALTHY, "member", "add", "x", new_peer, "--learner")
        for via, target in ((up[0], up[1]), (up[1], up[1])):  # (and itself)
            _refused(Etcdctl(via.url), UNHEALTHY, "member", "remove", f"{ids[target.url]:x}")
        assert len(_members(ctl)) == 3
        # (a leader killed: the put waits for the election)
        wait_until(lambda: ctl.run("put", "still", "writable").returncode == 0, timeout=30)

        # the voter down may go; then a voter that never starts may be added
        ctl.ok("member", "remove", f"{ids[members[2].url]:x}")
        # (etcd wants its links up for 5 s; kvstore's need only be up)
        wait_until(lambda: ctl.run("member", "add", "x", new_peer).returncode == 0, timeout=30)
        # 2 started voters of 4 would be no quorum
        other_peer = f"--peer-urls=http://127.0.0.1:{free_port()}"
        _refused(ctl, NOT_STARTED, "member", "add", "y", other_peer)
        assert len(_members(ctl)) == 3
        unstarted = next(m for m in _members(ctl) if not m.get("name"))
        ctl.ok("member", "remove", f"{int(unstarted['ID']):x}")  # type: ignore[call-overload]
        ctl.ok("put", "after", "changes")


def test_strict_reconfig_check_false_lets_the_change_through(tmp_path: Path) -> None:
    """As etcd's ``--strict-reconfig-check=false``: a learner added while a
    voter is down (it costs no quorum, but is refused by the check)."""
    processes = plan_cluster(tmp_path).processes()
    for member in processes:
        member.argv.append("--strict-reconfig-check=false")
    with started(processes) as members:
        ctl = Etcdctl(",".join(m.url for m in members[:2]))
        members[2].kill()
        new_peer = f"--peer-urls=http://127.0.0.1:{free_port()}"
        ctl.ok("member", "add", "x", new_peer, "--learner")
        assert any(m.get("isLearner") for m in _members(ctl))
