"""Authentication management: enable/disable, users, roles and key permissions.

These are etcd's Auth service calls. Once auth is enabled the server accepts them
only from a user holding the ``root`` role (a user may still read itself and its
own roles). Calls that change something are writes under the retry contract of
:mod:`kvstore.client._connection`; ``*_get``, ``*_list`` and ``auth_status`` are reads.
Permissions cover ``[key, range_end)``; an empty ``range_end`` is the single key and
``b"\\0"`` every key ≥ ``key``, as in a Range.
"""

from __future__ import annotations

from kvstore.client._connection import Connection
from kvstore.client._types import (
    AuthStatus,
    Header,
    KeyLike,
    Permission,
    PermissionType,
    RoleInfo,
    RoleList,
    UserInfo,
    UserList,
    to_bytes,
)
from kvstore.pb import auth_pb2, rpc_pb2


class AuthMixin:
    _conn: Connection

    # --- enable / disable -------------------------------------------------------

    async def auth_enable(self) -> Header:
        """Turn auth on; the server requires a ``root`` user holding the ``root`` role."""
        request = rpc_pb2.AuthEnableRequest()
        r = await self._conn.call(lambda s: s.auth.AuthEnable, request, mutation=True)
        return Header.from_pb(r.header)

    async def auth_disable(self) -> Header:
        request = rpc_pb2.AuthDisableRequest()
        r = await self._conn.call(lambda s: s.auth.AuthDisable, request, mutation=True)
        return Header.from_pb(r.header)

    async def auth_status(self) -> AuthStatus:
        request = rpc_pb2.AuthStatusRequest()
        r = await self._conn.call(lambda s: s.auth.AuthStatus, request, mutation=False)
        return AuthStatus(Header.from_pb(r.header), r.enabled, r.authRevision)

    # --- users ------------------------------------------------------------------

    async def user_add(self, name: str, password: str = "", *, no_password: bool = False) -> Header:
        """Add a user; ``no_password`` makes one that can only log in by TLS certificate."""
        request = rpc_pb2.AuthUserAddRequest(
            name=name,
            password="" if no_password else password,
            options=auth_pb2.UserAddOptions(no_password=no_password),
        )
        r = await self._conn.call(lambda s: s.auth.UserAdd, request, mutation=True)
        return Header.from_pb(r.header)

    async def user_get(self, name: str) -> UserInfo:
        request = rpc_pb2.AuthUserGetRequest(name=name)
        r = await self._conn.call(lambda s: s.auth.UserGet, request, mutation=False)
        return UserInfo(Header.from_pb(r.header), name, list(r.roles))

    async def user_list(self) -> UserList:
        request = rpc_pb2.AuthUserListRequest()
        r = await self._conn.call(lambda s: s.auth.UserList, request, mutation=False)
        return UserList(Header.from_pb(r.header), list(r.users))

    async def user_delete(self, name: str) -> Header:
        request = rpc_pb2.AuthUserDeleteRequest(name=name)
        r = await self._conn.call(lambda s: s.auth.UserDelete, request, mutation=True)
        return Header.from_pb(r.header)

    async def user_change_password(self, name: str, password: str) -> Header:
        request = rpc_pb2.AuthUserChangePasswordRequest(name=name, password=password)
        r = await self._conn.call(lambda s: s.auth.UserChangePassword, request, mutation=True)
        return Header.from_pb(r.header)

    async def user_grant_role(self, user: str, role: str) -> Header:
        request = rpc_pb2.AuthUserGrantRoleRequest(user=user, role=role)
        r = await self._conn.call(lambda s: s.auth.UserGrantRole, request, mutation=True)
        return Header.from_pb(r.header)

    async def user_revoke_role(self, user: str, role: str) -> Header:
        request = rpc_pb2.AuthUserRevokeRoleRequest(name=user, role=role)
        r = await self._conn.call(lambda s: s.auth.UserRevokeRole, request, mutation=True)
        return Header.from_pb(r.header)

    # --- roles ------------------------------------------------------------------

    async def role_add(self, name: str) -> Header:
        request = rpc_pb2.AuthRoleAddRequest(name=name)
        r = await self._conn.call(lambda s: s.auth.RoleAdd, request, mutation=True)
        return Header.from_pb(r.header)

    async def role_get(self, name: str) -> RoleInfo:
        request = rpc_pb2.AuthRoleGetRequest(role=name)
        r = await self._conn.call(lambda s: s.auth.RoleGet, request, mutation=False)
        return RoleInfo(Header.from_pb(r.header), name, [Permission.from_pb(p) for p in r.perm])

    async def role_list(self) -> RoleList:
        request = rpc_pb2.AuthRoleListRequest()
        r = await self._conn.call(lambda s: s.auth.RoleList, request, mutation=False)
        return RoleList(Header.from_pb(r.header), list(r.roles))

    async def role_delete(self, name: str) -> Header:
        request = rpc_pb2.AuthRoleDeleteRequest(role=name)
        r = await self._conn.call(lambda s: s.auth.RoleDelete, request, mutation=True)
        return Header.from_pb(r.header)

    async def role_grant_permission(
        self,
        name: str,
        perm_type: PermissionType,
        key: KeyLike,
        range_end: KeyLike = b"",
    ) -> Header:
        """Grant ``perm_type`` on ``[key, range_end)``; the same range again changes its type."""
        perm = auth_pb2.Permission(
            permType=int(perm_type),  # type: ignore[arg-type]
            key=to_bytes(key),
            range_end=to_bytes(range_end),
        )
        request = rpc_pb2.AuthRoleGrantPermissionRequest(name=name, perm=perm)
        r = await self._conn.call(lambda s: s.auth.RoleGrantPermission, request, mutation=True)
        return Header.from_pb(r.header)

    async def role_revoke_permission(
        self, name: str, key: KeyLike, range_end: KeyLike = b""
    ) -> Header:
        """Revoke the permission on exactly ``[key, range_end)`` (as it was granted)."""
        request = rpc_pb2.AuthRoleRevokePermissionRequest(
            role=name, key=to_bytes(key), range_end=to_bytes(range_end)
        )
        r = await self._conn.call(lambda s: s.auth.RoleRevokePermission, request, mutation=True)
        return Header.from_pb(r.header)
