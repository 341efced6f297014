"""etcdctl lease subcommands and put --lease."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.etcdctl import Etcdctl

pytestmark = [pytest.mark.compat, pytest.mark.etcd_default_timing]


def grant(ctl: Etcdctl, ttl: int) -> str:
    out = ctl.ok("lease", "grant", str(ttl))
    match = re.fullmatch(rf"lease ([0-9a-f]+) granted with TTL\({ttl}s\)\n", out)
    assert match, out
    return match.group(1)


def test_lease_lifecycle(ctl: Etcdctl) -> None:
    assert ctl.ok("lease", "list") == "found 0 leases\n"
    lease_id = grant(ctl, 100)
    assert ctl.ok("lease", "list") == f"found 1 leases\n{lease_id}\n"
    assert ctl.ok("put", f"--lease={lease_id}", "lk", "lv") == "OK\n"
    ctl.ok("put", f"--lease={lease_id}", "lk2", "lv")
    doc = json.loads(ctl.ok("get", "lk", "-w", "json"))
    assert doc["kvs"][0]["lease"] == int(lease_id, 16)
    assert ctl.ok("lease", "keep-alive", "--once", lease_id) == (
        f"lease {lease_id} keepalived with TTL(100)\n"
    )
    out = ctl.ok("lease", "timetolive", "--keys", lease_id)
    match = re.fullmatch(
        rf"lease {lease_id} granted with TTL\(100s\), remaining\((\d+)s\), "
        r"attached keys\(\[(.*)\]\)\n",
        out,
    )
    assert match, out
    assert sorted(match.group(2).split()) == ["lk", "lk2"]  # etcd's order varies
    ttl = json.loads(ctl.ok("lease", "timetolive", "--keys", lease_id, "-w", "json"))
    assert ttl["id"] == int(lease_id, 16)
    assert ttl["granted-ttl"] == 100
    assert 0 < ttl["ttl"] <= 100
    assert sorted(ttl["keys"]) == ["bGs=", "bGsy"]
    assert ctl.ok("lease", "revoke", lease_id) == f"lease {lease_id} revoked\n"
    assert ctl.ok("get", "lk", "--prefix") == ""
    assert ctl.ok("lease", "list") == "found 0 leases\n"


def test_lease_grant_json_and_min_ttl(ctl: Etcdctl) -> None:
    doc = json.loads(ctl.ok("lease", "grant", "1", "-w", "json"))
    assert doc["TTL"] == 2
    assert doc["ID"] > 0
    assert doc["revision"] == 1
    assert doc["Error"] == ""


def test_unknown_lease(ctl: Etcdctl) -> None:
    assert ctl.ok("lease", "timetolive", "1234") == "lease 0000000000001234 already expired\n"
    doc = json.loads(ctl.ok("lease", "timetolive", "1234", "-w", "json"))
    assert (doc["id"], doc["ttl"], doc["granted-ttl"], doc["keys"]) == (0x1234, -1, 0, None)
    revoke = ctl.run("lease", "revoke", "1234")
    assert revoke.returncode == 1
    assert revoke.errors == [
        "Error: failed to revoke lease (etcdserver: requested lease not found)"
    ]
    put = ctl.run("put", "--lease=1234", "x", "y")
    assert put.returncode == 1
    assert put.errors == ["Error: etcdserver: requested lease not found"]
    keepalive = ctl.run("lease", "keep-alive", "--once", "1234")
    assert keepalive.returncode == 2
    assert keepalive.errors == ["Error: etcdserver: requested lease not found"]
    too_long = ctl.run("lease", "grant", "9000000001")
    assert too_long.returncode == 1
    assert too_long.errors == ["Error: failed to grant lease (etcdserver: too large lease TTL)"]
