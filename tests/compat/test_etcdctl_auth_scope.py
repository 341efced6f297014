"""Which calls auth guards, and with which error, as etcd 3.4 does (both backends).

With auth enabled, etcd 3.4 checks no permission for granting leases, keeping
them alive, reading their TTL and keys, listing them, compacting, alarms and
moving the leader; not even a user is needed. Revoking a lease needs WRITE on
its keys. Defragment, Hash, HashKV and Snapshot need an admin and are refused
with the auth package's own error (code Unknown, "auth: ...").
"""

from __future__ import annotations

import re

import pytest

from tests.security.support import Ctl, setup_reader
from tests.support.procs import ServerProcess

pytestmark = [pytest.mark.compat]

UNKNOWN = "rpc error: code = Unknown desc = auth: "


@pytest.fixture
def users(server: ServerProcess) -> tuple[Ctl, Ctl, Ctl]:
    """root, alice (READ on /a/ only) and a caller without credentials."""
    setup_reader(Ctl(server.url))
    return (
        Ctl(server.url, user="root:rootpw"),
        Ctl(server.url, user="alice:alicepw"),
        Ctl(server.url),
    )


def _grant(ctl: Ctl, ttl: int) -> str:
    match = re.fullmatch(
        rf"lease ([0-9a-f]+) granted with TTL\({ttl}s\)\n", ctl.ok("lease", "grant", str(ttl))
    )
    assert match, "no lease granted"
    return match.group(1)


@pytest.mark.parametrize("who", ["alice", "anonymous"])
def test_leases_need_no_permission_but_revoking_does(users: tuple[Ctl, Ctl, Ctl], who: str) -> None:
    root, alice, anonymous = users
    caller = alice if who == "alice" else anonymous
    lease = _grant(root, 100)
    root.ok("put", "/b/lk", "v", f"--lease={lease}")
    mine = _grant(caller, 60)
    assert caller.ok("lease", "keep-alive", "--once", lease) == (
        f"lease {lease} keepalived with TTL(100)\n"
    )
    # the attached keys are shown although the caller may not read them
    out = caller.ok("lease", "timetolive", "--keys", lease)
    assert re.fullmatch(
        rf"lease {lease} granted with TTL\(100s\), remaining\(\d+s\), attached keys\(\[/b/lk\]\)\n",
        out,
    ), out
    listed = caller.ok("lease", "list").splitlines()
    assert listed[0] == "found 2 leases" and sorted(listed[1:]) == sorted([lease, mine])
    reason = "permission denied" if who == "alice" else "user name is empty"
    refused = caller.error("lease", "revoke", lease)
    assert refused == f"Error: failed to revoke lease (etcdserver: {reason})"
    assert root.ok("get", "/b/lk", "--print-value-only") == "v\n", "the refused revoke deleted"


@pytest.mark.parametrize("who", ["alice", "anonymous"])
def test_compaction_and_alarms_are_open(users: tuple[Ctl, Ctl, Ctl], who: str) -> None:
    root, alice, anonymous = users
    caller = alice if who == "alice" else anonymous
    for i in range(3):
        root.ok("put", "/a/k", str(i))
    assert caller.ok("compaction", "3") == "compacted revision 3\n"
    assert caller.ok("alarm", "list") == ""
    assert caller.ok("alarm", "disarm") == ""


@pytest.mark.parametrize("who", ["alice", "anonymous"])
def test_maintenance_needs_an_admin_and_answers_as_etcd(
    users: tuple[Ctl, Ctl, Ctl], who: str, tmp_path: object
) -> None:
    root, alice, anonymous = users
    caller = alice if who == "alice" else anonymous
    reason = "permission denied" if who == "alice" else "user name is empty"
    for args in (["defrag"], ["endpoint", "hash"], ["endpoint", "hashkv"]):
        result = caller.run(*args)
        assert result.returncode != 0, f"{args} was allowed"
        assert f"{UNKNOWN}{reason}" in result.stderr, (args, result.stderr)
    result = caller.run("snapshot", "save", f"{tmp_path}/s.db")
    assert result.errors == [f"Error: {UNKNOWN}{reason}"], result.stderr
    assert "Finished defragmenting" in root.ok("defrag")
