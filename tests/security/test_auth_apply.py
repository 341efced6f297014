"""Auth at apply: management rules, and the re-check of requests checked against an
older auth store (a revoke committed between the edge's check and the apply)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstore.auth.passwords import hash_password, verify_password
from kvstore.auth.perms import AuthState, Interval, covers, merge
from kvstore.auth.tokens import TokenKeeper
from kvstore.config import LeaseConfig, StorageConfig
from kvstore.errors import (
    AuthFailedError,
    PermissionDeniedError,
    RootRoleNotExistError,
    RootUserNotExistError,
    UserEmptyError,
)
from kvstore.pb import auth_pb2, command_pb2, rpc_pb2
from kvstore.raft.fsm import Entry, StateMachine
from kvstore.storage.effects import Effects
from kvstore.storage.store import MvccStore


class Applier:
    def __init__(self, tmp: Path) -> None:
        self.store = MvccStore(StorageConfig(data_dir=tmp, sync=False))
        self.fsm = StateMachine(self.store, LeaseConfig())
        self.index = 0
        self.effects = Effects()

    def __call__(self, **op: object) -> object:
        self.index += 1
        cmd = op.pop("cmd", None) or command_pb2.Command(**op)  # type: ignore[arg-type]
        results, self.effects = self.fsm.apply_batch(
            [Entry(self.index, 1, cmd.SerializeToString())]
        )
        return results[0].result

    def state(self) -> AuthState:
        with self.store.read() as view:
            return AuthState.load(view)


@pytest.fixture
def apply(tmp_path: Path) -> Iterator[Applier]:
    a = Applier(tmp_path)
    yield a
    a.store.close()


def _setup(apply: Applier) -> None:
    apply(auth_user_add=rpc_pb2.AuthUserAddRequest(name="root", hashedPassword="h"))
    assert isinstance(apply(auth_enable=rpc_pb2.AuthEnableRequest()), RootRoleNotExistError)
    apply(auth_user_grant_role=rpc_pb2.AuthUserGrantRoleRequest(user="root", role="root"))
    apply(auth_user_add=rpc_pb2.AuthUserAddRequest(name="alice", hashedPassword="h"))
    apply(auth_role_add=rpc_pb2.AuthRoleAddRequest(name="rw"))
    perm = auth_pb2.Permission(permType=auth_pb2.Permission.READWRITE, key=b"/a/", range_end=b"/a0")
    apply(auth_role_grant_permission=rpc_pb2.AuthRoleGrantPermissionRequest(name="rw", perm=perm))
    apply(auth_user_grant_role=rpc_pb2.AuthUserGrantRoleRequest(user="alice", role="rw"))
    assert isinstance(apply(auth_enable=rpc_pb2.AuthEnableRequest()), rpc_pb2.AuthEnableResponse)


def test_enable_needs_root(apply: Applier) -> None:
    assert isinstance(apply(auth_enable=rpc_pb2.AuthEnableRequest()), RootUserNotExistError)
    _setup(apply)
    assert apply.state().enabled


def test_stale_check_is_redone_at_apply(apply: Applier) -> None:
    _setup(apply)
    checked_at = apply.state().revision
    put = rpc_pb2.PutRequest(key=b"/a/x", value=b"1")
    ok = command_pb2.Command(put=put, auth_user="alice", auth_revision=checked_at)
    assert isinstance(apply(cmd=ok), rpc_pb2.PutResponse)
    # the edge checked against checked_at; a revoke commits before the put applies
    apply(auth_user_revoke_role=rpc_pb2.AuthUserRevokeRoleRequest(name="alice", role="rw"))
    stale = command_pb2.Command(put=put, auth_user="alice", auth_revision=checked_at)
    assert isinstance(apply(cmd=stale), PermissionDeniedError)
    nobody = command_pb2.Command(put=put, auth_revision=0)
    assert isinstance(apply(cmd=nobody), UserEmptyError)
    root = command_pb2.Command(put=put, auth_user="root", auth_revision=checked_at)
    assert isinstance(apply(cmd=root), rpc_pb2.PutResponse)
    # internal commands (no auth_revision) are never checked
    assert isinstance(apply(put=put), rpc_pb2.PutResponse)


def test_token_needs_the_verified_password(apply: Applier) -> None:
    _setup(apply)
    tok = command_pb2.AuthToken(token="t1", name="alice", password_hash=b"h")
    assert isinstance(apply(auth_token=tok), rpc_pb2.AuthenticateResponse)
    assert apply.effects.tokens == [("t1", "alice")]
    req = rpc_pb2.AuthUserChangePasswordRequest(name="alice", hashedPassword="h2")
    apply(auth_user_change_password=req)
    assert apply.effects.untrusted == ["alice"]
    stale = command_pb2.AuthToken(token="t2", name="alice", password_hash=b"h")
    assert isinstance(apply(auth_token=stale), AuthFailedError)


def test_role_delete_removes_it_from_users(apply: Applier) -> None:
    _setup(apply)
    apply(auth_role_delete=rpc_pb2.AuthRoleDeleteRequest(role="rw"))
    assert list(apply.state().users["alice"].roles) == []


def test_passwords() -> None:
    encoded = hash_password("s3cret", n=2**10)
    assert encoded.startswith("scrypt$1024$8$1$")
    assert verify_password("s3cret", encoded)
    assert not verify_password("S3cret", encoded)
    assert not verify_password("s3cret", "")
    assert not verify_password("s3cret", "scrypt$x")
    assert hash_password("s3cret", n=2**10) != encoded  # salted


def test_tokens_expire_and_renew_on_use() -> None:
    now = [0.0]
    keeper = TokenKeeper(ttl=10, clock=lambda: now[0])
    keeper.issue("t", "alice")
    now[0] = 9
    assert keeper.user_of("t") == "alice"
    now[0] = 18  # renewed at 9
    assert keeper.user_of("t") == "alice"
    now[0] = 28.5
    assert keeper.user_of("t") is None
    keeper.issue("u", "bob")
    keeper.untrust(None)
    assert keeper.user_of("u") is None


def test_intervals_merge_and_cover() -> None:
    merged = merge([Interval.of(b"a", b"c"), Interval.of(b"c", b"e"), Interval.of(b"x")])
    assert merged == [Interval(b"a", b"e"), Interval(b"x", b"x\0")]
    assert covers(merged, Interval.of(b"b", b"d"))
    assert not covers(merged, Interval.of(b"b", b"f"))
    assert covers(merged, Interval.of(b"x"))
    assert not covers(merged, Interval.of(b"x", b"\0"))
    assert covers(merge([Interval.of(b"", b"\0")]), Interval.of(b"zzz", b"\0"))
    # same start, bounded and unbounded (found by the property test)
    assert merge([Interval.of(b"b", b"\0"), Interval.of(b"b")]) == [Interval(b"b", None)]
