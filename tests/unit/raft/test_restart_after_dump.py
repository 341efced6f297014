"""A member killed between replacing its dump and compacting its journal
(pysyncobj does one right after the other on the tick thread) restarts with
a dump newer than the journal's first entries. Real RaftNodes on a real
journal, store and dump file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pysyncobj import SyncObjConf

from kvstore.config import LeaseConfig
from kvstore.raft.fsm import StateMachine
from kvstore.raft.node import RaftNode
from kvstore.raft.snapshots import write_marker
from tests.support.stores import started_store
from tests.unit.raft.conftest import CMD


@pytest.fixture
def fsm(tmp_path: Path) -> Iterator[StateMachine]:
    store = started_store(tmp_path / "store")
    yield StateMachine(store, LeaseConfig())
    store.close()


def _start(tmp_path: Path, fsm: StateMachine) -> RaftNode:
    conf = SyncObjConf(
        autoTick=False,
        dynamicMembershipChange=True,
        fullDumpFile=str(tmp_path / "dump"),
        journalFile=str(tmp_path / "journal"),
    )
    node = RaftNode(
        "127.0.0.1:0",
        ["127.0.0.1:9"],
        conf,
        fsm,
        lambda results, effects: None,
        lambda exc: None,
        lambda batch, reply: None,
    )
    node._onTick(0.0)  # the transport gets ready; the dump is loaded
    return node


def _log(node: RaftNode) -> list[tuple[int, int]]:
    """(index, term) of every journal entry."""
    return [(int(e[1]), int(e[2])) for e in node._SyncObj__raftLog[:]]


def _crash_after_dump(
    tmp_path: Path, fsm: StateMachine, sent: list[dict[str, Any]], dump_at: int, term: int = 1
) -> list[tuple[int, int]]:
    """Entries 2..10 (term 1) appended from a leader; then a dump of entries
    ``dump_at - 1`` and ``dump_at`` with ``term`` replaces the old one and the
    member stops before compacting; then it restarts. Its journal then."""
    node = _start(tmp_path, fsm)
    (leader,) = node._SyncObj__otherNodes
    node._SyncObj__transport._onMessageReceived(
        leader,
        {
            "type": "append_entries",
            "term": 1,
            "commit_index": 1,
            "prevLogIdx": 1,
            "prevLogTerm": 0,
            "entries": [(CMD, i, 1) for i in range(2, 11)],
        },
    )
    assert _log(node) == [(1, 0)] + [(i, 1) for i in range(2, 11)]
    cluster = node._SyncObj__otherNodes | {node._SyncObj__selfNode}
    node.destroy()
    node._onTick(0.0)
    entry = (CMD, dump_at, term)
    before = (CMD, dump_at - 1, term)
    write_marker(fsm.store, str(tmp_path / "dump"), (entry, before, cluster))
    restarted = _start(tmp_path, fsm)
    try:
        return _log(restarted)
    finally:
        restarted.destroy()
        restarted._onTick(0.0)


def test_the_journal_past_the_dump_is_kept(
    tmp_path: Path, fsm: StateMachine, sent: list[dict[str, Any]]
) -> None:
    """pysyncobj alone cleared the journal to the dump's two entries, losing
    entries 6..10 from the member's log though it may have acknowledged them."""
    assert _crash_after_dump(tmp_path, fsm, sent, dump_at=5) == [(i, 1) for i in range(4, 11)]


def test_a_dump_at_the_journals_end_keeps_its_two_entries(
    tmp_path: Path, fsm: StateMachine, sent: list[dict[str, Any]]
) -> None:
    assert _crash_after_dump(tmp_path, fsm, sent, dump_at=10) == [(9, 1), (10, 1)]


def test_a_dump_of_another_history_replaces_the_journal(
    tmp_path: Path, fsm: StateMachine, sent: list[dict[str, Any]]
) -> None:
    """Entries the journal holds with other terms are not the dump's: the
    dump wins, as in pysyncobj."""
    assert _crash_after_dump(tmp_path, fsm, sent, dump_at=5, term=2) == [(4, 2), (5, 2)]
