"""``auth enable|disable|status``, ``user ...`` and ``role ...``: etcd's auth management.

Names, flags and ``simple`` output follow etcdctl 3.4 (``User alice created``,
``Role r1 updated``, ``role get`` listing the KV Read/Write ranges). ``-w json`` and
``-w fields`` print the server's response as etcdctl does (a change prints only its
header); etcdctl has no tables for these, kvctl prints one for ``get`` and ``list``
and the simple line for a change. ``user get --detail -w json`` prints the user's
document, then each role's, one a line. ``auth status`` is etcdctl 3.5's.

Passwords: ``user add NAME:PASSWORD``, ``--new-user-password``, or else a hidden
prompt (twice) when stdin is a terminal, or one line read from stdin when it is not
(or with ``--interactive=false``). Server errors surface as etcd's message through
the group's error mapping in :mod:`kvstore.cli.main`.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click

from kvstore.cli.flagvalues import on_by_default
from kvstore.cli.main import session
from kvstore.cli.output import Output, b64, go_quote, header_fields, header_json, text
from kvstore.client import (
    AuthStatus,
    Header,
    Permission,
    PermissionType,
    RoleExistsError,
    RoleInfo,
    RoleList,
    RootRoleNotExistError,
    UserInfo,
    UserList,
    prefix_end,
)

ROOT = "root"

PERMISSION_TYPES = {
    "read": PermissionType.READ,
    "write": PermissionType.WRITE,
    "readwrite": PermissionType.READWRITE,
}


def print_change(out: Output, header: Header, line: str) -> None:
    """What a successful change prints: its header in json/fields, else ``line``."""
    if out.fmt == "json":
        out.json({"header": header_json(header)})
    elif out.fmt == "fields":
        out.fields(header_fields(header))
    else:
        out.line(line)


def names_json(header: Header, field: str, names: list[str]) -> dict[str, Any]:
    doc: dict[str, Any] = {"header": header_json(header)}
    if names:
        doc[field] = names
    return doc


def print_names(out: Output, header: Header, field: str, names: list[str]) -> None:
    """``user list`` / ``role list``: one name a line, or the response."""
    if out.fmt == "json":
        out.json(names_json(header, field, names))
    elif out.fmt == "fields":
        out.fields(header_fields(header))
        out.line(f'"{field.capitalize()}" :' + "".join(f" {go_quote(n)}" for n in names))
    elif out.fmt == "table":
        out.table([field.upper().rstrip("S")], [[n] for n in names])
    else:
        for name in names:
            out.line(name)


# --- auth -----------------------------------------------------------------------


@click.group("auth")
def auth_group() -> None:
    """Enable or disable authentication."""


@auth_group.command("enable")
def auth_enable() -> None:
    """Enable authentication (needs a root user).

    As etcdctl does, a root user without the root role is given it first.
    """
    sess = session()
    client = sess.client()
    try:
        client.auth_enable()
    except RootRoleNotExistError:
        with contextlib.suppress(RoleExistsError):
            client.role_add(ROOT)
        client.user_grant_role(ROOT, ROOT)
        client.auth_enable()
    sess.out.line("Authentication Enabled")


@auth_group.command("disable")
def auth_disable() -> None:
    """Disable authentication."""
    sess = session()
    sess.client().auth_disable()
    sess.out.line("Authentication Disabled")


@auth_group.command("status")
def auth_status() -> None:
    """Whether authentication is enabled, and the auth revision."""
    sess = session()
    status: AuthStatus = sess.client().auth_status()
    out = sess.out
    if out.fmt == "json":
        doc: dict[str, Any] = {"header": header_json(status.header)}
        if status.enabled:
            doc["enabled"] = True
        if status.auth_revision:
            doc["authRevision"] = status.auth_revision
        out.json(doc)
    elif out.fmt == "fields":
        pairs = [("Enabled", status.enabled), ("AuthRevision", status.auth_revision)]
        out.fields([*header_fields(status.header), *pairs])
    elif out.fmt == "table":
        out.table(
            ["ENABLED", "AUTH REVISION"], [[str(status.enabled).lower(), str(status.auth_revision)]]
        )
    else:
        out.line(f"Authentication Status: {str(status.enabled).lower()}")
        out.line(f"AuthRevision: {status.auth_revision}")


# --- user -----------------------------------------------------------------------

# --interactive[=true] as etcdctl spells it: a bare flag or --interactive=false
INTERACTIVE = on_by_default(
    "--interactive",
    help="prompt on a terminal; --interactive=false reads the password from stdin",
)


def read_password(name: str, interactive: bool) -> str:
    """A hidden prompt, twice, on a terminal; otherwise one line of stdin."""
    if interactive and sys.stdin.isatty():
        first = click.prompt(f"Password of {name}", hide_input=True, err=True)
        again = click.prompt(
            f"Type password of {name} again for confirmation", hide_input=True, err=True
        )
        if first != again:
            raise click.UsageError("given passwords are different")
        return str(first)
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise click.UsageError(
            f"no password for {name} on stdin (give NAME:PASSWORD, or --no-password)"
        )
    return line


@click.group("user")
def user_group() -> None:
    """User commands."""


@user_group.command("add")
@click.argument("name", metavar="NAME[:PASSWORD]")
@click.option(
    "--no-password", is_flag=True, help="a user without password (TLS common-name login only)"
)
@click.option("--new-user-password", help="the password (NAME is then taken whole)")
@INTERACTIVE
def user_add(
    name: str, no_password: bool, new_user_password: str | None, interactive: bool
) -> None:
    """Add a user; the password is prompted for when not given."""
    password = ""
    if new_user_password is not None:
        password = new_user_password
    elif ":" in name:
        name, _, password = name.partition(":")
    if no_password and password:
        raise click.UsageError("--no-password and a password are mutually exclusive")
    if not name:
        raise click.UsageError("empty user name is not allowed")
    if not no_password and new_user_password is None and not password:
        password = read_password(name, interactive)
    sess = session()
    header: Header = sess.client().user_add(name, password, no_password=no_password)
    print_change(sess.out, header, f"User {name} created")


@user_group.command("delete")
@click.argument("name")
def user_delete(name: str) -> None:
    """Delete a user."""
    sess = session()
    print_change(sess.out, sess.client().user_delete(name), f"User {name} deleted")


@user_group.command("get")
@click.argument("name")
@click.option("--detail", is_flag=True, help="also show the permissions of the user's roles")
def user_get(name: str, detail: bool) -> None:
    """A user and its roles."""
    sess = session()
    client = sess.client()
    user: UserInfo = client.user_get(name)
    roles: list[RoleInfo] = [client.role_get(r) for r in user.roles] if detail else []
    out = sess.out
    if out.fmt == "json":
        out.json(names_json(user.header, "roles", user.roles))
    elif out.fmt == "fields":
        out.fields([*header_fields(user.header), ("User", user.name)])
        out.line('"Roles" :' + "".join(f" {go_quote(r)}" for r in user.roles))
    elif out.fmt == "table":
        out.table(["USER", "ROLES"], [[user.name, ",".join(user.roles)]])
    else:
        out.line(f"User: {user.name}")
        if not detail:
            out.line("Roles:" + "".join(f" {r}" for r in user.roles))
    for role in roles:
        if out.fmt == "simple":
            out.line()
        print_role(out, role)


@user_group.command("list")
def user_list() -> None:
    """List all users."""
    sess = session()
    users: UserList = sess.client().user_list()
    print_names(sess.out, users.header, "users", users.users)


@user_group.command("passwd")
@click.argument("name")
@INTERACTIVE
def user_passwd(name: str, interactive: bool) -> None:
    """Change a user's password (prompted for, or one line of stdin)."""
    password = read_password(name, interactive)
    sess = session()
    header: Header = sess.client().user_change_password(name, password)
    print_change(sess.out, header, "Password updated")


@user_group.command("grant-role")
@click.argument("name")
@click.argument("role")
def user_grant_role(name: str, role: str) -> None:
    """Grant a role to a user."""
    sess = session()
    header: Header = sess.client().user_grant_role(name, role)
    print_change(sess.out, header, f"Role {role} is granted to user {name}")


@user_group.command("revoke-role")
@click.argument("name")
@click.argument("role")
def user_revoke_role(name: str, role: str) -> None:
    """Revoke a role from a user."""
    sess = session()
    header: Header = sess.client().user_revoke_role(name, role)
    print_change(sess.out, header, f"Role {role} is revoked from user {name}")


# --- role -----------------------------------------------------------------------


def range_text(key: bytes, range_end: bytes) -> str:
    """``[key, end)``, or ``[key, <open ended>`` for ``range_end`` "\\0", as etcdctl shows them."""
    if range_end == b"\0":
        return f"[{text(key)}, <open ended>"
    return f"[{text(key)}, {text(range_end)})"


def permission_json(perm: Permission) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if perm.perm_type:
        doc["permType"] = int(perm.perm_type)
    if perm.key:
        doc["key"] = b64(perm.key)
    if perm.range_end:
        doc["range_end"] = b64(perm.range_end)
    return doc


def permission_text(perm: Permission) -> str:
    """One line of ``role get``: the key, or its range (marked when it is a prefix)."""
    if not perm.range_end:
        return text(perm.key)
    shown = range_text(perm.key, perm.range_end)
    if perm.range_end == prefix_end(perm.key):
        shown += f" (prefix {text(perm.key)})"
    return shown


def print_role(out: Output, role: RoleInfo) -> None:
    if out.fmt == "json":
        doc: dict[str, Any] = {"header": header_json(role.header)}
        if role.permissions:
            doc["perm"] = [permission_json(p) for p in role.permissions]
        out.json(doc)
    elif out.fmt == "fields":
        out.fields(header_fields(role.header))
        for perm in role.permissions:
            out.line(f'"PermType" :  {perm.perm_type.name}')  # sic: two spaces, as etcdctl
            out.fields([("Key", text(perm.key)), ("RangeEnd", text(perm.range_end))])
    elif out.fmt == "table":
        rows = [
            [p.perm_type.name, text(p.key), text(p.range_end).replace("\0", "\\x00")]
            for p in role.permissions
        ]
        out.table(["TYPE", "KEY", "RANGE END"], rows)
    else:
        out.line(f"Role {role.name}")
        for title, kinds in (
            ("KV Read:", (PermissionType.READ, PermissionType.READWRITE)),
            ("KV Write:", (PermissionType.WRITE, PermissionType.READWRITE)),
        ):
            out.line(title)
            for perm in role.permissions:
                if perm.perm_type in kinds:
                    out.line("\t" + permission_text(perm))


def permission_range(
    key: str, range_end: str | None, prefix: bool, from_key: bool
) -> tuple[bytes, bytes]:
    """etcdctl's rules: ``KEY [RANGE_END]``, ``--prefix`` or ``--from-key``, one at a time."""
    if prefix and from_key:
        raise click.UsageError("--from-key and --prefix flags are mutually exclusive")
    for flag, given in (("--prefix", prefix), ("--from-key", from_key)):
        if given and range_end is not None:
            raise click.UsageError(f"unexpected endkey argument with {flag} flag")
    k = key.encode()
    if prefix:
        return k, prefix_end(k)
    if from_key:
        return k, b"\0"
    return k, (range_end or "").encode()


@click.group("role")
def role_group() -> None:
    """Role commands."""


@role_group.command("add")
@click.argument("name")
def role_add(name: str) -> None:
    """Add a role."""
    sess = session()
    print_change(sess.out, sess.client().role_add(name), f"Role {name} created")


@role_group.command("delete")
@click.argument("name")
def role_delete(name: str) -> None:
    """Delete a role (users holding it lose it)."""
    sess = session()
    print_change(sess.out, sess.client().role_delete(name), f"Role {name} deleted")


@role_group.command("get")
@click.argument("name")
def role_get(name: str) -> None:
    """A role and the key ranges it may read and write."""
    sess = session()
    print_role(sess.out, sess.client().role_get(name))


@role_group.command("list")
def role_list() -> None:
    """List all roles."""
    sess = session()
    roles: RoleList = sess.client().role_list()
    print_names(sess.out, roles.header, "roles", roles.roles)


@role_group.command("grant-permission")
@click.argument("name")
@click.argument(
    "permission_type",
    metavar="PERMISSION_TYPE",
    type=click.Choice(list(PERMISSION_TYPES), case_sensitive=False),
)
@click.argument("key")
@click.argument("range_end", required=False)
@click.option("--prefix", is_flag=True, help="the keys starting with KEY")
@click.option("--from-key", is_flag=True, help="every key >= KEY (byte order)")
def role_grant_permission(
    name: str, permission_type: str, key: str, range_end: str | None, prefix: bool, from_key: bool
) -> None:
    """Grant PERMISSION_TYPE on KEY, [KEY, RANGE_END), a prefix or KEY onwards."""
    k, end = permission_range(key, range_end, prefix, from_key)
    perm = PERMISSION_TYPES[permission_type.lower()]
    sess = session()
    header: Header = sess.client().role_grant_permission(name, perm, k, end)
    print_change(sess.out, header, f"Role {name} updated")


@role_group.command("revoke-permission")
@click.argument("name")
@click.argument("key")
@click.argument("range_end", required=False)
@click.option("--prefix", is_flag=True, help="the keys starting with KEY")
@click.option("--from-key", is_flag=True, help="every key >= KEY (byte order)")
def role_revoke_permission(
    name: str, key: str, range_end: str | None, prefix: bool, from_key: bool
) -> None:
    """Revoke the permission on exactly the range it was granted on."""
    k, end = permission_range(key, range_end, prefix, from_key)
    sess = session()
    header: Header = sess.client().role_revoke_permission(name, k, end)
    what = f"range {range_text(k, end)}" if end else f"key {key}"
    print_change(sess.out, header, f"Permission of {what} is revoked from role {name}")


def register(group: click.Group) -> None:
    for command in (auth_group, user_group, role_group):
        group.add_command(command)
