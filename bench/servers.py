"""Server processes under test: kvstore and Debian's etcd, one member or a cluster.

A *layout* function builds the members of one system for a cluster size
(``etcd_members``, ``kvstore_members``). ``deployment()`` owns the processes:
they are killed and reaped when it exits, also on an exception or Ctrl-C, and a
member dies with the bench process even if that is SIGKILLed (PR_SET_PDEATHSIG).
Every port is picked at run time and every URL is on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from kvstore.agent.procs import stat_fields
from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from kvstore.ports import pick_port

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
ETCD_PACKAGE = "etcd-server"
_PR_SET_PDEATHSIG = 1


class NotAvailable(Exception):
    """This system cannot run in the requested shape (yet); no numbers are made up."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (see kvstore.ports)."""
    return pick_port()


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the bench process dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Member:
    """One server process: ``endpoint`` is host:port for gRPC."""

    system: str
    name: str
    client_port: int
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.proc.pid

    def start(self) -> None:
        env = {**os.environ, **self.env}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO_ROOT,
                start_new_session=True,  # Ctrl-C reaches the bench, which then kills us
                preexec_fn=_die_with_parent,
            )

    def status(self, timeout: float = 1.0) -> rpc_pb2.StatusResponse:
        with grpc.insecure_channel(self.endpoint) as channel:
            stub = rpc_pb2_grpc.MaintenanceStub(channel)
            response: rpc_pb2.StatusResponse = stub.Status(rpc_pb2.StatusRequest(), timeout=timeout)
            return response

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL and reap; a no-op when not running."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            logger.error("member did not exit after SIGKILL name=%s pid=%d", self.name, self.pid)
        self.proc = None


@dataclass
class Deployment:
    """The running members of one system."""

    system: str
    members: list[Member]

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    @property
    def pids(self) -> list[int]:
        return [m.pid for m in self.members]

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll until every member answers Status and (for clusters) knows a leader."""
        deadline = time.monotonic() + timeout
        pending = list(self.members)
        while pending:
            member = pending[0]
            assert member.proc is not None
            if member.proc.poll() is not None:
                raise RuntimeError(
                    f"{member.system} {member.name} exited with {member.proc.returncode}:\n"
                    f"{member.log_tail()}"
                )
            try:
                status = member.status()
                if len(self.members) == 1 or status.leader != 0:
                    pending.pop(0)
                    continue
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{member.system} {member.name} not ready in {timeout}s:\n{member.log_tail()}"
                )
            time.sleep(0.05)

    def running(self) -> list[Member]:
        return [m for m in self.members if m.proc is not None]

    def leader_index(self) -> int:
        """Index in ``members`` of the member that says it leads (down members skipped)."""
        for i, member in enumerate(self.members):
            if member.proc is None:
                continue
            try:
                status = member.status()
            except grpc.RpcError:
                continue
            if status.leader != 0 and status.leader == status.header.member_id:
                return i
        raise RuntimeError("no member reports itself leader")

    def place_leader(self, index: int, timeout: float = 10.0) -> int:
        """Make ``members[index]`` the leader (MoveLeader, sent to the leader)
        unless it already is, so that both systems give each member the same
        role; returns how many moves it took (0 or 1)."""
        if len(self.members) == 1:
            return 0
        leader = self.leader_index()
        if leader == index:
            return 0
        target = self.members[index].status().header.member_id
        with grpc.insecure_channel(self.members[leader].endpoint) as channel:
            stub = rpc_pb2_grpc.MaintenanceStub(channel)
            stub.MoveLeader(rpc_pb2.MoveLeaderRequest(targetID=target), timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.leader_index() == index:
                    return 1
            except RuntimeError:
                pass  # between two leaders
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.system}: member {index} did not become leader")
            time.sleep(0.05)


def ensure_etcd() -> str:
    """Path of Debian's etcd, installing ``etcd-server`` with apt-get if it is missing."""
    binary = shutil.which("etcd")
    if binary is not None:
        return binary
    logger.warning("etcd not found; installing package=%s", ETCD_PACKAGE)
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, "apt-get", "install", "-y", ETCD_PACKAGE], check=True, env=env)
    binary = shutil.which("etcd")
    if binary is None:
        raise RuntimeError(f"apt-get installed {ETCD_PACKAGE} but no etcd binary is on PATH")
    return binary


def etcd_version() -> str:
    binary = ensure_etcd()
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    first = out.stdout.splitlines()[0] if out.stdout else "unknown"
    return first.removeprefix("etcd Version:").strip()


def _etcd_env() -> dict[str, str]:
    machine = os.uname().machine
    return {} if machine == "x86_64" else {"ETCD_UNSUPPORTED_ARCH": machine}


def etcd_members(tmp: Path, size: int) -> list[Member]:
    """etcd with default heartbeat/election timing, one data dir per member."""
    binary = ensure_etcd()
    names = [f"etcd{i}" for i in range(size)]
    client_ports = [free_port() for _ in names]
    peer_ports = [free_port() for _ in names]
    initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(names, peer_ports, strict=True))
    members = []
    for name, cport, pport in zip(names, client_ports, peer_ports, strict=True):
        argv = [
            binary,
            "--name", name,
            "--data-dir", str(tmp / f"{name}.etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{cport}",
            "--advertise-client-urls", f"http://127.0.0.1:{cport}",
            "--listen-peer-urls", f"http://127.0.0.1:{pport}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
            "--initial-cluster", initial,
            "--initial-cluster-token", f"bench-{client_ports[0]}",
            "--initial-cluster-state", "new",
            "--log-level", "error",
        ]  # fmt: skip
        members.append(Member("etcd", name, cport, argv, tmp / f"{name}.etcd.log", env=_etcd_env()))
    return members


def kvstore_members(tmp: Path, size: int) -> list[Member]:
    """kvstore members: one without peers, or a cluster sharing one peer secret.

    Like ``etcd_members``: one data dir per member, default Raft timing, peer URLs
    from ``--initial-cluster`` (``--listen-peer-urls`` defaults to them).
    """
    names = [f"kv{i}" for i in range(size)]
    client_ports = [free_port() for _ in names]
    cluster_flags: list[str] = []
    if size > 1:
        peer_ports = [free_port() for _ in names]
        initial = ",".join(
            f"{n}=http://127.0.0.1:{p}" for n, p in zip(names, peer_ports, strict=True)
        )
        secret = tmp / "kvstore-peer-secret"
        secret.write_text(os.urandom(32).hex())
        secret.chmod(0o600)
        cluster_flags = ["--initial-cluster", initial, "--peer-secret-file", str(secret)]
    members = []
    for name, port in zip(names, client_ports, strict=True):
        argv = [
            sys.executable, "-m", "kvstore",
            "--name", name,
            "--data-dir", str(tmp / f"{name}.kvstore"),
            "--listen-client-urls", f"http://127.0.0.1:{port}",
            "--advertise-client-urls", f"http://127.0.0.1:{port}",
            *cluster_flags,
            "--log-level", "warn",
        ]  # fmt: skip
        members.append(Member("kvstore", name, port, argv, tmp / f"{name}.kvstore.log"))
    return members


def floor_members(tmp: Path, size: int, value_bytes: int) -> list[Member]:
    """The floor (``bench.floor``): ``size`` independent empty Python gRPC servers,
    answering gets with values of ``value_bytes`` (the mode's)."""
    members = []
    for i in range(size):
        port = free_port()
        argv = [
            sys.executable, "-m", "bench.floor",
            "--port", str(port), "--value-bytes", str(value_bytes),
        ]  # fmt: skip
        members.append(Member(FLOOR, f"floor{i}", port, argv, tmp / f"floor{i}.log"))
    return members


FLOOR = "grpc-floor"
LAYOUTS: dict[str, Callable[[Path, int], list[Member]]] = {
    "kvstore": kvstore_members,
    "etcd": etcd_members,
}


@contextlib.contextmanager
def deployment(
    system: str, size: int, tmp: Path, value_bytes: int | None = None
) -> Iterator[Deployment]:
    """Start ``size`` members of ``system`` in ``tmp``; always kill and reap them.
    ``value_bytes``: the values the floor answers gets with (the floor only)."""
    tmp.mkdir(parents=True, exist_ok=True)
    if system == FLOOR:
        if value_bytes is None:
            raise ValueError("the floor needs the mode's value size")
        members = floor_members(tmp, size, value_bytes)
    else:
        members = LAYOUTS[system](tmp, size)
    dep = Deployment(system, members)
    try:
        for member in members:
            member.start()
        dep.wait_ready()
        yield dep
    finally:
        for member in members:
            member.kill()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used (fields 14 and 15), from /proc."""
    fields = stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(f"no /proc stat for pid {pid}")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """VmRSS of ``pid`` from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
