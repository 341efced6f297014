"""Cluster and maintenance calls against a real server."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from kvstore.client import AlarmType, Client, ClientError
from tests.support.procs import ServerProcess


async def test_member_list_and_status(client: Client, server: ServerProcess) -> None:
    members = await client.member_list()
    assert len(members) == 1
    assert members[0].client_urls == [server.url]
    status = await client.status()
    assert status.leader == members[0].id == status.header.member_id
    assert status.db_size > 0 and status.raft_term >= 1 and status.version
    pinned = await client.status(endpoint=server.endpoint)
    assert pinned.header.member_id == members[0].id


async def test_alarms_defragment_hash(client: Client, ns: bytes) -> None:
    assert await client.alarms() == []
    assert await client.alarm_disarm(0, AlarmType.NOSPACE) == []
    await client.put(ns + b"h", b"v")
    await client.defragment()
    first = await client.hash_kv()
    second = await client.hash_kv(first.header.revision)
    assert first.hash == second.hash and first.header.revision > 0


async def test_snapshot_streams_to_file_with_progress(client: Client, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    target = tmp_path / "db.snap"
    written = await client.snapshot(target, progress=lambda done, left: calls.append((done, left)))
    assert written == target.stat().st_size > 0
    assert calls and calls[-1] == (written, 0)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert not (tmp_path / "db.snap.part").exists()


async def test_member_add_learner_and_remove(fresh_server: ServerProcess) -> None:
    async with Client([fresh_server.endpoint]) as c:
        if fresh_server.kind == "kvstore":
            # a kvstore member started without peers has no Raft to add to
            # (see tests/cluster/test_learner.py for learners in a cluster)
            with pytest.raises(ClientError) as err:
                await c.member_add(["http://127.0.0.1:1"], is_learner=True)
            assert err.value.code == grpc.StatusCode.UNIMPLEMENTED
            assert "started without peers" in err.value.message
            return
        added = await c.member_add(["http://127.0.0.1:1"], is_learner=True)
        assert added.is_learner and added.peer_urls == ["http://127.0.0.1:1"]
        assert {m.id for m in await c.member_list()} >= {added.id}
        remaining = await c.member_remove(added.id)
        assert added.id not in {m.id for m in remaining}
