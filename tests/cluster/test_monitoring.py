"""/health and /metrics on --listen-metrics-urls of a cluster member."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from kvstore.pb import rpc_pb2
from tests.support.http import Samples, get, labelled, metrics, value
from tests.support.kvcluster import etcdctl, kv, kv_cluster
from tests.support.procs import wait_until


def test_health_and_metrics_follow_the_quorum(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        watched, *others = cluster.members
        base = cluster.serve_metrics(watched, "--request-timeout", "2s")
        health = base + "/health"
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


def test_peer_links_are_counted_per_member(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        watched, lost, kept = cluster.members
        base = cluster.serve_metrics(watched)
        wait_until(lambda: get(base + "/health")[0] == 200, timeout=30)
        ids = {m.name: cluster.status(m).header.member_id for m in cluster.members}
        hexes = {name: f"{member_id:x}" for name, member_id in ids.items()}
        local = hexes[watched.name]

        def linked(found: Samples) -> set[tuple[str, str]]:
            return {
                (labels["Local"], labels["Remote"])
                for labels, count in found.get("etcd_network_active_peers", [])
                if count == 1
            }

        both = {(local, hexes[lost.name]), (local, hexes[kept.name])}
        wait_until(lambda: linked(metrics(base)) == both, timeout=30)
        cluster.make_leader(watched)  # a leader sends to every member
        seen = metrics(base)
        for peer in (lost, kept):
            peer_id = hexes[peer.name]
            assert labelled(seen, "etcd_network_peer_sent_bytes_total", "To", peer_id) > 0
            assert labelled(seen, "etcd_network_peer_received_bytes_total", "From", peer_id) > 0
        # a learner's read-only link is reported under its member ID too
        m4 = cluster.add_member("m4")
        add = ("member", "add", "m4", f"--peer-urls={m4.peer_url}", "--learner")
        learner = f"{int(etcdctl(cluster, *add).stdout.split()[1], 16):x}"
        cluster.start(m4, state="existing")
        wait_until(lambda: (local, learner) in linked(metrics(base)), timeout=30)
        sent = "etcd_network_peer_sent_bytes_total"
        wait_until(lambda: labelled(metrics(base), sent, "To", learner) > 0, timeout=30)
        failed = "etcd_network_peer_sent_failures_total"
        before = labelled(seen, failed, "To", hexes[lost.name])

        lost.server.kill()
        wait_until(lambda: labelled(metrics(base), failed, "To", hexes[lost.name]) > before + 5)
        found = metrics(base)
        assert linked(found) == {(local, hexes[kept.name]), (local, learner)}
        assert labelled(found, failed, "To", hexes[kept.name]) == labelled(
            seen, failed, "To", hexes[kept.name]
        )


RTT = "etcd_network_peer_round_trip_time_seconds"


def _within(found: Samples, peer: str, bound: float) -> float:
    """Round trips to ``peer`` observed at or under ``bound`` seconds."""
    for labels, count in found.get(RTT + "_bucket", []):
        if labels["To"] == peer and float(labels["le"]) == bound:
            return count
    return 0


def test_round_trips_to_peers_are_measured(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        watched, slow, other = cluster.members
        base = cluster.serve_metrics(watched)
        wait_until(lambda: get(base + "/health")[0] == 200, timeout=30)
        hexes = {m.name: f"{cluster.status(m).header.member_id:x}" for m in cluster.members}
        far = hexes[slow.name]

        def probes(found: Samples, peer: str) -> float:
            return labelled(found, RTT + "_count", "To", peer)

        wait_until(lambda: min(probes(metrics(base), hexes[m.name]) for m in (slow, other)) > 0)
        before = metrics(base)
        cluster.delay(watched, slow, 0.3)
        wait_until(lambda: probes(metrics(base), far) >= probes(before, far) + 2, timeout=30)
        after = metrics(base)
        new = probes(after, far) - probes(before, far)
        quick = _within(after, far, 0.2048) - _within(before, far, 0.2048)
        assert new - quick >= 1, "no round trip to the delayed peer took its delay"
        took = labelled(after, RTT + "_sum", "To", far) - labelled(before, RTT + "_sum", "To", far)
        assert took >= 0.3
