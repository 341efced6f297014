"""``--listen-metrics-urls``: /health and /metrics over plain HTTP, as etcd
serves them (the same tests run against Debian's etcd)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.http import Samples, get, metrics, value
from tests.support.procs import (
    ServerProcess,
    etcd_process,
    free_port,
    kvstore_process,
    running,
    wait_until,
)

Served = Iterator[tuple[ServerProcess, str]]


def _serve(kind: str, tmp_path: Path, *flags: str) -> Served:
    """A member of ``kind`` serving /metrics: (it, the metrics URL)."""
    url = f"http://127.0.0.1:{free_port()}"
    make = kvstore_process if kind == "kvstore" else etcd_process
    with running(make(tmp_path, extra=["--listen-metrics-urls", url, *flags])) as server:
        yield server, url


@pytest.fixture(params=["kvstore", "etcd"])
def member(request: pytest.FixtureRequest, tmp_path: Path) -> Served:
    yield from _serve(str(request.param), tmp_path)


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
    scraped = metrics(url)  # one scrape: etcd may commit between two
    buckets = scraped["etcd_disk_backend_commit_duration_seconds_bucket"]
    assert buckets[0][0] == {"le": "0.001"}
    assert buckets[-1] == ({"le": "+Inf"}, value(scraped, commits))


def test_other_paths_and_methods_are_refused(member: tuple[ServerProcess, str]) -> None:
    _, url = member
    assert get(url + "/nothing")[0] == 404
    assert get(url + "/health", method="POST")[0] == 405


@pytest.fixture(params=["kvstore", "etcd"])
def extensive(request: pytest.FixtureRequest, tmp_path: Path) -> Served:
    yield from _serve(str(request.param), tmp_path, "--metrics", "extensive")


def _calls(found: Samples, name: str, method: str, code: str | None = None) -> float:
    """A ``grpc_server_*`` counter of one etcd method (``Service/Method``)."""
    service, _, short = method.partition("/")
    for labels, count in found[name]:
        ours = (labels["grpc_service"], labels["grpc_method"]) == (f"etcdserverpb.{service}", short)
        if ours and (code is None or labels["grpc_code"] == code):
            return count
    raise AssertionError(f"no {name} for {method} {code or ''}")


def test_grpc_calls_are_counted_by_method_and_status(member: tuple[ServerProcess, str]) -> None:
    server, url = member
    before = metrics(url)
    # every method is there from the start, with every status code
    assert _calls(before, "grpc_server_started_total", "Maintenance/Defragment") == 0
    put_codes = {
        labels["grpc_code"]
        for labels, _ in before["grpc_server_handled_total"]
        if labels["grpc_method"] == "Put"
    }
    assert len(put_codes) == 17 and {"OK", "Canceled", "Unavailable"} <= put_codes
    kinds = {
        labels["grpc_method"]: labels["grpc_type"]
        for labels, _ in before["grpc_server_started_total"]
        if labels["grpc_service"].startswith("etcdserverpb.")
    }
    assert (kinds["Range"], kinds["Watch"], kinds["Snapshot"]) == (
        "unary",
        "bidi_stream",
        "server_stream",
    )

    with grpc.insecure_channel(server.endpoint) as channel:
        kv = rpc_pb2_grpc.KVStub(channel)
        kv.Put(rpc_pb2.PutRequest(key=b"k", value=b"v"), timeout=10)
        kv.Range(rpc_pb2.RangeRequest(key=b"k"), timeout=10)
        with pytest.raises(grpc.RpcError) as future:
            kv.Range(rpc_pb2.RangeRequest(key=b"k", revision=1_000_000), timeout=10)
        assert future.value.code() == grpc.StatusCode.OUT_OF_RANGE
        with pytest.raises(grpc.RpcError) as empty:
            kv.DeleteRange(rpc_pb2.DeleteRangeRequest(), timeout=10)
        assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        create = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"k"))
        watch = rpc_pb2_grpc.WatchStub(channel).Watch(iter([create]), timeout=30)
        assert next(watch).created
        kv.Put(rpc_pb2.PutRequest(key=b"k", value=b"w"), timeout=10)
        assert next(watch).events[0].kv.value == b"w"
        during = metrics(url)
        watch.cancel()  # the client goes away

        def delta(found: Samples, name: str, method: str, code: str | None = None) -> float:
            return _calls(found, name, method, code) - _calls(before, name, method, code)

        assert delta(during, "grpc_server_started_total", "KV/Put") == 2
        assert delta(during, "grpc_server_handled_total", "KV/Put", "OK") == 2
        assert delta(during, "grpc_server_started_total", "KV/Range") == 2
        assert delta(during, "grpc_server_handled_total", "KV/Range", "OK") == 1
        assert delta(during, "grpc_server_handled_total", "KV/Range", "OutOfRange") == 1
        assert delta(during, "grpc_server_msg_received_total", "KV/Range") == 2
        assert delta(during, "grpc_server_msg_sent_total", "KV/Range") == 1
        assert delta(during, "grpc_server_handled_total", "KV/DeleteRange", "InvalidArgument") == 1
        assert delta(during, "grpc_server_started_total", "Watch/Watch") == 1
        assert delta(during, "grpc_server_msg_received_total", "Watch/Watch") == 1
        assert delta(during, "grpc_server_msg_sent_total", "Watch/Watch") == 2
        handled = "grpc_server_handled_total"
        assert sum(delta(during, handled, "Watch/Watch", code) for code in put_codes) == 0
        wait_until(
            lambda: delta(metrics(url), "grpc_server_handled_total", "Watch/Watch", "Canceled") == 1
        )


def _handling(found: Samples, method: str, le: str | None = None) -> float:
    """``grpc_server_handling_seconds``: the count of one method, or one bucket of it."""
    service, _, short = method.partition("/")
    name = "grpc_server_handling_seconds_" + ("count" if le is None else "bucket")
    for labels, count in found[name]:
        ours = (labels["grpc_service"], labels["grpc_method"]) == (f"etcdserverpb.{service}", short)
        if ours and (le is None or labels["le"] == le):
            return count
    raise AssertionError(f"no {name} for {method} {le or ''}")


def test_call_latency_histogram_only_with_extensive_metrics(
    member: tuple[ServerProcess, str],
) -> None:
    _, url = member
    found = metrics(url)
    assert "grpc_server_started_total" in found
    assert not [name for name in found if name.startswith("grpc_server_handling_seconds")]


def test_extensive_metrics_time_every_call(extensive: tuple[ServerProcess, str]) -> None:
    server, url = extensive
    before = metrics(url)
    assert _handling(before, "Maintenance/Defragment") == 0  # every method from the start
    bounds = {labels["le"] for labels, _ in before["grpc_server_handling_seconds_bucket"]}
    assert {"0.005", "0.1", "1", "10", "+Inf"} <= bounds and len(bounds) == 12
    with grpc.insecure_channel(server.endpoint) as channel:
        kv = rpc_pb2_grpc.KVStub(channel)
        for _ in range(3):
            kv.Range(rpc_pb2.RangeRequest(key=b"k"), timeout=10)
        create = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"k"))
        watch = rpc_pb2_grpc.WatchStub(channel).Watch(iter([create]), timeout=30)
        assert next(watch).created
        assert _handling(metrics(url), "Watch/Watch") == 0  # a stream counts once it ends
        watch.cancel()

        def watch_timed() -> bool:
            return _handling(metrics(url), "Watch/Watch") == 1

        wait_until(watch_timed, timeout=10)
    after = metrics(url)
    assert _handling(after, "KV/Range") - _handling(before, "KV/Range") == 3
    assert _handling(after, "KV/Range", "+Inf") - _handling(before, "KV/Range", "+Inf") == 3
    assert _handling(after, "KV/Range", "10") >= _handling(after, "KV/Range", "0.005")
    sums = {
        labels["grpc_method"]: total
        for labels, total in after["grpc_server_handling_seconds_sum"]
        if labels["grpc_service"] == "etcdserverpb.KV"
    }
    assert sums["Range"] > 0 and sums["Put"] == 0


def _requests(found: Samples, kind: str, version: str) -> float:
    for labels, count in found.get("etcd_server_client_requests_total", []):
        if (labels["type"], labels["client_api_version"]) == (kind, version):
            return count
    return 0


def test_client_traffic_is_counted_in_bytes_and_by_api_version(
    member: tuple[ServerProcess, str],
) -> None:
    server, url = member
    before = metrics(url)
    with grpc.insecure_channel(server.endpoint) as channel:
        kv = rpc_pb2_grpc.KVStub(channel)
        put = rpc_pb2.PutRequest(key=b"traffic", value=b"v" * 100)
        put_response = kv.Put(put, timeout=10, metadata=[("client-api-version", "3.4")])
        get = rpc_pb2.RangeRequest(key=b"traffic")
        get_response = kv.Range(get, timeout=10)  # no version sent
        create = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"traffic"))
        watch = rpc_pb2_grpc.WatchStub(channel).Watch(
            iter([create]), timeout=30, metadata=[("client-api-version", "3.5")]
        )
        created = next(watch)
        watch.cancel()
    after = metrics(url)

    def delta(name: str) -> float:
        return value(after, name) - value(before, name)

    received = put.ByteSize() + get.ByteSize() + create.ByteSize()
    sent = put_response.ByteSize() + get_response.ByteSize() + created.ByteSize()
    assert delta("etcd_network_client_grpc_received_bytes_total") == received
    assert delta("etcd_network_client_grpc_sent_bytes_total") == sent
    for kind, version in (("unary", "3.4"), ("unary", "unknown"), ("stream", "3.5")):
        assert _requests(after, kind, version) - _requests(before, kind, version) == 1
