"""Auth and TLS on a real 3-member cluster: replication, revocation, full restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.support import Certs, Ctl, TLSCluster, setup_reader, tls_cluster

DENIED = "Error: etcdserver: permission denied"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[TLSCluster]:
    certs = Certs.make(tmp_path / "certs")
    with tls_cluster(tmp_path / "cluster", certs) as cl:
        yield cl


def ctl(cluster: TLSCluster, i: int, user: str | None = None, client: str = "client") -> Ctl:
    member = cluster.members[i]
    return Ctl(member.server.url, certs=cluster.certs, client=client, user=user)


def test_users_roles_and_tokens_work_on_every_member(cluster: TLSCluster) -> None:
    setup_reader(ctl(cluster, 0, user="root:rootpw"))
    ctl(cluster, 1, user="root:rootpw").ok("put", "/a/x", "1")
    all_eps = ",".join(m.server.url for m in cluster.members)
    alice_all = Ctl(all_eps, certs=cluster.certs, user="alice:alicepw")
    for _ in range(3):  # etcdctl balances over the endpoints
        assert alice_all.ok("get", "/a/x", "--print-value-only").strip() == "1"
        assert alice_all.error("get", "/b/x") == DENIED
    for i in range(3):
        alice = ctl(cluster, i, user="alice:alicepw")
        assert alice.ok("get", "/a/x", "--print-value-only").strip() == "1"
        assert alice.error("put", "/a/x", "2") == DENIED


def test_revocation_on_one_member_is_seen_at_once_by_another(cluster: TLSCluster) -> None:
    setup_reader(ctl(cluster, 0, user="root:rootpw"))
    ctl(cluster, 0, user="root:rootpw").ok("put", "/a/x", "1")
    alice_2 = ctl(cluster, 2, user="alice:alicepw")
    assert alice_2.ok("get", "/a/x", "--print-value-only").strip() == "1"
    ctl(cluster, 0, user="root:rootpw").ok("user", "revoke-role", "alice", "reader")
    # a linearizable read checks permissions after its read barrier
    assert alice_2.error("get", "/a/x") == DENIED
    # and a CN-authenticated client on yet another member
    assert ctl(cluster, 1, client="alice").error("get", "/a/x") == DENIED


def test_auth_survives_a_full_restart(cluster: TLSCluster) -> None:
    root = ctl(cluster, 0, user="root:rootpw")
    setup_reader(root)
    root.ok("put", "/a/x", "1")
    root.ok("role", "add", "writer")
    root.ok("role", "grant-permission", "writer", "write", "/w/", "--prefix")
    root.ok("user", "add", "bob:bobpw")
    root.ok("user", "grant-role", "bob", "writer")
    cluster.wait_applied_equal()
    for member in cluster.members:
        member.server.kill()
    cluster.start_all()
    for i in range(3):
        alice = ctl(cluster, i, user="alice:alicepw")
        assert alice.ok("get", "/a/x", "--print-value-only").strip() == "1"
        assert alice.error("get", "/w/x") == DENIED
        bob = ctl(cluster, i, user="bob:bobpw")
        bob.ok("put", f"/w/{i}", "v")
        assert bob.error("get", f"/w/{i}") == DENIED
        assert ctl(cluster, i, user="alice:wrong").error("get", "/a/x") == (
            "Error: etcdserver: authentication failed, invalid user ID or password"
        )
        assert ctl(cluster, i, client="alice").ok("get", "/a/x", "--print-value-only")
    status = ctl(cluster, 1, user="root:rootpw").ok("user", "get", "bob")
    assert "Roles: writer" in status
