"""Real kvstore processes with TLS and auth, driven by Debian's etcdctl.

``tls_member`` runs one member with https client URLs; ``tls_cluster`` runs
three, built on ``tests.support.kvcluster.Cluster`` (only the client side
changes: https URLs, certificates, TLS-aware readiness and status calls).
``Ctl`` is etcdctl with TLS material and optionally ``--user``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kvstore import tlsgen
from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.etcdctl import Etcdctl
from tests.support.kvcluster import SECRET, Cluster, Member
from tests.support.netproxy import LinkProxy
from tests.support.procs import ServerProcess, free_port, wait_until


@dataclass(frozen=True)
class Certs:
    """A throwaway CA with server and client certificates (see kvstore.tlsgen)."""

    dir: Path

    @classmethod
    def make(cls, directory: Path, clients: tuple[str, ...] = ("alice",)) -> Certs:
        tlsgen.generate(directory, clients=clients)
        return cls(directory)

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def server_flags(self, client_cert_auth: bool = True) -> list[str]:
        flags = ["--cert-file", self.path("server.crt"), "--key-file", self.path("server.key")]
        if client_cert_auth:
            flags += ["--trusted-ca-file", self.path("ca.crt"), "--client-cert-auth"]
        return flags

    def credentials(self, client: str | None = "client") -> grpc.ChannelCredentials:
        ca = (self.dir / "ca.crt").read_bytes()
        if client is None:
            return grpc.ssl_channel_credentials(ca)
        key = (self.dir / f"{client}.key").read_bytes()
        cert = (self.dir / f"{client}.crt").read_bytes()
        return grpc.ssl_channel_credentials(ca, key, cert)


def tls_ready(endpoint: str, certs: Certs) -> bool:
    with grpc.secure_channel(endpoint, certs.credentials()) as channel:
        try:
            rpc_pb2_grpc.MaintenanceStub(channel).Status(rpc_pb2.StatusRequest(), timeout=1.0)
        except grpc.RpcError:
            return False
    return True


@dataclass
class TLSServer(ServerProcess):
    """A kvstore process serving https on its client port."""

    certs: Certs | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"

    def wait_ready(self, timeout: float = 20.0) -> None:
        assert self.certs is not None

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"kvstore exited with {self.proc.returncode}:\n{self.log()}")
            return tls_ready(self.endpoint, self.certs)  # type: ignore[arg-type]

        wait_until(ready, timeout=timeout)


@contextlib.contextmanager
def tls_member(
    tmp: Path, certs: Certs, client_cert_auth: bool = True, name: str = "solo"
) -> Iterator[TLSServer]:
    port = free_port()
    data_dir = tmp / name
    url = f"https://127.0.0.1:{port}"
    argv = [
        sys.executable,
        "-m",
        "kvstore",
        "--name",
        name,
        "--data-dir",
        str(data_dir),
        "--listen-client-urls",
        url,
        "--advertise-client-urls",
        url,
        "--log-format",
        "text",
        *certs.server_flags(client_cert_auth),
    ]
    server = TLSServer("kvstore", name, data_dir, port, argv, tmp / f"{name}.log", certs=certs)
    try:
        server.start()
        yield server
    finally:
        server.kill()


@dataclass
class TLSCluster(Cluster):
    """``Cluster`` whose members serve https with mutual TLS."""

    certs: Certs = field(default_factory=lambda: Certs(Path("/nonexistent")))
    #: TLS on the peer transport too (with --peer-client-cert-auth)
    peer_tls: bool = False
    #: per member name: the certificates its peer transport uses (default: certs)
    peer_certs: dict[str, Certs] = field(default_factory=dict)

    def add_member(self, name: str) -> Member:
        client, peer, proxy_port = free_port(), free_port(), free_port()
        server = TLSServer(
            "kvstore", name, self.tmp / name, client, [], self.tmp / f"{name}.log", certs=self.certs
        )
        proxy = LinkProxy(proxy_port, peer, identify=self.owner_of_port)
        proxy.start()
        member = Member(name, server, peer, proxy)
        self.members.append(member)
        return member

    def argv(self, member: Member, state: str = "new", initial: str | None = None) -> list[str]:
        argv = [*super().argv(member, state, initial), *self.certs.server_flags()]
        if self.peer_tls:
            peer = self.peer_certs.get(member.name, self.certs)
            argv += [
                "--peer-cert-file",
                peer.path("peer.crt"),
                "--peer-key-file",
                peer.path("peer.key"),
                "--peer-trusted-ca-file",
                peer.path("ca.crt"),
                "--peer-client-cert-auth",
            ]
        return argv

    def status(self, member: Member) -> rpc_pb2.StatusResponse:
        with grpc.secure_channel(member.endpoint, self.certs.credentials()) as ch:
            resp: rpc_pb2.StatusResponse = rpc_pb2_grpc.MaintenanceStub(ch).Status(
                rpc_pb2.StatusRequest(), timeout=2
            )
            return resp

    def start_all(self) -> None:
        for member in self.members:
            self.start(member, wait=False)
        for member in self.members:
            member.server.wait_ready()
        self.leader()


@contextlib.contextmanager
def tls_cluster(
    tmp: Path, certs: Certs, size: int = 3, peer_tls: bool = False
) -> Iterator[TLSCluster]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "secret").write_text(SECRET)
    cluster = TLSCluster(tmp, certs=certs, peer_tls=peer_tls)
    try:
        for i in range(size):
            cluster.add_member(f"m{i + 1}")
        cluster.start_all()
        yield cluster
    finally:
        cluster.stop()


@dataclass(frozen=True)
class Ctl(Etcdctl):
    """etcdctl with TLS material (``client``: which certificate; None: none)
    and optionally ``--user NAME:PASSWORD``."""

    certs: Certs | None = None
    client: str | None = "client"
    user: str | None = None
    ca: str | None = None

    def argv(self, *args: str) -> list[str]:
        base = super().argv()
        flags: list[str] = []
        if self.certs is not None:
            flags += [f"--cacert={self.ca or self.certs.path('ca.crt')}"]
            if self.client is not None:
                flags += [
                    f"--cert={self.certs.path(self.client + '.crt')}",
                    f"--key={self.certs.path(self.client + '.key')}",
                ]
        if self.user is not None:
            flags.append(f"--user={self.user}")
        return [*base, *flags, *args]

    def error(self, *args: str) -> str:
        """Run a command that must fail; its ``Error:`` line."""
        result = self.run(*args)
        assert result.returncode != 0, f"etcdctl {args} succeeded: {result}"
        assert result.errors, f"etcdctl {args}: no Error line: {result}"
        return result.errors[-1]


def write_rsa_pair(private: Path, public: Path) -> None:
    """A fresh RSA key pair as PEM files (for --auth-token jwt)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def setup_reader(root: Ctl) -> None:
    """root (password rootpw), and alice (password alicepw) with READ on /a/."""
    root.ok("user", "add", "root:rootpw")
    root.ok("user", "add", "alice:alicepw")
    root.ok("role", "add", "reader")
    root.ok("role", "grant-permission", "reader", "read", "/a/", "--prefix")
    root.ok("user", "grant-role", "alice", "reader")
    root.ok("auth", "enable")
