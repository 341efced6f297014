"""snapshot save / status / restore, and disaster recovery into a new 3-member cluster."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import invoke, ok
from tests.cli.test_cluster import all_published, leader_of
from tests.support.cluster_kvstore import plan_cluster, started
from tests.support.procs import ServerProcess, kvstore_process, running, wait_until


def test_save_status_and_restore_into_a_new_cluster(tmp_path: Path) -> None:
    snap = tmp_path / "backup.db"
    with running(kvstore_process(tmp_path, "old")) as old:
        ep = old.endpoint
        for i in range(20):
            ok(invoke(ep, "put", f"/registry/item/{i:02d}", f"value-{i}"))
        ok(invoke(ep, "del", "/registry/item/19"))
        revision = json.loads(ok(invoke(ep, "-w", "json", "get", "x")))["header"]["revision"]
        assert ok(invoke(ep, "snapshot", "save", str(snap))) == f"Snapshot saved at {snap}\n"

    doc = json.loads(ok(invoke("unused:1", "-w", "json", "snapshot", "status", str(snap))))
    assert doc["revision"] == revision and doc["totalKey"] == 19
    assert doc["totalSize"] == snap.stat().st_size - 32 and len(doc["hash"]) == 64
    assert f", {revision}, 19, " in ok(invoke("unused:1", "snapshot", "status", str(snap)))
    assert "TOTAL KEYS" in ok(invoke("unused:1", "-w", "table", "snapshot", "status", str(snap)))

    (tmp_path / "new").mkdir()
    plan = plan_cluster(tmp_path / "new", prefix="r")
    for i, name in enumerate(plan.names):
        out = ok(
            invoke(
                "unused:1",
                "snapshot",
                "restore",
                str(snap),
                "--data-dir",
                str(plan.data_dir(i)),
                "--name",
                name,
                "--initial-cluster",
                plan.initial_cluster,
                "--initial-advertise-peer-urls",
                plan.peer_url(i),
            )
        )
        assert f"(revision {revision})" in out
        assert (plan.data_dir(i) / "member" / "lmdb" / "data.mdb").exists()
    again = invoke(
        "unused:1", "snapshot", "restore", str(snap), "--data-dir", str(plan.data_dir(0))
    )
    assert again.exit_code == 1 and "exists" in again.stderr

    members: list[ServerProcess] = plan.processes()
    with started(members):
        endpoints = ",".join(m.endpoint for m in members)
        wait_until(lambda: leader_of(endpoints), timeout=30)
        wait_until(lambda: all_published(endpoints), timeout=30)
        for member in members:
            values = ok(invoke(member.endpoint, "get", "--prefix", "/registry/item/",
                               "--print-value-only", "--consistency", "s"))  # fmt: skip
            assert values.split() == [f"value-{i}" for i in range(19)], member.name
        listed = json.loads(ok(invoke(endpoints, "-w", "json", "member", "list")))["members"]
        assert sorted(m["name"] for m in listed) == plan.names
        assert "old" not in ok(invoke(endpoints, "member", "list"))
        # The restored cluster takes writes and keeps the revision sequence going.
        put = json.loads(ok(invoke(endpoints, "-w", "json", "put", "/after", "restore")))
        assert put["header"]["revision"] == revision + 1
