"""/health and /metrics on --listen-metrics-urls of a cluster member."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from kvstore.pb import rpc_pb2
from tests.support.http import get, metrics, value
from tests.support.kvcluster import kv, kv_cluster
from tests.support.procs import free_port, wait_until


def test_health_and_metrics_follow_the_quorum(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        watched, *others = cluster.members
        base = f"http://127.0.0.1:{free_port()}"
        health = base + "/health"
        watched.server.kill()
        argv = cluster.argv(watched, state="existing")
        extra = ["--listen-metrics-urls", base, "--request-timeout", "2s"]
        watched.server.argv = [*argv, *extra]
        watched.server.start()
        wait_until(lambda: get(health)[::2] == (200, '{"health":"true"}'), timeout=30)
        seen = metrics(base)
        assert value(seen, "etcd_disk_wal_fsync_duration_seconds_count") > 0
        assert value(seen, "etcd_server_proposals_failed_total") == 0
        changes = value(seen, "etcd_server_leader_changes_seen_total")
        assert changes >= 1

        for member in others:
            member.server.kill()
        wait_until(lambda: get(health)[::2] == (503, '{"health":"false"}\n'), timeout=30)
        channel, stub = kv(watched)
        with channel, pytest.raises(grpc.RpcError):
            stub.Put(rpc_pb2.PutRequest(key=b"k", value=b"no quorum"), timeout=10)
        assert value(metrics(base), "etcd_server_proposals_failed_total") >= 1

        cluster.start(others[0], state="existing")
        wait_until(lambda: get(health)[0] == 200, timeout=30)
        # the leader it had was lost with its quorum: the one it has now is news
        assert value(metrics(base), "etcd_server_leader_changes_seen_total") > changes
