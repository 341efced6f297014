"""Applying auth management commands to the replicated auth store.

Runs inside the state machine's apply: deterministic, no clock, no hashing (the
edge hashed passwords before proposing). Each function checks everything that
can fail before it writes, and raises the etcd error as a ``KvError``.
"""

from __future__ import annotations

from google.protobuf.message import Message

from kvstore.auth.perms import ROOT
from kvstore.errors import (
    AuthFailedError,
    InvalidAuthMgmtError,
    PermissionNotGrantedError,
    RoleEmptyError,
    RoleExistsError,
    RoleNotFoundError,
    RoleNotGrantedError,
    RootRoleNotExistError,
    RootUserNotExistError,
    UserEmptyError,
    UserExistsError,
    UserNotFoundError,
)
from kvstore.pb import auth_pb2, command_pb2, rpc_pb2
from kvstore.storage.effects import Effects
from kvstore.storage.write import WriteView

AUTH_OPS = frozenset(
    {
        "auth_enable",
        "auth_disable",
        "auth_user_add",
        "auth_user_delete",
        "auth_user_change_password",
        "auth_user_grant_role",
        "auth_user_revoke_role",
        "auth_role_add",
        "auth_role_delete",
        "auth_role_grant_permission",
        "auth_role_revoke_permission",
        "auth_token",
    }
)


def apply_auth(view: WriteView, cmd: command_pb2.Command, effects: Effects) -> Message | None:
    """Apply one auth command (``cmd.WhichOneof("op")`` in ``AUTH_OPS``)."""
    kind = cmd.WhichOneof("op")
    if kind == "auth_enable":
        _enable(view)
        return _stamp(rpc_pb2.AuthEnableResponse(), view)
    if kind == "auth_disable":
        if view.auth_enabled:
            view.set_auth_enabled(False)
            effects.untrusted.append(None)
        return _stamp(rpc_pb2.AuthDisableResponse(), view)
    if kind == "auth_user_add":
        _user_add(view, cmd.auth_user_add)
        return _stamp(rpc_pb2.AuthUserAddResponse(), view)
    if kind == "auth_user_delete":
        _user_delete(view, cmd.auth_user_delete.name)
        effects.untrusted.append(cmd.auth_user_delete.name)
        return _stamp(rpc_pb2.AuthUserDeleteResponse(), view)
    if kind == "auth_user_change_password":
        req = cmd.auth_user_change_password
        user = _user(view, req.name)
        user.password = req.hashedPassword.encode()
        view.auth_put_user(user)
        effects.untrusted.append(req.name)
        return _stamp(rpc_pb2.AuthUserChangePasswordResponse(), view)
    if kind == "auth_user_grant_role":
        _grant_role(view, cmd.auth_user_grant_role)
        return _stamp(rpc_pb2.AuthUserGrantRoleResponse(), view)
    if kind == "auth_user_revoke_role":
        _revoke_role(view, cmd.auth_user_revoke_role)
        return _stamp(rpc_pb2.AuthUserRevokeRoleResponse(), view)
    if kind == "auth_role_add":
        name = cmd.auth_role_add.name
        if not name:
            raise RoleEmptyError()
        if view.auth_role(name) is not None:
            raise RoleExistsError()
        view.auth_put_role(auth_pb2.Role(name=name.encode()))
        return _stamp(rpc_pb2.AuthRoleAddResponse(), view)
    if kind == "auth_role_delete":
        _role_delete(view, cmd.auth_role_delete.role)
        return _stamp(rpc_pb2.AuthRoleDeleteResponse(), view)
    if kind == "auth_role_grant_permission":
        _grant_permission(view, cmd.auth_role_grant_permission)
        return _stamp(rpc_pb2.AuthRoleGrantPermissionResponse(), view)
    if kind == "auth_role_revoke_permission":
        _revoke_permission(view, cmd.auth_role_revoke_permission)
        return _stamp(rpc_pb2.AuthRoleRevokePermissionResponse(), view)
    if kind == "auth_token":
        tok = cmd.auth_token
        holder = view.auth_user(tok.name)
        if not view.auth_enabled or holder is None or holder.password != tok.password_hash:
            raise AuthFailedError()
        effects.tokens.append((tok.token, tok.name))
        return _stamp(rpc_pb2.AuthenticateResponse(token=tok.token), view)
    raise AssertionError(f"not an auth command: {kind!r}")


def _stamp(resp: Message, view: WriteView) -> Message:
    resp.header.revision = view.revision  # type: ignore[attr-defined]
    return resp


def _user(view: WriteView, name: str) -> auth_pb2.User:
    user = view.auth_user(name)
    if user is None:
        raise UserNotFoundError()
    return user


def _enable(view: WriteView) -> None:
    if view.auth_enabled:
        return
    root = view.auth_user(ROOT)
    if root is None:
        raise RootUserNotExistError()
    if ROOT not in root.roles:
        raise RootRoleNotExistError()
    view.set_auth_enabled(True)


def _user_add(view: WriteView, req: rpc_pb2.AuthUserAddRequest) -> None:
    if not req.name:
        raise UserEmptyError()
    if view.auth_user(req.name) is not None:
        raise UserExistsError()
    user = auth_pb2.User(name=req.name.encode(), password=req.hashedPassword.encode())
    if req.HasField("options"):
        user.options.CopyFrom(req.options)
        if req.options.no_password:
            user.password = b""
    view.auth_put_user(user)


def _user_delete(view: WriteView, name: str) -> None:
    if view.auth_enabled and name == ROOT:
        raise InvalidAuthMgmtError()
    _user(view, name)
    view.auth_delete_user(name)


def _grant_role(view: WriteView, req: rpc_pb2.AuthUserGrantRoleRequest) -> None:
    user = _user(view, req.user)
    if req.role != ROOT and view.auth_role(req.role) is None:
        raise RoleNotFoundError()
    if req.role in user.roles:
        return  # as etcd: granting a granted role changes nothing
    roles = sorted([*user.roles, req.role])
    del user.roles[:]
    user.roles.extend(roles)
    view.auth_put_user(user)


def _revoke_role(view: WriteView, req: rpc_pb2.AuthUserRevokeRoleRequest) -> None:
    if view.auth_enabled and req.name == ROOT and req.role == ROOT:
        raise InvalidAuthMgmtError()
    user = _user(view, req.name)
    if req.role not in user.roles:
        raise RoleNotGrantedError()
    user.roles.remove(req.role)
    view.auth_put_user(user)


def _role_delete(view: WriteView, name: str) -> None:
    if view.auth_enabled and name == ROOT:
        raise InvalidAuthMgmtError()
    if view.auth_role(name) is None:
        raise RoleNotFoundError()
    view.auth_delete_role(name)
    for user in view.auth_users():
        if name in user.roles:
            user.roles.remove(name)
            view.auth_put_user(user)


def _role(view: WriteView, name: str) -> auth_pb2.Role:
    role = view.auth_role(name)
    if role is None:
        raise RoleNotFoundError()
    return role


def _grant_permission(view: WriteView, req: rpc_pb2.AuthRoleGrantPermissionRequest) -> None:
    role = _role(view, req.name)
    for perm in role.keyPermission:
        if perm.key == req.perm.key and perm.range_end == req.perm.range_end:
            perm.permType = req.perm.permType  # as etcd: the same range changes type
            break
    else:
        perms = sorted(
            [*role.keyPermission, req.perm], key=lambda p: (bytes(p.key), bytes(p.range_end))
        )
        del role.keyPermission[:]
        role.keyPermission.extend(perms)
    view.auth_put_role(role)


def _revoke_permission(view: WriteView, req: rpc_pb2.AuthRoleRevokePermissionRequest) -> None:
    role = _role(view, req.role)
    for i, perm in enumerate(role.keyPermission):
        if perm.key == req.key and perm.range_end == req.range_end:
            del role.keyPermission[i]
            view.auth_put_role(role)
            return
    raise PermissionNotGrantedError()
