"""Auth management calls against a real server (etcd and kvstore), each on its own."""

from __future__ import annotations

import pytest

from kvstore.client import (
    Client,
    InvalidAuthMgmtError,
    Permission,
    PermissionDeniedError,
    PermissionNotGrantedError,
    PermissionType,
    RoleExistsError,
    RoleNotGrantedError,
    RootRoleNotExistError,
    RootUserNotExistError,
    UserExistsError,
    UserNotFoundError,
    prefix_end,
)
from tests.support.procs import ServerProcess


async def test_users_roles_and_permissions(fresh_server: ServerProcess) -> None:
    ep = [fresh_server.endpoint]
    async with Client(ep) as c:
        with pytest.raises(RootUserNotExistError):
            await c.auth_enable()
        await c.user_add("root", "rootpw")
        with pytest.raises(UserExistsError):
            await c.user_add("root", "again")
        with pytest.raises(RootRoleNotExistError):
            await c.auth_enable()
        await c.role_add("root")
        await c.user_grant_role("root", "root")

        await c.role_add("reader")
        with pytest.raises(RoleExistsError):
            await c.role_add("reader")
        await c.role_grant_permission("reader", PermissionType.READ, "/a/", prefix_end(b"/a/"))
        await c.role_grant_permission("reader", PermissionType.WRITE, b"/k")
        role = await c.role_get("reader")
        assert role.name == "reader"
        assert role.permissions == [
            Permission(PermissionType.READ, b"/a/", b"/a0"),
            Permission(PermissionType.WRITE, b"/k"),
        ]
        with pytest.raises(PermissionNotGrantedError):
            await c.role_revoke_permission("reader", "/a/")  # granted as a range, not a key

        await c.user_add("alice", "alicepw")
        await c.user_add("bob", no_password=True)
        await c.user_grant_role("alice", "reader")
        assert (await c.user_get("alice")).roles == ["reader"]
        assert (await c.user_get("bob")).roles == []
        assert (await c.user_list()).users == ["alice", "bob", "root"]
        assert (await c.role_list()).roles == ["reader", "root"]
        with pytest.raises(UserNotFoundError):
            await c.user_get("nobody")
        with pytest.raises(RoleNotGrantedError):
            await c.user_revoke_role("bob", "reader")
        await c.user_delete("bob")
        assert (await c.user_list()).users == ["alice", "root"]

        await c.put(b"/a/x", b"1")
        await c.put(b"/b/x", b"2")
        await c.auth_enable()

    async with Client(ep, username="alice", password="alicepw") as alice:
        assert (await alice.get(b"/a/x")).value == b"1"
        with pytest.raises(PermissionDeniedError):
            await alice.get(b"/b/x")
        with pytest.raises(PermissionDeniedError):
            await alice.user_list()

    async with Client(ep, username="root", password="rootpw") as root:
        with pytest.raises(InvalidAuthMgmtError):
            await root.user_delete("root")
        await root.user_change_password("alice", "newpw")
        await root.role_revoke_permission("reader", "/a/", "/a0")
        assert (await root.role_get("reader")).permissions == [
            Permission(PermissionType.WRITE, b"/k")
        ]
        await root.auth_disable()

    # credentials while auth is off are ignored, as etcd's own client does
    async with Client(ep, username="root", password="wrong") as anyone:
        assert (await anyone.get(b"/b/x")).value == b"2"


@pytest.mark.parametrize("fresh_server", ["kvstore"], indirect=True)
async def test_auth_status(fresh_server: ServerProcess) -> None:
    """AuthStatus is etcd 3.5's; Debian's etcd 3.4 does not have it."""
    async with Client([fresh_server.endpoint]) as c:
        before = await c.auth_status()
        assert not before.enabled
        await c.user_add("root", "pw")
        await c.user_grant_role("root", "root")
        await c.auth_enable()
    async with Client([fresh_server.endpoint], username="root", password="pw") as root:
        after = await root.auth_status()
        assert after.enabled and after.auth_revision > before.auth_revision
