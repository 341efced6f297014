"""Leases and watches across members of a real 3-member cluster."""

from __future__ import annotations

import queue
import signal
import threading
import time
from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from kvstore.raft.snapshots import read_metadata
from tests.support.kvcluster import Member, kv, kv_cluster, retry_write
from tests.support.procs import wait_until


def _lease_stub(member: Member) -> tuple[grpc.Channel, rpc_pb2_grpc.LeaseStub]:
    channel = grpc.insecure_channel(member.endpoint)
    return channel, rpc_pb2_grpc.LeaseStub(channel)


def test_keepalive_to_a_follower_keeps_the_lease_and_a_new_leader_honours_it(
    tmp_path: Path,
) -> None:
    with kv_cluster(tmp_path) as cluster:
        leader = cluster.leader()
        follower = next(m for m in cluster.members if m is not leader)
        channel, lease = _lease_stub(follower)
        with channel:
            granted = lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=3), timeout=10)
            kch, stub = kv(follower)
            with kch:
                stub.Put(rpc_pb2.PutRequest(key=b"/lease/k", value=b"v", lease=granted.ID))
            pings: queue.Queue[rpc_pb2.LeaseKeepAliveRequest | None] = queue.Queue()
            responses = lease.LeaseKeepAlive(iter(pings.get, None))
            deadline = time.monotonic() + 8  # well past the 3 s TTL
            while time.monotonic() < deadline:
                pings.put(rpc_pb2.LeaseKeepAliveRequest(ID=granted.ID))
                assert next(responses).TTL == 3
                time.sleep(0.5)
            ttl = lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=granted.ID), timeout=10)
            assert ttl.TTL > 0, "the leader expired a lease kept alive through a follower"

            # The leader dies; the new leader gives the lease a full TTL first.
            leader.server.kill(signal.SIGKILL)
            survivors = [m for m in cluster.members if m is not leader]
            cluster.leader(survivors)
            pings.put(rpc_pb2.LeaseKeepAliveRequest(ID=granted.ID))
            assert next(responses).TTL == 3
            pings.put(None)
            responses.cancel()

            # Without keep-alives it expires, and its key goes with it.
            def gone() -> bool:
                resp = lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=granted.ID))
                return resp.TTL == -1

            wait_until(gone, timeout=20)
            kch, stub = kv(survivors[0])
            with kch:
                assert stub.Range(rpc_pb2.RangeRequest(key=b"/lease/k")).count == 0


def test_keepalives_through_a_follower_leave_the_log_alone(tmp_path: Path) -> None:
    """A keep-alive renews the leader's deadline only; as in etcd, it is no log entry."""
    with kv_cluster(tmp_path) as cluster:
        leader = cluster.leader()
        follower = next(m for m in cluster.members if m is not leader)
        channel, lease = _lease_stub(follower)
        with channel:
            granted = lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=30), timeout=10)
            cluster.wait_applied_equal()
            before = cluster.status(leader).raftIndex
            pings = [rpc_pb2.LeaseKeepAliveRequest(ID=granted.ID) for _ in range(30)]
            answers = list(lease.LeaseKeepAlive(iter(pings), timeout=20))
            assert [a.TTL for a in answers] == [30] * 30
            unknown = lease.LeaseKeepAlive(iter([rpc_pb2.LeaseKeepAliveRequest(ID=12345)]))
            assert [a.TTL for a in unknown] == [0]
            assert cluster.status(leader).raftIndex == before


def test_time_to_live_anywhere_sees_a_keepalive_sent_anywhere(tmp_path: Path) -> None:
    """Deadlines live in the leader's memory: time-to-live asks the leader too."""
    with kv_cluster(tmp_path) as cluster:
        leader = cluster.leader()
        first, second = [m for m in cluster.members if m is not leader]
        ch1, via_first = _lease_stub(first)
        ch2, via_second = _lease_stub(second)
        with ch1, ch2:
            granted = via_first.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=8), timeout=10)
            time.sleep(3)
            pings = iter([rpc_pb2.LeaseKeepAliveRequest(ID=granted.ID)])
            assert [a.TTL for a in via_first.LeaseKeepAlive(pings, timeout=10)] == [8]
            for stub in (via_second, via_first):
                ttl = stub.LeaseTimeToLive(
                    rpc_pb2.LeaseTimeToLiveRequest(ID=granted.ID, keys=True), timeout=10
                )
                assert ttl.grantedTTL == 8
                assert ttl.TTL >= 7, "time-to-live did not see the keep-alive"
            missing = via_second.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=4242))
            assert missing.TTL == -1


def _watch(
    member: Member,
    out: list[tuple[int, int, bytes, bytes]],
    ready: threading.Event,
    stop: threading.Event,
) -> None:
    channel = grpc.insecure_channel(member.endpoint)
    requests: queue.Queue[rpc_pb2.WatchRequest | None] = queue.Queue()
    requests.put(
        rpc_pb2.WatchRequest(
            create_request=rpc_pb2.WatchCreateRequest(key=b"/w/", range_end=b"/w0", prev_kv=True)
        )
    )
    stream = rpc_pb2_grpc.WatchStub(channel).Watch(iter(requests.get, None))
    try:
        for resp in stream:
            if resp.created:
                ready.set()
            for ev in resp.events:
                out.append((ev.kv.mod_revision, ev.type, ev.kv.key, ev.prev_kv.value))
            if stop.is_set():
                break
    except grpc.RpcError:
        pass
    finally:
        requests.put(None)
        stream.cancel()
        channel.close()


def test_every_member_serves_the_same_event_stream(tmp_path: Path) -> None:
    with kv_cluster(tmp_path) as cluster:
        streams: list[list[tuple[int, int, bytes, bytes]]] = [[] for _ in cluster.members]
        stop = threading.Event()
        threads = []
        for member, out in zip(cluster.members, streams, strict=True):
            ready = threading.Event()
            t = threading.Thread(target=_watch, args=(member, out, ready, stop), daemon=True)
            t.start()
            assert ready.wait(10)
            threads.append(t)
        writers = cluster.members
        for i in range(60):
            channel, stub = kv(writers[i % 3])
            with channel:
                key = f"/w/{i % 7}".encode()
                if i % 5 == 4:
                    retry_write(
                        lambda k=key, s=stub: s.DeleteRange(
                            rpc_pb2.DeleteRangeRequest(key=k), timeout=10
                        )
                    )
                else:
                    retry_write(
                        lambda k=key, s=stub, n=i: s.Put(
                            rpc_pb2.PutRequest(key=k, value=str(n).encode()), timeout=10
                        )
                    )
        # one more event so every watcher wakes up after `stop` is set
        total = None
        channel, stub = kv(writers[0])
        with channel:
            total = stub.Range(rpc_pb2.RangeRequest(key=b"/w/", range_end=b"/w0")).header.revision
        wait_until(lambda: all(s and s[-1][0] >= total for s in streams), timeout=20)
        stop.set()
        with grpc.insecure_channel(writers[0].endpoint) as ch:
            rpc_pb2_grpc.KVStub(ch).Put(rpc_pb2.PutRequest(key=b"/w/end", value=b""))
        for t in threads:
            t.join(10)
        first = [e for e in streams[0] if e[0] <= total]
        assert len(first) >= 48  # 48 puts, plus the deletes that found a key
        for other in streams[1:]:
            assert [e for e in other if e[0] <= total] == first


def test_restart_after_log_compaction_keeps_everything(tmp_path: Path) -> None:
    with kv_cluster(tmp_path, extra=["--snapshot-count", "40"]) as cluster:
        channel, stub = kv(cluster.leader())
        with channel:
            for i in range(200):
                stub.Put(rpc_pb2.PutRequest(key=f"/c/{i:03d}".encode(), value=b"x"), timeout=10)
        for member in cluster.members:
            dump = member.server.data_dir / "member" / "raft" / "snapshot"
            # a marker: the store, not a copy of it, holds the compacted entries
            assert read_metadata(str(dump))[1]
            member.server.kill(signal.SIGKILL)
        for member in cluster.members:
            cluster.start(member, wait=False)
        for member in cluster.members:
            member.server.wait_ready()
        cluster.leader()
        for member in cluster.members:
            channel, stub = kv(member)
            with channel:
                got = retry_write(
                    lambda s=stub: s.Range(rpc_pb2.RangeRequest(key=b"/c/", range_end=b"/c0"))
                )
                assert got.count == 200  # type: ignore[attr-defined]
