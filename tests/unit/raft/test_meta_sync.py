"""The term/vote file pysyncobj rewrites (by a rename) is synced, with its
directory, before the next message leaves; and only then (a real RaftNode)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstore.raft.node import RaftNode
from tests.unit.raft.conftest import node_conf


@pytest.fixture
def node(tmp_path: Path) -> Iterator[RaftNode]:
    conf = node_conf(tmp_path)
    conf.journalFile = str(tmp_path / "journal")
    # port 0: the node binds whatever is free (it never accepts anything)
    n = RaftNode("127.0.0.1:0", ["127.0.0.1:9"], conf, None, None, None, None)  # type: ignore[arg-type]
    yield n
    n.destroy()


def test_a_rewritten_term_file_is_synced_with_its_directory_once(
    node: RaftNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    stats: list[str] = []
    fsync, stat = os.fsync, os.stat

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)

    def recording_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        stats.append(str(path))
        return stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "stat", recording_stat)
    node.flush_journal()  # whatever start-up left to sync
    synced.clear()
    node._SyncObj__raftLog.setCurrentTerm(7, None)  # as pysyncobj does on a new term
    node.flush_journal()
    meta = str(tmp_path / "journal.meta")
    assert meta in synced and str(tmp_path) in synced, synced
    synced.clear()
    stats.clear()
    node.flush_journal()
    node.flush_journal()
    assert synced == [], "synced again without a change"
    assert meta not in stats, "the file was looked at before each send"
