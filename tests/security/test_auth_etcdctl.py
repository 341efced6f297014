"""etcd-compatible auth, driven by Debian's etcdctl 3.4 against one member.

Expected messages are etcd 3.4's, as its etcdctl prints them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.security.support import Ctl, setup_reader
from tests.support.procs import ServerProcess, kvstore_process, running

DENIED = "Error: etcdserver: permission denied"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with running(kvstore_process(tmp_path)) as proc:
        yield proc


@pytest.fixture
def ctl(server: ServerProcess) -> Ctl:
    return Ctl(server.url)


@pytest.fixture
def root(server: ServerProcess, ctl: Ctl) -> Ctl:
    """Auth enabled: root (rootpw) and alice (READ on /a/); /a/x and /b/x exist."""
    setup_reader(ctl)
    root = Ctl(server.url, user="root:rootpw")
    root.ok("put", "/a/x", "1")
    root.ok("put", "/b/x", "2")
    return root


def test_enable_needs_a_root_user(ctl: Ctl) -> None:
    assert ctl.error("auth", "enable") == "Error: etcdserver: root user does not exist"
    ctl.ok("user", "add", "root:pw")
    # etcdctl adds the root role and grants it when the server says root lacks it
    assert "Authentication Enabled" in ctl.ok("auth", "enable")
    root = Ctl(ctl.url, user="root:pw")
    assert "Roles: root" in root.ok("user", "get", "root")


def test_reader_can_read_its_prefix_only(server: ServerProcess, root: Ctl) -> None:
    alice = Ctl(server.url, user="alice:alicepw")
    assert alice.ok("get", "/a/x", "--print-value-only").strip() == "1"
    assert alice.ok("get", "/a/", "--prefix", "--print-value-only").strip() == "1"
    assert alice.error("get", "/b/x") == DENIED
    assert alice.error("get", "/a") == DENIED
    assert alice.error("get", "/", "--prefix") == DENIED
    assert alice.error("put", "/a/x", "2") == DENIED
    assert alice.error("del", "/a/x") == DENIED
    assert alice.error("user", "list") == DENIED
    assert alice.error("auth", "disable") == DENIED
    # etcd lets a user read itself and its own roles
    assert "Roles: reader" in alice.ok("user", "get", "alice")
    assert "[/a/, /a0) (prefix /a/)" in alice.ok("role", "get", "reader")
    assert root.ok("get", "/a/x", "--print-value-only").strip() == "1"


def test_watch_outside_the_permitted_range_is_refused(server: ServerProcess, root: Ctl) -> None:
    alice = Ctl(server.url, user="alice:alicepw")
    with alice.background("watch", "/b/", "--prefix") as watch:
        assert watch.wait_exit(timeout=15) != 0
    assert any(
        "watch was canceled (rpc error: code = PermissionDenied desc = "
        "etcdserver: permission denied)" in line
        for line in watch.lines
    ), watch.lines
    with alice.background("watch", "/a/", "--prefix") as watch:
        for _ in range(50):  # until the watch is in place (etcdctl prints nothing before)
            root.ok("put", "/a/y", "3")
            if watch.lines:
                break
            time.sleep(0.2)
        watch.wait_for_lines(["PUT", "/a/y", "3"])


def test_wrong_password_and_missing_credentials(server: ServerProcess, root: Ctl) -> None:
    bad = Ctl(server.url, user="alice:nope")
    assert bad.error("get", "/a/x") == (
        "Error: etcdserver: authentication failed, invalid user ID or password"
    )
    assert Ctl(server.url).error("get", "/a/x") == "Error: etcdserver: user name is empty"
    with grpc.insecure_channel(server.endpoint) as channel:
        kv = rpc_pb2_grpc.KVStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            kv.Range(rpc_pb2.RangeRequest(key=b"/a/x"), metadata=[("token", "forged")])
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert err.value.details() == "etcdserver: invalid auth token"
        # Status stays open (health checks), as in etcd
        rpc_pb2_grpc.MaintenanceStub(channel).Status(rpc_pb2.StatusRequest(), timeout=5)


def test_revoked_role_takes_effect_at_once(server: ServerProcess, root: Ctl) -> None:
    alice = Ctl(server.url, user="alice:alicepw")
    assert alice.ok("get", "/a/x", "--print-value-only").strip() == "1"
    root.ok("user", "revoke-role", "alice", "reader")
    assert alice.error("get", "/a/x") == DENIED
    root.ok("user", "grant-role", "alice", "reader")
    root.ok("role", "revoke-permission", "reader", "/a/", "/a0")
    assert alice.error("get", "/a/x") == DENIED
    root.ok("role", "grant-permission", "reader", "readwrite", "/a/", "--prefix")
    alice.ok("put", "/a/x", "new")
    root.ok("role", "delete", "reader")
    assert alice.error("get", "/a/x") == DENIED


def test_token_dies_with_its_user_or_password(server: ServerProcess, root: Ctl) -> None:
    with grpc.insecure_channel(server.endpoint) as channel:
        auth = rpc_pb2_grpc.AuthStub(channel)
        kv = rpc_pb2_grpc.KVStub(channel)
        token = auth.Authenticate(rpc_pb2.AuthenticateRequest(name="alice", password="alicepw"))
        md = [("token", token.token)]
        kv.Range(rpc_pb2.RangeRequest(key=b"/a/x"), metadata=md)
        root.ok("user", "passwd", "alice", "--interactive=false", stdin="newpw\n")
        with pytest.raises(grpc.RpcError) as err:
            kv.Range(rpc_pb2.RangeRequest(key=b"/a/x"), metadata=md)
        assert err.value.details() == "etcdserver: invalid auth token"
        assert Ctl(server.url, user="alice:newpw").ok("get", "/a/x")


def test_management_errors_match_etcd(server: ServerProcess, root: Ctl) -> None:
    assert root.error("user", "add", "alice:x") == "Error: etcdserver: user name already exists"
    assert root.error("user", "get", "bob") == "Error: etcdserver: user name not found"
    assert root.error("role", "get", "nope") == "Error: etcdserver: role name not found"
    assert root.error("role", "add", "reader") == "Error: etcdserver: role name already exists"
    assert root.error("role", "revoke-permission", "reader", "/zzz") == (
        "Error: etcdserver: permission is not granted to the role"
    )
    assert root.error("user", "revoke-role", "alice", "nope") == (
        "Error: etcdserver: role is not granted to the user"
    )
    assert root.error("user", "grant-role", "alice", "ghost") == (
        "Error: etcdserver: role name not found"
    )
    mgmt = "Error: etcdserver: invalid auth management"
    assert root.error("user", "revoke-role", "root", "root") == mgmt
    assert root.error("user", "delete", "root") == mgmt
    assert root.error("role", "delete", "root") == mgmt
    assert root.ok("user", "list").split() == ["alice", "root"]
    assert root.ok("role", "list").split() == ["reader", "root"]


def test_disable_turns_checks_off(server: ServerProcess, root: Ctl) -> None:
    root.ok("auth", "disable")
    plain = Ctl(server.url)
    assert plain.ok("get", "/b/x", "--print-value-only").strip() == "2"
    with grpc.insecure_channel(server.endpoint) as channel:
        with pytest.raises(grpc.RpcError) as err:
            rpc_pb2_grpc.AuthStub(channel).Authenticate(
                rpc_pb2.AuthenticateRequest(name="root", password="rootpw")
            )
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert err.value.details() == "etcdserver: authentication is not enabled"
