"""Peer TLS (--peer-cert-file ...) on top of the peer secret: real 3-member clusters."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

from tests.security.support import Certs, Ctl, TLSCluster, tls_cluster
from tests.support.procs import wait_until


def test_cluster_replicates_over_peer_tls(tmp_path: Path) -> None:
    certs = Certs.make(tmp_path / "certs")
    with tls_cluster(tmp_path / "cluster", certs, peer_tls=True) as cluster:
        leader = cluster.leader()
        Ctl(leader.server.url, certs=certs).ok("put", "k", "v")
        # many TLS records (16 KiB each) in one peer message
        big = "b" * 100_000  # (one argument may hold up to 128 KiB)
        Ctl(leader.server.url, certs=certs).ok("put", "big", big)
        cluster.wait_applied_equal()
        for member in cluster.members:
            ctl = Ctl(member.server.url, certs=certs)
            assert ctl.ok("get", "k", "--print-value-only", "--consistency=s").strip() == "v"
            got = ctl.ok("get", "big", "--print-value-only", "--consistency=s").strip()
            assert got == big, f"{member.name}: {len(got)} bytes"
        # the peer port speaks TLS, with the peer certificate, and wants ours
        ctx = ssl.create_default_context(cafile=certs.path("ca.crt"))
        ctx.load_cert_chain(certs.path("peer.crt"), certs.path("peer.key"))
        with (
            socket.create_connection(("127.0.0.1", leader.peer_port), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            cert = tls.getpeercert()
            assert cert is not None
            assert (("commonName", "kvstore peer"),) in cert["subject"]
        anonymous = ssl.create_default_context(cafile=certs.path("ca.crt"))
        with socket.create_connection(("127.0.0.1", leader.peer_port), timeout=5) as raw:
            tls = anonymous.wrap_socket(raw, server_hostname="127.0.0.1")
            # TLS 1.3: the server's refusal of a client without a certificate
            # arrives with the first read
            with pytest.raises((ssl.SSLError, ConnectionResetError)):
                tls.sendall(b"x")
                tls.recv(1)
            tls.close()


def test_member_with_a_peer_certificate_of_another_ca_cannot_join(tmp_path: Path) -> None:
    certs = Certs.make(tmp_path / "certs")
    stranger = Certs.make(tmp_path / "stranger")
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "secret").write_text("kvstore-test-secret")
    cluster = TLSCluster(tmp_path / "cluster", certs=certs, peer_tls=True)
    cluster.peer_certs["m3"] = stranger
    try:
        for i in range(3):
            cluster.add_member(f"m{i + 1}")
        for member in cluster.members:
            cluster.start(member, wait=False)
        for member in cluster.members:
            member.server.wait_ready()
        m1, m2, m3 = cluster.members
        leader = cluster.leader([m1, m2])
        Ctl(leader.server.url, certs=certs).ok("put", "k", "v")

        def m3_isolated() -> bool:
            status = cluster.status(m3)
            return status.leader == 0 and status.header.revision == 1

        wait_until(m3_isolated, timeout=10)
        assert cluster.status(m1).header.revision > 1
    finally:
        cluster.stop()


def test_a_voter_removed_over_peer_tls_learns_it_and_stops(tmp_path: Path) -> None:
    """Its question (is this member removed?) goes over a TLS link of its own."""
    certs = Certs.make(tmp_path / "certs")
    with tls_cluster(tmp_path / "cluster", certs, peer_tls=True) as cluster:
        target = cluster.lowest  # it opens no Raft link to anyone
        others = [m for m in cluster.members if m is not target]
        member_id = cluster.status(target).header.member_id
        via = Ctl(others[0].server.url, certs=certs)
        via.ok("member", "remove", f"{member_id:x}")
        assert target.server.proc is not None
        assert target.server.proc.wait(timeout=40) == 1
        target.server.proc = None
        assert "this member was removed from the cluster" in target.server.log()
        via.ok("put", "after", "1")
