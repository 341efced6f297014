"""/health on --listen-metrics-urls follows the member's quorum."""

from __future__ import annotations

from pathlib import Path

from tests.support.http import get
from tests.support.kvcluster import kv_cluster
from tests.support.procs import free_port, wait_until


def test_health_turns_false_without_a_quorum_and_back(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        watched, *others = cluster.members
        url = f"http://127.0.0.1:{free_port()}/health"
        watched.server.kill()
        argv = cluster.argv(watched, state="existing")
        watched.server.argv = [*argv, "--listen-metrics-urls", url.removesuffix("/health")]
        watched.server.start()
        wait_until(lambda: get(url)[::2] == (200, '{"health":"true"}'), timeout=30)

        for member in others:
            member.server.kill()
        wait_until(lambda: get(url)[::2] == (503, '{"health":"false"}\n'), timeout=30)

        cluster.start(others[0], state="existing")
        wait_until(lambda: get(url)[0] == 200, timeout=30)
