"""``--listen-metrics-urls``: /health and /metrics over plain HTTP, as etcd
serves them (the same tests run against Debian's etcd)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.http import get, metrics, value
from tests.support.procs import (
    ServerProcess,
    etcd_process,
    free_port,
    kvstore_process,
    running,
    wait_until,
)


@pytest.fixture(params=["kvstore", "etcd"])
def member(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    url = f"http://127.0.0.1:{free_port()}"
    extra = ["--listen-metrics-urls", url]
    make = kvstore_process if request.param == "kvstore" else etcd_process
    with running(make(tmp_path, extra=extra)) as server:
        yield server, url


def test_health_follows_the_nospace_alarm(member: tuple[ServerProcess, str]) -> None:
    server, url = member
    assert get(url + "/health") == (200, "text/plain; charset=utf-8", '{"health":"true"}')
    with grpc.insecure_channel(server.endpoint) as channel:
        maintenance = rpc_pb2_grpc.MaintenanceStub(channel)

        def alarm(action: rpc_pb2.AlarmRequest.AlarmAction) -> None:
            request = rpc_pb2.AlarmRequest(action=action, alarm=rpc_pb2.NOSPACE)
            maintenance.Alarm(request, timeout=10)

        alarm(rpc_pb2.AlarmRequest.ACTIVATE)
        assert get(url + "/health")[::2] == (503, '{"health":"false"}\n')
        assert get(url + "/health?exclude=NOSPACE")[::2] == (200, '{"health":"true"}')
        alarm(rpc_pb2.AlarmRequest.DEACTIVATE)
    assert get(url + "/health")[::2] == (200, '{"health":"true"}')


def test_metrics_name_the_member_and_follow_its_state(member: tuple[ServerProcess, str]) -> None:
    server, url = member
    with grpc.insecure_channel(server.endpoint) as channel:
        status = rpc_pb2_grpc.MaintenanceStub(channel).Status(rpc_pb2.StatusRequest(), timeout=10)
        before = metrics(url)
        kv = rpc_pb2_grpc.KVStub(channel)
        for i in range(5):
            put = kv.Put(rpc_pb2.PutRequest(key=b"k%d" % i, value=b"v"), timeout=10)
        after = metrics(url)
    assert before["etcd_server_id"] == [({"server_id": f"{status.header.member_id:x}"}, 1.0)]
    assert value(after, "etcd_server_has_leader") == 1
    assert value(after, "etcd_server_is_leader") == 1
    assert value(after, "etcd_server_is_learner") == 0
    assert value(after, "etcd_debugging_mvcc_current_revision") == put.header.revision
    applied = "etcd_server_proposals_applied_total"
    assert value(after, applied) >= value(before, applied) + 5
    assert value(after, "etcd_mvcc_db_total_size_in_bytes") > 0
    assert value(after, "process_resident_memory_bytes") > 1_000_000
    assert value(after, "etcd_server_leader_changes_seen_total") == 1
    assert value(after, "etcd_server_proposals_failed_total") == 0
    assert value(after, "etcd_server_proposals_pending") == 0

    # etcd commits its backend every 100 ms; kvstore with each batch
    commits = "etcd_disk_backend_commit_duration_seconds_count"
    wait_until(lambda: value(metrics(url), commits) > value(before, commits))
    buckets = metrics(url)["etcd_disk_backend_commit_duration_seconds_bucket"]
    assert buckets[0][0] == {"le": "0.001"}
    assert buckets[-1] == ({"le": "+Inf"}, value(metrics(url), commits))


def test_other_paths_and_methods_are_refused(member: tuple[ServerProcess, str]) -> None:
    _, url = member
    assert get(url + "/nothing")[0] == 404
    assert get(url + "/health", method="POST")[0] == 405
