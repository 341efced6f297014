"""etcdserverpb.Auth: users, roles, permissions, enable/disable, Authenticate.

Management calls need an administrator (a user with the ``root`` role) once
auth is enabled; a user may also read itself (UserGet) and its own roles
(RoleGet), as in etcd. Passwords are hashed here, off the event loop, and only
the hash is proposed. Reads are linearizable (a read barrier first).
"""

from __future__ import annotations

import asyncio

from google.protobuf.message import Message

from kvstore.api.context import Member
from kvstore.api.edge import Ctx, unary
from kvstore.auth.passwords import hash_password, verify_password
from kvstore.errors import (
    AuthFailedError,
    AuthNotEnabledError,
    InvalidArgumentError,
    RoleNotFoundError,
    UnsupportedError,
    UserEmptyError,
    UserNotFoundError,
)
from kvstore.pb import command_pb2, rpc_pb2, rpc_pb2_grpc

MAX_NAME_BYTES = 255


class AuthService(rpc_pb2_grpc.AuthServicer):
    def __init__(self, member: Member) -> None:
        self._m = member

    async def _admin_propose(self, cmd: command_pb2.Command) -> Message:
        self._m.auth.authorize(cmd)
        resp = await self._m.proposer.propose(cmd)
        assert resp is not None
        self._m.identity.stamp(resp.header, self._m.proposer.term())  # type: ignore[attr-defined]
        return resp

    # ---- enable / disable / status ----------------------------------------

    @unary
    async def AuthEnable(
        self, request: rpc_pb2.AuthEnableRequest, context: Ctx
    ) -> rpc_pb2.AuthEnableResponse:
        resp = await self._admin_propose(command_pb2.Command(auth_enable=request))
        assert isinstance(resp, rpc_pb2.AuthEnableResponse)
        return resp

    @unary
    async def AuthDisable(
        self, request: rpc_pb2.AuthDisableRequest, context: Ctx
    ) -> rpc_pb2.AuthDisableResponse:
        resp = await self._admin_propose(command_pb2.Command(auth_disable=request))
        assert isinstance(resp, rpc_pb2.AuthDisableResponse)
        return resp

    @unary
    async def AuthStatus(
        self, request: rpc_pb2.AuthStatusRequest, context: Ctx
    ) -> rpc_pb2.AuthStatusResponse:
        await self._m.proposer.read_barrier()
        state = self._m.auth.state()
        return rpc_pb2.AuthStatusResponse(
            header=self._m.header(), enabled=state.enabled, authRevision=state.revision
        )

    @unary
    async def Authenticate(
        self, request: rpc_pb2.AuthenticateRequest, context: Ctx
    ) -> rpc_pb2.AuthenticateResponse:
        state = self._m.auth.state()
        if not state.enabled:
            raise AuthNotEnabledError()
        user = state.users.get(request.name)
        stored = user.password.decode() if user is not None else ""
        ok = await asyncio.to_thread(verify_password, request.password, stored)
        if user is None or not ok:
            raise AuthFailedError()
        cmd = command_pb2.Command(
            auth_token=command_pb2.AuthToken(
                token=self._m.auth.new_token(request.name, state),
                name=request.name,
                password_hash=user.password,
            )
        )
        resp = await self._m.proposer.propose(cmd)
        assert isinstance(resp, rpc_pb2.AuthenticateResponse)
        self._m.identity.stamp(resp.header, self._m.proposer.term())
        return resp

    # ---- users ----------------------------------------------------------------

    @unary
    async def UserAdd(
        self, request: rpc_pb2.AuthUserAddRequest, context: Ctx
    ) -> rpc_pb2.AuthUserAddResponse:
        _check_name(request.name, UserEmptyError)
        if request.hashedPassword:
            raise UnsupportedError("hashedPassword (kvstore hashes passwords itself)")
        self._m.auth.state().check_admin(self._m.auth.user())
        req = rpc_pb2.AuthUserAddRequest()
        req.CopyFrom(request)
        req.password = ""
        if not request.options.no_password:
            req.hashedPassword = await asyncio.to_thread(hash_password, request.password)
        resp = await self._admin_propose(command_pb2.Command(auth_user_add=req))
        assert isinstance(resp, rpc_pb2.AuthUserAddResponse)
        return resp

    @unary
    async def UserGet(
        self, request: rpc_pb2.AuthUserGetRequest, context: Ctx
    ) -> rpc_pb2.AuthUserGetResponse:
        await self._m.proposer.read_barrier()
        guard = self._m.auth
        state, caller = guard.state(), guard.user()
        if request.name != caller or not state.enabled:
            state.check_admin(caller)
        user = state.users.get(request.name)
        if user is None:
            raise UserNotFoundError()
        return rpc_pb2.AuthUserGetResponse(header=self._m.header(), roles=list(user.roles))

    @unary
    async def UserList(
        self, request: rpc_pb2.AuthUserListRequest, context: Ctx
    ) -> rpc_pb2.AuthUserListResponse:
        await self._m.proposer.read_barrier()
        state = self._m.auth.state()
        state.check_admin(self._m.auth.user())
        return rpc_pb2.AuthUserListResponse(header=self._m.header(), users=sorted(state.users))

    @unary
    async def UserDelete(
        self, request: rpc_pb2.AuthUserDeleteRequest, context: Ctx
    ) -> rpc_pb2.AuthUserDeleteResponse:
        resp = await self._admin_propose(command_pb2.Command(auth_user_delete=request))
        assert isinstance(resp, rpc_pb2.AuthUserDeleteResponse)
        return resp

    @unary
    async def UserChangePassword(
        self, request: rpc_pb2.AuthUserChangePasswordRequest, context: Ctx
    ) -> rpc_pb2.AuthUserChangePasswordResponse:
        if request.hashedPassword:
            raise UnsupportedError("hashedPassword (kvstore hashes passwords itself)")
        self._m.auth.state().check_admin(self._m.auth.user())
        req = rpc_pb2.AuthUserChangePasswordRequest(name=request.name)
        req.hashedPassword = await asyncio.to_thread(hash_password, request.password)
        resp = await self._admin_propose(command_pb2.Command(auth_user_change_password=req))
        assert isinstance(resp, rpc_pb2.AuthUserChangePasswordResponse)
        return resp

    @unary
    async def UserGrantRole(
        self, request: rpc_pb2.AuthUserGrantRoleRequest, context: Ctx
    ) -> rpc_pb2.AuthUserGrantRoleResponse:
        resp = await self._admin_propose(command_pb2.Command(auth_user_grant_role=request))
        assert isinstance(resp, rpc_pb2.AuthUserGrantRoleResponse)
        return resp

    @unary
    async def UserRevokeRole(
        self, request: rpc_pb2.AuthUserRevokeRoleRequest, context: Ctx
    ) -> rpc_pb2.AuthUserRevokeRoleResponse:
        resp = await self._admin_propose(command_pb2.Command(auth_user_revoke_role=request))
        assert isinstance(resp, rpc_pb2.AuthUserRevokeRoleResponse)
        return resp

    # ---- roles ----------------------------------------------------------------

    @unary
    async def RoleAdd(
        self, request: rpc_pb2.AuthRoleAddRequest, context: Ctx
    ) -> rpc_pb2.AuthRoleAddResponse:
        _check_name(request.name, None)
        resp = await self._admin_propose(command_pb2.Command(auth_role_add=request))
        assert isinstance(resp, rpc_pb2.AuthRoleAddResponse)
        return resp

    @unary
    async def RoleGet(
        self, request: rpc_pb2.AuthRoleGetRequest, context: Ctx
    ) -> rpc_pb2.AuthRoleGetResponse:
        await self._m.proposer.read_barrier()
        guard = self._m.auth
        state, caller = guard.state(), guard.user()
        own = caller is not None and caller in state.users
        if not (own and request.role in state.users[caller or ""].roles):
            state.check_admin(caller)
        role = state.roles.get(request.role)
        if role is None:
            raise RoleNotFoundError()
        return rpc_pb2.AuthRoleGetResponse(header=self._m.header(), perm=list(role.keyPermission))

    @unary
    async def RoleList(
        self, request: rpc_pb2.AuthRoleListRequest, context: Ctx
    ) -> rpc_pb2.AuthRoleListResponse:
        await self._m.proposer.read_barrier()
        state = self._m.auth.state()
        state.check_admin(self._m.auth.user())
        return rpc_pb2.AuthRoleListResponse(header=self._m.header(), roles=sorted(state.roles))

    @unary
    async def RoleDelete(
        self, request: rpc_pb2.AuthRoleDeleteRequest, context: Ctx
    ) -> rpc_pb2.AuthRoleDeleteResponse:
        resp = await self._admin_propose(command_pb2.Command(auth_role_delete=request))
        assert isinstance(resp, rpc_pb2.AuthRoleDeleteResponse)
        return resp

    @unary
    async def RoleGrantPermission(
        self, request: rpc_pb2.AuthRoleGrantPermissionRequest, context: Ctx
    ) -> rpc_pb2.AuthRoleGrantPermissionResponse:
        cmd = command_pb2.Command(auth_role_grant_permission=request)
        resp = await self._admin_propose(cmd)
        assert isinstance(resp, rpc_pb2.AuthRoleGrantPermissionResponse)
        return resp

    @unary
    async def RoleRevokePermission(
        self, request: rpc_pb2.AuthRoleRevokePermissionRequest, context: Ctx
    ) -> rpc_pb2.AuthRoleRevokePermissionResponse:
        cmd = command_pb2.Command(auth_role_revoke_permission=request)
        resp = await self._admin_propose(cmd)
        assert isinstance(resp, rpc_pb2.AuthRoleRevokePermissionResponse)
        return resp


def _check_name(name: str, empty: type[UserEmptyError] | None) -> None:
    """Names are stored as LMDB keys: keep them short. (An empty role name is
    refused at apply, with etcd's error.)"""
    if not name and empty is not None:
        raise empty()
    if len(name.encode()) > MAX_NAME_BYTES:
        raise InvalidArgumentError(
            f"kvstore: user and role names are limited to {MAX_NAME_BYTES} bytes"
        )
