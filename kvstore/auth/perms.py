"""Who may touch which keys: key-range permissions, as etcd's auth store has them.

A permission is a half-open key range with a type (READ, WRITE, READWRITE),
written like a request range: an empty ``range_end`` is the single key,
``range_end == b"\\0"`` means "every key from ``key`` on". A user's roles give
it the union of their ranges; the ``root`` role gives everything, and makes the
user an administrator (user/role management, auth disable, maintenance).

A request range is permitted when the union of the user's ranges of that type,
merged into disjoint intervals, contains it entirely. Worked example: READ on
``[a, c)`` and on ``[c, e)`` merge into ``[a, e)``, so a range request for
``[b, d)`` is permitted though neither permission alone contains it; ``[b, f)``
is not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kvstore.errors import PermissionDeniedError, UserEmptyError
from kvstore.pb import auth_pb2, command_pb2, rpc_pb2
from kvstore.storage.view import ReadView

ROOT = "root"
READ = auth_pb2.Permission.READ
WRITE = auth_pb2.Permission.WRITE
READWRITE = auth_pb2.Permission.READWRITE
#: commands etcd 3.4 lets anyone propose, with auth on and even without a user:
#: it checks no permission for LeaseGrant and Compact
OPEN_COMMANDS = frozenset({"lease_grant", "compaction"})


@dataclass(frozen=True, slots=True)
class Interval:
    """``[start, end)``; ``end`` None: unbounded."""

    start: bytes
    end: bytes | None

    @staticmethod
    def of(key: bytes, range_end: bytes = b"") -> Interval:
        if not range_end:
            return Interval(key, key + b"\0")
        if range_end == b"\0":
            return Interval(key, None)
        return Interval(key, range_end)

    def is_empty(self) -> bool:
        return self.end is not None and self.end <= self.start

    def sort_key(self) -> tuple[bytes, bool, bytes]:
        """By start, then end (unbounded last)."""
        return (self.start, self.end is None, self.end or b"")


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Disjoint, sorted intervals covering the same keys (touching ones joined)."""
    out: list[Interval] = []
    for iv in sorted((i for i in intervals if not i.is_empty()), key=Interval.sort_key):
        if out and (out[-1].end is None or iv.start <= out[-1].end):
            last = out[-1]
            end = None if last.end is None or iv.end is None else max(last.end, iv.end)
            out[-1] = Interval(last.start, end)
        else:
            out.append(iv)
    return out


def covers(merged: list[Interval], want: Interval) -> bool:
    """Does one of the disjoint ``merged`` intervals contain ``want``?

    An empty request range (end <= start) needs its start key."""
    if want.is_empty():
        want = Interval.of(want.start)
    for iv in merged:
        if iv.start > want.start:
            return False
        if iv.end is None or (want.end is not None and want.end <= iv.end):
            return True
    return False


@dataclass(slots=True)
class UserPerms:
    root: bool
    read: list[Interval]
    write: list[Interval]

    def allows(self, kind: int, key: bytes, range_end: bytes = b"") -> bool:
        if self.root:
            return True
        want = Interval.of(key, range_end)
        return covers(self.read if kind == READ else self.write, want)


@dataclass
class AuthState:
    """A consistent copy of the auth store (one auth revision), with the checks.

    ``user`` arguments are the caller's name, or None for a caller who gave
    neither a token nor a client certificate. With auth disabled every check
    passes.
    """

    enabled: bool = False
    revision: int = 0
    users: dict[str, auth_pb2.User] = field(default_factory=dict)
    roles: dict[str, auth_pb2.Role] = field(default_factory=dict)
    _perms: dict[str, UserPerms] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, view: ReadView) -> AuthState:
        return cls(
            enabled=view.auth_enabled,
            revision=view.auth_revision,
            users={u.name.decode(): u for u in view.auth_users()},
            roles={r.name.decode(): r for r in view.auth_roles()},
        )

    def perms_of(self, name: str) -> UserPerms:
        cached = self._perms.get(name)
        if cached is not None:
            return cached
        user = self.users.get(name)
        roles = list(user.roles) if user is not None else []
        read: list[Interval] = []
        write: list[Interval] = []
        for role_name in roles:
            role = self.roles.get(role_name)
            if role is None:
                continue
            for perm in role.keyPermission:
                iv = Interval.of(perm.key, perm.range_end)
                if perm.permType in (READ, READWRITE):
                    read.append(iv)
                if perm.permType in (WRITE, READWRITE):
                    write.append(iv)
        perms = UserPerms(ROOT in roles, merge(read), merge(write))
        self._perms[name] = perms
        return perms

    # ---- checks (raise PermissionDeniedError / UserEmptyError) --------------

    def require_user(self, user: str | None) -> str | None:
        """With auth on: the caller must be a known user. Returns the name."""
        if not self.enabled:
            return user
        if not user:
            raise UserEmptyError()
        if user not in self.users:
            raise PermissionDeniedError()
        return user

    def is_admin(self, user: str | None) -> bool:
        if not self.enabled:
            return True
        return bool(user) and user in self.users and self.perms_of(user or "").root

    def admin_error(self, user: str | None) -> str | None:
        """Why ``check_admin`` refuses ``user``, in the auth package's words
        (etcd's maintenance service sends them raw); None when it is one."""
        try:
            self.check_admin(user)
        except UserEmptyError:
            return "auth: user name is empty"
        except PermissionDeniedError:
            return "auth: permission denied" if user in self.users else "auth: user not found"
        return None

    def check_admin(self, user: str | None) -> None:
        self.require_user(user)
        if not self.is_admin(user):
            raise PermissionDeniedError()

    def check(self, user: str | None, kind: int, key: bytes, range_end: bytes = b"") -> None:
        if not self.enabled:
            return
        name = self.require_user(user)
        assert name is not None
        if not self.perms_of(name).allows(kind, key, range_end):
            raise PermissionDeniedError()

    def check_range(self, user: str | None, req: rpc_pb2.RangeRequest) -> None:
        self.check(user, READ, req.key, req.range_end)

    def check_put(self, user: str | None, req: rpc_pb2.PutRequest) -> None:
        self.check(user, WRITE, req.key)
        if req.prev_kv:
            self.check(user, READ, req.key)

    def check_delete(self, user: str | None, req: rpc_pb2.DeleteRangeRequest) -> None:
        self.check(user, WRITE, req.key, req.range_end)
        if req.prev_kv:
            self.check(user, READ, req.key, req.range_end)

    def check_txn(self, user: str | None, req: rpc_pb2.TxnRequest) -> None:
        if not self.enabled:
            return
        for cmp in req.compare:
            self.check(user, READ, cmp.key, cmp.range_end)
        for op in [*req.success, *req.failure]:
            kind = op.WhichOneof("request")
            if kind == "request_range":
                self.check_range(user, op.request_range)
            elif kind == "request_put":
                self.check_put(user, op.request_put)
            elif kind == "request_delete_range":
                self.check_delete(user, op.request_delete_range)
            elif kind == "request_txn":
                self.check_txn(user, op.request_txn)

    def check_lease_keys(self, user: str | None, keys: Iterable[bytes]) -> None:
        """Revoking a lease deletes its keys: the caller needs WRITE on each."""
        self.require_user(user)
        for key in keys:
            self.check(user, WRITE, key)

    def check_command(
        self, cmd: command_pb2.Command, lease_keys: Callable[[int], list[bytes]]
    ) -> None:
        """Check a client command again at apply (the auth store changed since
        the edge checked it). Deterministic: reads only this state."""
        if not self.enabled:
            return
        user = cmd.auth_user or None
        kind = cmd.WhichOneof("op")
        if kind == "put":
            self.check_put(user, cmd.put)
        elif kind == "delete_range":
            self.check_delete(user, cmd.delete_range)
        elif kind == "txn":
            self.check_txn(user, cmd.txn)
        elif kind == "lease_revoke":
            self.check_lease_keys(user, lease_keys(cmd.lease_revoke.ID))
        elif kind is not None and kind.startswith("auth_") and kind != "auth_token":
            self.check_admin(user)
        elif kind not in OPEN_COMMANDS:
            self.require_user(user)
