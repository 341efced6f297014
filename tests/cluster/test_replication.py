"""A 3-member cluster of real processes: writes anywhere, kill -9, restart, durability."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import grpc
import pytest

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from kvstore.raft.snapshots import read_metadata
from tests.support.http import labelled, metrics
from tests.support.kvcluster import Cluster, Member, kv, kv_cluster, retry_write
from tests.support.procs import wait_until
from tests.support.watching import WatchStream


def _get_all(member: Member, prefix: bytes, serializable: bool) -> dict[bytes, bytes]:
    channel, stub = kv(member)
    with channel:
        resp = stub.Range(
            rpc_pb2.RangeRequest(
                key=prefix,
                range_end=prefix[:-1] + bytes([prefix[-1] + 1]),
                serializable=serializable,
            ),
            timeout=10,
        )
    return {x.key: x.value for x in resp.kvs}


def _hash(member: Member, revision: int) -> int:
    with grpc.insecure_channel(member.endpoint) as ch:
        resp = rpc_pb2_grpc.MaintenanceStub(ch).HashKV(
            rpc_pb2.HashKVRequest(revision=revision), timeout=10
        )
    return int(resp.hash)


def test_writes_to_each_member_are_seen_by_every_member(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        expected = {}
        for i, member in enumerate(cluster.members):
            channel, stub = kv(member)
            with channel:
                key, value = f"/each/{member.name}".encode(), f"v{i}".encode()
                stub.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=10)
                expected[key] = value
        for member in cluster.members:
            # linearizable: each member sees every acknowledged write at once
            assert _get_all(member, b"/each/", serializable=False) == expected
        members = {m.name for m in _member_list(cluster.members[0])}
        assert members == {"m1", "m2", "m3"}


def test_each_member_reads_the_writes_it_answered_at_once(tmp_path: Path) -> None:
    """A member answers a write while its store is still committing it. Its
    own reads right after the answer must see the write anyway: a serializable
    get, a get at the answered revision, a hash at it, and a watch created
    without a start revision (which must not replay the answered write)."""
    with kv_cluster(tmp_path) as cluster:
        for member in cluster.members:
            _reads_own_writes(member, f"/ryw/{member.name}".encode())


def _reads_own_writes(member: Member, key: bytes) -> None:
    with (
        grpc.insecure_channel(member.endpoint) as channel,
        WatchStream(rpc_pb2_grpc.WatchStub(channel)) as watches,
    ):
        stub = rpc_pb2_grpc.KVStub(channel)
        maintenance = rpc_pb2_grpc.MaintenanceStub(channel)

        def put(value: bytes) -> int:
            resp = stub.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=10)
            return int(resp.header.revision)

        for i in range(150):
            value = str(i).encode()
            rev = put(value)
            got = stub.Range(rpc_pb2.RangeRequest(key=key, serializable=True), timeout=10)
            assert [kv.value for kv in got.kvs] == [value], (member.name, i)
            assert got.header.revision >= rev
            if i % 3 == 0:
                rev = put(value)
                at = stub.Range(
                    rpc_pb2.RangeRequest(key=key, serializable=True, revision=rev), timeout=10
                )
                assert [kv.mod_revision for kv in at.kvs] == [rev], (member.name, i)
            if i % 3 == 2:
                rev = put(value)
                hashed = maintenance.HashKV(rpc_pb2.HashKVRequest(revision=rev), timeout=10)
                assert hashed.header.revision >= rev, (member.name, i)
            if i % 3 == 1:
                rev = put(value)
                watch_id = watches.create(key=key).watch_id
                later = put(b"w")
                (first,) = watches.events_for(watch_id, 1)
                watches.cancel(watch_id)
                assert first.events[0].kv.mod_revision == later > rev, (member.name, i)


def _member_list(member: Member) -> list[rpc_pb2.Member]:
    with grpc.insecure_channel(member.endpoint) as ch:
        resp = rpc_pb2_grpc.ClusterStub(ch).MemberList(rpc_pb2.MemberListRequest(), timeout=10)
    return list(resp.members)


class Writer:
    """Puts unique keys round-robin over all members; records what was acknowledged."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.acked: dict[bytes, bytes] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.errors = 0

    def run(self) -> None:
        channels = [grpc.insecure_channel(m.endpoint) for m in self.cluster.members]
        stubs = [rpc_pb2_grpc.KVStub(c) for c in channels]
        i = 0
        try:
            while not self.stop.is_set() and i < 20000:
                key, value = f"/load/{i:06d}".encode(), f"value-{i}".encode()
                try:
                    stubs[i % len(stubs)].Put(rpc_pb2.PutRequest(key=key, value=value), timeout=5)
                    self.acked[key] = value
                except grpc.RpcError:
                    self.errors += 1
                i += 1
        finally:
            for c in channels:
                c.close()


def test_kill_leader_under_load_loses_no_acknowledged_write(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        writer = Writer(cluster)
        writer.thread.start()
        try:
            wait_until(lambda: len(writer.acked) >= 100, timeout=30)
            leader = cluster.leader()
            leader.server.kill(signal.SIGKILL)
            survivors = [m for m in cluster.members if m is not leader]
            cluster.leader(survivors)
            before = len(writer.acked)
            wait_until(lambda: len(writer.acked) >= before + 100, timeout=30)
            leader.server.argv = cluster.argv(leader)
            leader.server.start()
            wait_until(lambda: len(writer.acked) >= before + 200, timeout=30)
        finally:
            writer.stop.set()
            writer.thread.join(30)
        cluster.wait_applied_equal()
        revision = cluster.status(cluster.members[0]).header.revision
        for member in cluster.members:
            stored = _get_all(member, b"/load/", serializable=True)
            missing = {k for k in writer.acked if stored.get(k) != writer.acked[k]}
            assert not missing, f"{member.name} lost {len(missing)} acknowledged writes"
        hashes = {_hash(m, revision) for m in cluster.members}
        assert len(hashes) == 1, f"members disagree at revision {revision}: {hashes}"


def test_whole_cluster_restart_keeps_everything(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        channel, stub = kv(cluster.members[1])
        with channel:
            for i in range(50):
                stub.Put(rpc_pb2.PutRequest(key=f"/all/{i}".encode(), value=b"x"), timeout=10)
        for member in cluster.members:
            member.server.kill(signal.SIGKILL)
        for member in cluster.members:
            cluster.start(member, wait=False)
        for member in cluster.members:
            member.server.wait_ready()
        cluster.leader()
        for member in cluster.members:
            got = retry_write(lambda m=member: _get_all(m, b"/all/", serializable=False))
            assert got == {f"/all/{i}".encode(): b"x" for i in range(50)}


def test_wiped_member_rejoins_and_catches_up_by_snapshot(tmp_path: Path) -> None:
    with kv_cluster(tmp_path, extra=["--snapshot-count", "50"]) as cluster:
        leader = cluster.leader()
        victim = next(m for m in cluster.members if m is not leader)
        channel, stub = kv(leader)
        with channel:
            for i in range(30):
                stub.Put(rpc_pb2.PutRequest(key=f"/snap/{i:03d}".encode(), value=b"a"), timeout=10)
        with grpc.insecure_channel(leader.endpoint) as ch:
            clu = rpc_pb2_grpc.ClusterStub(ch)
            victim_id = cluster.status(victim).header.member_id
            victim.server.kill(signal.SIGKILL)
            clu.MemberRemove(rpc_pb2.MemberRemoveRequest(ID=victim_id), timeout=10)
            assert victim.name not in {m.name for m in _member_list(leader)}
            import shutil

            shutil.rmtree(victim.server.data_dir)
            channel, stub = kv(leader)
            with channel:
                for i in range(30, 300):  # enough entries for the log to be compacted
                    key = f"/snap/{i:03d}".encode()
                    retry_write(
                        lambda k=key: stub.Put(rpc_pb2.PutRequest(key=k, value=b"b"), timeout=10)
                    )
            added = clu.MemberAdd(rpc_pb2.MemberAddRequest(peerURLs=[victim.peer_url]), timeout=10)
            assert victim_id == added.member.ID
        cluster.start(victim, state="existing")
        cluster.wait_applied_equal(timeout=60)
        expected = _get_all(leader, b"/snap/", serializable=False)
        assert len(expected) == 300
        assert _get_all(victim, b"/snap/", serializable=True) == expected
        revision = cluster.status(leader).header.revision
        assert len({_hash(m, revision) for m in cluster.members}) == 1
        log = victim.server.log()
        assert "installed snapshot" in log, "the rejoined member should catch up by snapshot"
        # the leader's snapshots are markers: it copied its store for the transfer
        assert "snapshot copy for a transfer written" in leader.server.log()
        # and the copy installed is not kept beside the store
        assert read_metadata(str(victim.server.data_dir / "member" / "raft" / "snapshot"))[1]


def test_a_snapshot_that_outlasts_the_link_timeout_arrives_whole(tmp_path: Path) -> None:
    """A follower receiving a snapshot answers only its last piece. The leader
    used to close the link as dead once it had read nothing for the connection
    timeout (3 x the election timeout: 0.3 s here), mid-transfer; pysyncobj
    reconnected and went on with the next piece, the follower's file had a
    hole, the CRC refused it, and the member never caught up."""
    extra = ["--snapshot-count", "50", "--election-timeout", "100"]
    with kv_cluster(tmp_path, extra=extra) as cluster:
        leader = cluster.leader()
        victim = next(m for m in cluster.members if m is not leader)
        victim.server.kill(signal.SIGKILL)
        survivors = [m for m in cluster.members if m is not victim]
        # ~24 MB that does not compress: its transfer takes longer than 0.3 s
        values = {f"/big/{i:02d}".encode(): os.urandom(1 << 20) for i in range(24)}
        for key, value in values.items():
            retry_write(lambda k=key, v=value: _put(cluster.leader(survivors), k, v))
        for i in range(120):  # enough entries for the log to be compacted
            key = f"/small/{i:03d}".encode()
            retry_write(lambda k=key: _put(cluster.leader(survivors), k, b"x"))
        cluster.start(victim)
        cluster.wait_applied_equal(timeout=90)
        log = victim.server.log()
        assert "installed snapshot" in log, "the member should catch up by snapshot"
        assert "snapshot refused" not in log
        revision = cluster.status(victim).header.revision
        assert len({_hash(m, revision) for m in cluster.members}) == 1
        channel, stub = kv(victim)
        with channel:
            got = stub.Range(rpc_pb2.RangeRequest(key=b"/big/23", serializable=True), timeout=10)
        assert got.kvs[0].value == values[b"/big/23"]


def _anon_rss(pid: int) -> int:
    """Bytes of the process's anonymous memory (a queued send is; its mapped
    journal and LMDB pages are not)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no RssAnon for {pid}")


def test_a_member_behind_a_large_log_is_not_sent_it_all_at_once(tmp_path: Path) -> None:
    """pysyncobj sent a member that is behind as much log as fit in each
    period, whatever its link drained, and sent again what it had not yet
    acknowledged: the leader queued about twice the missing log in memory.
    It now holds back while a link has 1 MB unsent."""
    with kv_cluster(tmp_path) as cluster:
        leader = cluster.leader()
        victim = next(m for m in cluster.members if m is not leader)
        victim.server.kill(signal.SIGKILL)
        channel, stub = kv(leader)
        with channel:
            value = os.urandom(4096)
            pending = []
            for t in range(1000):  # ~64 MB of log, in fewer entries than a compaction
                ops = [
                    rpc_pb2.RequestOp(
                        request_put=rpc_pb2.PutRequest(key=b"/log/%04d/%02d" % (t, i), value=value)
                    )
                    for i in range(16)
                ]
                pending.append(stub.Txn.future(rpc_pb2.TxnRequest(success=ops), timeout=30))
                if len(pending) >= 16:
                    pending.pop(0).result()
            for future in pending:
                future.result()
        pid = leader.server.proc.pid
        before = peak = _anon_rss(pid)
        cluster.start(victim, wait=False)

        def caught_up() -> bool:
            nonlocal peak
            peak = max(peak, _anon_rss(pid))
            try:
                return (
                    cluster.status(victim).header.revision == cluster.status(leader).header.revision
                )
            except grpc.RpcError:
                return False

        wait_until(caught_up, timeout=120, interval=0.02)
        assert "installed snapshot" not in victim.server.log()  # it replayed the log
        assert peak - before < 32 << 20, f"the leader grew by {(peak - before) >> 20} MB"
        revision = cluster.status(victim).header.revision
        assert len({_hash(m, revision) for m in cluster.members}) == 1


def _put(member: Member, key: bytes, value: bytes) -> None:
    channel, stub = kv(member)
    with channel:
        stub.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=10)


def test_linearizable_reads_are_confirmed_without_log_entries(tmp_path: Path) -> None:
    """ReadIndex: a linearizable read costs a heartbeat round, not a log entry,
    and still sees a write acknowledged by another member just before."""
    with kv_cluster(tmp_path) as cluster:
        writer, reader = cluster.members[0], cluster.members[1]
        before = max(cluster.status(m).raftIndex for m in cluster.members)
        w_channel, w_stub = kv(writer)
        r_channel, r_stub = kv(reader)
        with w_channel, r_channel:
            for i in range(20):
                value = f"v{i}".encode()
                w_stub.Put(rpc_pb2.PutRequest(key=b"/ri/k", value=value), timeout=10)
                got = r_stub.Range(rpc_pb2.RangeRequest(key=b"/ri/k"), timeout=10)
                assert [kv_.value for kv_ in got.kvs] == [value]
        # 20 puts; a barrier entry per read would have added 20 more
        wait_until(
            lambda: len({cluster.status(m).raftIndex for m in cluster.members}) == 1, timeout=10
        )
        assert cluster.status(cluster.members[0]).raftIndex - before < 30


def test_a_followers_read_needs_no_round_from_the_leader(tmp_path: Path) -> None:
    """On 3 members a follower's ReadIndex question, asked in the leader's
    term, is itself the second answer of a majority: the leader sends the
    other follower nothing for it. Its own reads each cost a round to both."""
    with kv_cluster(tmp_path) as cluster:
        leader, reader, other = cluster.members
        base = cluster.serve_metrics(leader)
        cluster.make_leader(leader)
        other_id = f"{cluster.status(other).header.member_id:x}"

        def sent_to_other() -> float:
            return labelled(metrics(base), "etcd_network_peer_sent_bytes_total", "To", other_id)

        def reads(member: Member) -> float:
            channel, stub = kv(member)
            with channel:
                stub.Put(rpc_pb2.PutRequest(key=b"/ri/f", value=b"v"), timeout=10)
                before = sent_to_other()
                for _ in range(100):
                    got = stub.Range(rpc_pb2.RangeRequest(key=b"/ri/f"), timeout=10)
                    assert [kv_.value for kv_ in got.kvs] == [b"v"]
                return sent_to_other() - before

        by_leader = reads(leader)
        by_follower = reads(reader)
        # heartbeats go out in both; only the leader's reads add 100 rounds
        assert by_follower < by_leader / 3, (by_follower, by_leader)


def test_a_full_cluster_refuses_writes_and_stays_up(tmp_path: Path) -> None:
    """Past --quota-backend-bytes the NOSPACE alarm goes through the log: every
    member refuses writes with etcd's error, and none of them stops."""
    quota = ["--quota-backend-bytes", str(2 * 1024 * 1024)]
    with kv_cluster(tmp_path, extra=quota) as cluster:
        first, other = cluster.members[0], cluster.members[2]
        channel, stub = kv(first)
        with channel:
            for i in range(200):
                try:
                    stub.Put(rpc_pb2.PutRequest(key=b"/q/%03d" % i, value=b"x" * 65536), timeout=10)
                except grpc.RpcError as exc:
                    assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
                    break
            else:
                raise AssertionError("200 x 64 KiB fit in a 2 MiB quota")
        for member in cluster.members:
            # each member reports the alarm once it has applied it
            wait_until(lambda m=member: _alarms(m) == [rpc_pb2.NOSPACE], timeout=10)
        channel, stub = kv(other)
        with channel:
            try:
                stub.Put(rpc_pb2.PutRequest(key=b"/small", value=b"v"), timeout=10)
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
            else:
                raise AssertionError("a put went through with the alarm on")
        assert all(
            m.server.proc is not None and m.server.proc.poll() is None for m in cluster.members
        )


def test_a_burst_admitted_before_the_alarm_applies_everywhere(tmp_path: Path) -> None:
    """Writes sent together all pass the quota check before any of them is
    applied; every one that was acknowledged must apply on every member,
    however far past the quota they go, and no member may stop."""
    quota = 2 * 1024 * 1024
    value = b"v" * (1024 * 1024)
    with kv_cluster(tmp_path, extra=["--quota-backend-bytes", str(quota)]) as cluster:
        leader = cluster.leader()
        followers = [m.server.proc for m in cluster.members if m is not leader]
        channel, stub = kv(leader)
        with channel:
            # Nothing commits while both followers are stopped, so every write
            # of the burst is checked against the quota before any is applied.
            for proc in followers:
                assert proc is not None
                proc.send_signal(signal.SIGSTOP)
            try:
                calls = [
                    stub.Put.future(
                        rpc_pb2.PutRequest(key=b"/burst/%02d" % i, value=value), timeout=60
                    )
                    for i in range(48)
                ]
                time.sleep(1.0)  # well below the leader's step-down time (2 s or more)
            finally:
                for proc in followers:
                    assert proc is not None
                    proc.send_signal(signal.SIGCONT)
            acked = []
            for i, call in enumerate(calls):
                try:
                    call.result()
                except grpc.RpcError as exc:
                    assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
                else:
                    acked.append(b"/burst/%02d" % i)
            with pytest.raises(grpc.RpcError) as refused:  # the next write raises the alarm
                stub.Put(rpc_pb2.PutRequest(key=b"/after", value=b"v"), timeout=10)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value
        # the burst went past what the quota and the old headroom (16 MiB) held
        assert len(acked) * len(value) > quota + 16 * 1024 * 1024, len(acked)
        cluster.wait_applied_equal()
        for member in cluster.members:
            assert member.server.proc is not None and member.server.proc.poll() is None
            wait_until(lambda m=member: _alarms(m) == [rpc_pb2.NOSPACE], timeout=10)
            channel, stub = kv(member)
            with channel:
                got = stub.Range(
                    rpc_pb2.RangeRequest(key=b"/burst/", range_end=b"/burst0", keys_only=True),
                    timeout=10,
                )
            assert sorted(item.key for item in got.kvs) == acked


def _alarms(member: Member) -> list[int]:
    with grpc.insecure_channel(member.endpoint) as ch:
        resp = rpc_pb2_grpc.MaintenanceStub(ch).Alarm(
            rpc_pb2.AlarmRequest(action=rpc_pb2.AlarmRequest.GET), timeout=10
        )
    return [a.alarm for a in resp.alarms]
