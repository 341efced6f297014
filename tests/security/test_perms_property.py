"""No sequence of grants and revokes leaves a permission a naive model would not grant.

Commands go through the real state machine (LMDB, exactly-once apply); the
permissions are then read back the way the gRPC edge reads them (``AuthState``)
and compared with a model that keeps grants in plain dicts and checks keys one
by one.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kvstore.auth.perms import READ, READWRITE, WRITE, AuthState
from kvstore.config import LeaseConfig, StorageConfig
from kvstore.pb import auth_pb2, command_pb2, rpc_pb2
from kvstore.raft.fsm import Entry, StateMachine
from kvstore.storage.store import MvccStore

USERS = ["alice", "bob"]
ROLES = ["r1", "r2", "r3"]
#: (key, range_end) in etcd's notation: "" single key, "\0" from key on
RANGES = [
    (b"a", b""),
    (b"b", b""),
    (b"ab", b""),
    (b"a", b"b"),  # prefix a
    (b"a", b"c"),
    (b"b", b"\0"),
    (b"aa", b"ab"),
    (b"c", b"d"),
]
PROBES = [b"a", b"a\0", b"aa", b"aa\0", b"ab", b"abc", b"b", b"ba", b"c", b"cz", b"d", b"z"]
TYPES = [READ, WRITE, READWRITE]


def in_range(probe: bytes, key: bytes, end: bytes) -> bool:
    if not end:
        return probe == key
    if end == b"\0":
        return probe >= key
    return key <= probe < end


class Model:
    def __init__(self) -> None:
        self.roles: dict[str, dict[tuple[bytes, bytes], int]] = {}
        self.users: dict[str, set[str]] = {u: set() for u in USERS}

    def allows(self, user: str, kind: int, probe: bytes) -> bool:
        for role in self.users[user]:
            for (key, end), ptype in self.roles.get(role, {}).items():
                if ptype in (kind, READWRITE) and in_range(probe, key, end):
                    return True
        return False


class AuthMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="kvstore-auth-prop-"))
        self.store = MvccStore(StorageConfig(data_dir=self.dir, sync=False))
        self.fsm = StateMachine(self.store, LeaseConfig())
        self.index = 0
        self.model = Model()
        for user in USERS:
            self.apply(command_pb2.Command(auth_user_add=rpc_pb2.AuthUserAddRequest(name=user)))

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def apply(self, cmd: command_pb2.Command) -> object:
        self.index += 1
        results, _ = self.fsm.apply_batch([Entry(self.index, 1, cmd.SerializeToString())])
        return results[0].result

    @rule(role=st.sampled_from(ROLES))
    def add_role(self, role: str) -> None:
        self.apply(command_pb2.Command(auth_role_add=rpc_pb2.AuthRoleAddRequest(name=role)))
        self.model.roles.setdefault(role, {})

    @rule(role=st.sampled_from(ROLES))
    def delete_role(self, role: str) -> None:
        self.apply(command_pb2.Command(auth_role_delete=rpc_pb2.AuthRoleDeleteRequest(role=role)))
        if self.model.roles.pop(role, None) is not None:
            for roles in self.model.users.values():
                roles.discard(role)

    @rule(role=st.sampled_from(ROLES), rng=st.sampled_from(RANGES), ptype=st.sampled_from(TYPES))
    def grant_permission(self, role: str, rng: tuple[bytes, bytes], ptype: int) -> None:
        perm = auth_pb2.Permission(permType=ptype, key=rng[0], range_end=rng[1])  # type: ignore[arg-type]
        req = rpc_pb2.AuthRoleGrantPermissionRequest(name=role, perm=perm)
        self.apply(command_pb2.Command(auth_role_grant_permission=req))
        if role in self.model.roles:
            self.model.roles[role][rng] = ptype

    @rule(role=st.sampled_from(ROLES), rng=st.sampled_from(RANGES))
    def revoke_permission(self, role: str, rng: tuple[bytes, bytes]) -> None:
        req = rpc_pb2.AuthRoleRevokePermissionRequest(role=role, key=rng[0], range_end=rng[1])
        self.apply(command_pb2.Command(auth_role_revoke_permission=req))
        if role in self.model.roles:
            self.model.roles[role].pop(rng, None)

    @rule(user=st.sampled_from(USERS), role=st.sampled_from(ROLES))
    def grant_role(self, user: str, role: str) -> None:
        req = rpc_pb2.AuthUserGrantRoleRequest(user=user, role=role)
        self.apply(command_pb2.Command(auth_user_grant_role=req))
        if role in self.model.roles:
            self.model.users[user].add(role)

    @rule(user=st.sampled_from(USERS), role=st.sampled_from(ROLES))
    def revoke_role(self, user: str, role: str) -> None:
        req = rpc_pb2.AuthUserRevokeRoleRequest(name=user, role=role)
        self.apply(command_pb2.Command(auth_user_revoke_role=req))
        self.model.users[user].discard(role)

    @invariant()
    def permissions_match_the_model(self) -> None:
        with self.store.read() as view:
            state = AuthState.load(view)
        for user in USERS:
            perms = state.perms_of(user)
            for kind in (READ, WRITE):
                for probe in PROBES:
                    assert perms.allows(kind, probe) == self.model.allows(user, kind, probe), (
                        user,
                        kind,
                        probe,
                    )
                # a range is allowed only if every key in it is
                for key, end in [*RANGES, (b"a", b"\0"), (b"", b"\0"), (b"aa", b"b")]:
                    if perms.allows(kind, key, end):
                        for probe in PROBES:
                            if in_range(probe, key, end):
                                assert self.model.allows(user, kind, probe), (user, key, end)


AuthMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestAuthPermissions = AuthMachine.TestCase
