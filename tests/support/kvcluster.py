"""A real multi-member kvstore cluster for tests: processes, proxies, helpers.

Each member's advertised peer address is a ``LinkProxy`` in front of its real
peer port, so tests can partition members. pysyncobj connects from the higher
peer address to the lower one, so the member with the lowest advertised
address (``lowest``) has all of its links behind its own proxy: blocking that
proxy isolates it completely while the others stay connected.

Per-link faults: every proxy can tell which member opened a connection (the
source port is looked up in ``/proc``: which member process owns that socket), so
``cut(a, b)`` blocks just the link between two members — on the proxy of the lower
of the two, from the higher — and any member can be isolated, or the cluster split
1|2 or bridged. ``set_latency`` slows every link; ``heal_links`` undoes all of it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.netproxy import CONNECTOR, LISTENER, LinkProxy
from tests.support.procs import (
    REPO_ROOT,
    ServerProcess,
    free_port,
    member_argv,
    socket_inodes,
    wait_until,
)

SECRET = "kvstore-test-secret"


@dataclass
class Member:
    name: str
    server: ServerProcess
    peer_port: int  # real listen port
    proxy: LinkProxy

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.listen_port}"


@dataclass
class Cluster:
    tmp: Path
    members: list[Member] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    def add_member(self, name: str) -> Member:
        client, peer, proxy_port = free_port(), free_port(), free_port()
        data_dir = self.tmp / name
        server = ServerProcess("kvstore", name, data_dir, client, [], self.tmp / f"{name}.log")
        proxy = LinkProxy(proxy_port, peer, identify=self.owner_of_port)
        proxy.start()
        member = Member(name, server, peer, proxy)
        self.members.append(member)
        return member

    def argv(self, member: Member, state: str = "new", initial: str | None = None) -> list[str]:
        return [
            *member_argv("kvstore"),
            "--name",
            member.name,
            "--data-dir",
            str(member.server.data_dir),
            "--listen-client-urls",
            member.server.url,
            "--advertise-client-urls",
            member.server.url,
            "--listen-peer-urls",
            f"http://127.0.0.1:{member.peer_port}",
            "--initial-cluster",
            initial or self.initial_cluster(),
            "--initial-cluster-state",
            state,
            "--peer-secret-file",
            str(self.tmp / "secret"),
            "--log-format",
            "text",
            *self.extra,
        ]

    def start(
        self, member: Member, state: str = "new", wait: bool = True, initial: str | None = None
    ) -> None:
        """(Re)start ``member``; ``initial``: its ``--initial-cluster`` (default:
        every member known to the harness now)."""
        member.server.argv = self.argv(member, state, initial)
        member.server.start(wait=wait)

    def serve_metrics(self, member: Member, *extra: str) -> str:
        """Restart ``member`` serving ``/metrics`` and ``/health`` on a port of
        its own (and with ``extra`` flags); their base URL."""
        base = f"http://127.0.0.1:{free_port()}"
        member.server.kill()
        argv = self.argv(member, state="existing")
        member.server.argv = [*argv, "--listen-metrics-urls", base, *extra]
        member.server.start()
        return base

    def by_name(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    def running(self) -> list[Member]:
        return [m for m in self.members if m.server.proc is not None]

    def status(self, member: Member) -> rpc_pb2.StatusResponse:
        with grpc.insecure_channel(member.endpoint) as ch:
            resp: rpc_pb2.StatusResponse = rpc_pb2_grpc.MaintenanceStub(ch).Status(
                rpc_pb2.StatusRequest(), timeout=2
            )
            return resp

    def leader(self, among: list[Member] | None = None) -> Member:
        """The member that all of ``among`` (default: running) agree leads."""
        among = among or self.running()
        found: list[Member] = []

        def agreed() -> bool:
            ids = {self.status(m).leader for m in among}
            if len(ids) != 1 or 0 in ids:
                return False
            (leader_id,) = ids
            found[:] = [m for m in among if self.status(m).header.member_id == leader_id]
            return bool(found)

        wait_until(agreed, timeout=30)
        return found[0]

    def make_leader(self, member: Member) -> None:
        """Move leadership to ``member`` (MoveLeader, retried) and wait until
        the members agree on it."""
        if self.leader() is not member:
            target_id = self.status(member).header.member_id
            retry_write(lambda: move_leader(self.leader(), target_id))
        wait_until(lambda: self.leader() is member, timeout=30)

    def wait_applied_equal(self, timeout: float = 30) -> None:
        def equal() -> bool:
            revs = {self.status(m).header.revision for m in self.running()}
            return len(revs) == 1

        wait_until(equal, timeout=timeout)

    def owner_of_port(self, port: int) -> str | None:
        """The name of the member whose process owns the local TCP socket on ``port``."""
        inode = _socket_inode(port)
        if inode is None:
            return None
        for member in list(self.members):
            proc = member.server.proc
            if proc is not None and str(inode) in socket_inodes(proc.pid):
                return member.name
        return None

    def cut(self, a: Member, b: Member) -> None:
        """Cut the peer link between ``a`` and ``b`` only (both directions)."""
        low, high = sorted((a, b), key=_address)
        low.proxy.block_from(high.name)

    def delay(self, sender: Member, receiver: Member, seconds: float) -> None:
        """Slow what ``sender`` sends ``receiver`` by ``seconds``: and with it
        what any member sends the same way through the same proxy (the one of
        the lower of the two, see the module docstring)."""
        low = min((sender, receiver), key=_address)
        low.proxy.set_delay(seconds, LISTENER if receiver is low else CONNECTOR)

    def isolate(self, member: Member) -> None:
        """Cut every peer link of ``member``."""
        for other in self.members:
            if other is not member:
                self.cut(member, other)

    def set_latency(self, seconds: float) -> None:
        """Add ``seconds`` per forwarded chunk on every peer link."""
        for member in self.members:
            member.proxy.set_delay(seconds)

    def heal_links(self) -> None:
        """Undo every partition and every added latency."""
        for member in self.members:
            member.proxy.heal()
            member.proxy.set_delay(0.0)

    @property
    def lowest(self) -> Member:
        return min(self.members, key=_address)

    @property
    def highest(self) -> Member:
        return max(self.members, key=_address)

    def stop(self) -> None:
        for member in self.members:
            with contextlib.suppress(Exception):
                member.server.kill()
            with contextlib.suppress(Exception):
                member.proxy.stop()


def _address(member: Member) -> str:
    """The peer address ``member`` advertises (its proxy's), as pysyncobj compares them."""
    return f"127.0.0.1:{member.proxy.listen_port}"


def _socket_inode(port: int) -> int | None:
    """The inode of the IPv4 TCP socket bound locally to 127.0.0.1:``port``."""
    local = f"0100007F:{port:04X}"
    with contextlib.suppress(OSError), open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[1] == local and fields[9] != "0":
                return int(fields[9])
    return None


@contextlib.contextmanager
def kv_cluster(tmp: Path, size: int = 3, extra: list[str] | None = None) -> Iterator[Cluster]:
    """Start ``size`` members and wait for a leader; kill and reap all on exit."""
    (tmp / "secret").write_text(SECRET)
    cluster = Cluster(tmp, extra=list(extra or []))
    try:
        for i in range(size):
            cluster.add_member(f"m{i + 1}")
        for member in cluster.members:
            cluster.start(member, wait=False)
        for member in cluster.members:
            member.server.wait_ready()
        cluster.leader()
        yield cluster
    finally:
        cluster.stop()


def etcdctl(
    cluster: Cluster, *args: str, endpoints: list[str] | None = None, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    """Debian's etcdctl against ``endpoints`` (default: every running member);
    when ``ok``, it must succeed."""
    eps = endpoints or [m.server.url for m in cluster.running()]
    proc = subprocess.run(
        ["etcdctl", f"--endpoints={','.join(eps)}", "--command-timeout=15s", *args],
        capture_output=True,
        text=True,
        timeout=40,
        env={**os.environ, "ETCDCTL_API": "3"},
        check=False,
    )
    if ok:
        assert proc.returncode == 0, f"etcdctl {args} failed: {proc.stderr}"
    return proc


def move_leader(via: Member, target_id: int) -> None:
    """One MoveLeader call to ``via`` (no retries: a refusal is raised)."""
    with grpc.insecure_channel(via.endpoint) as channel:
        rpc_pb2_grpc.MaintenanceStub(channel).MoveLeader(
            rpc_pb2.MoveLeaderRequest(targetID=target_id), timeout=10
        )


def kv(member: Member) -> tuple[grpc.Channel, rpc_pb2_grpc.KVStub]:
    channel = grpc.insecure_channel(member.endpoint)
    return channel, rpc_pb2_grpc.KVStub(channel)


def retry_write(fn: object, timeout: float = 20.0) -> object:
    """Call ``fn`` until it succeeds (elections make writes fail for a moment)."""
    assert callable(fn)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


__all__ = ["REPO_ROOT", "Cluster", "Member", "etcdctl", "kv", "kv_cluster", "retry_write"]
