"""etcdctl endpoint/member/snapshot/alarm/defrag subcommands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.etcdctl import Etcdctl
from tests.support.procs import ServerProcess

pytestmark = pytest.mark.compat


def test_endpoint_status(ctl: Etcdctl, server: ServerProcess) -> None:
    ctl.ok("put", "a", "1")
    docs = json.loads(ctl.ok("endpoint", "status", "-w", "json"))
    assert len(docs) == 1
    assert docs[0]["Endpoint"] == server.url
    status = docs[0]["Status"]
    assert status["header"]["revision"] == 2
    assert status["leader"] == status["header"]["member_id"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", status["version"])
    assert status["dbSize"] > 0
    assert status["raftIndex"] >= status["raftAppliedIndex"] > 0
    assert status["raftTerm"] >= 1
    table = ctl.ok("endpoint", "status")
    member_hex = f"{status['header']['member_id']:x}"
    assert table.startswith(f"{server.url}, {member_hex}, {status['version']}, ")
    assert ", true, false, " in table  # is leader, is learner


def test_endpoint_health(ctl: Etcdctl, server: ServerProcess) -> None:
    result = ctl.run("endpoint", "health")
    assert result.returncode == 0
    # etcdctl 3.4 prints the health line on stderr
    assert re.search(
        rf"^{re.escape(server.url)} is healthy: successfully committed proposal: took = ",
        result.stderr,
        re.M,
    ), result
    docs = json.loads(ctl.ok("endpoint", "health", "-w", "json"))
    assert docs[0]["endpoint"] == server.url
    assert docs[0]["health"] is True


def test_member_list(ctl: Etcdctl, server: ServerProcess) -> None:
    doc = json.loads(ctl.ok("member", "list", "-w", "json"))
    (member,) = doc["members"]
    assert member["name"] == "default"
    assert member["clientURLs"] == [server.url]
    assert doc["header"]["member_id"] == member["ID"]
    line = ctl.ok("member", "list")
    assert line.startswith(f"{member['ID']:x}, started, default, ")
    assert line.endswith(f", {server.url}, false\n")


def test_snapshot_save(ctl: Etcdctl, tmp_path: Path) -> None:
    ctl.ok("put", "a", "1")
    target = tmp_path / "snap.db"
    result = ctl.run("snapshot", "save", str(target))
    assert result.returncode == 0, result
    assert result.stdout == f"Snapshot saved at {target}\n"
    assert target.stat().st_size % 512 == 32


def test_alarm_list_defrag_hashkv(ctl: Etcdctl, server: ServerProcess) -> None:
    assert ctl.ok("alarm", "list") == ""
    assert ctl.ok("defrag") == f"Finished defragmenting etcd member[{server.url}]\n"
    ctl.ok("put", "a", "1")
    out = ctl.ok("endpoint", "hashkv")
    match = re.fullmatch(rf"{re.escape(server.url)}, (\d+)\n", out)
    assert match, out
    docs = json.loads(ctl.ok("endpoint", "hashkv", "-w", "json"))
    assert docs[0]["Endpoint"] == server.url
    assert docs[0]["HashKV"]["hash"] == int(match.group(1))
    assert docs[0]["HashKV"]["compact_revision"] == -1
    assert docs[0]["HashKV"]["header"]["revision"] == 2
