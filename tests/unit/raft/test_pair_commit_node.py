"""A real RaftNode following a leader: it commits from the leader's stamped
answer and its own synced journal (``paircommit``), and never from a journal
pysyncobj wrote again since the sync."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kvstore.raft.node import STAMP_SYNCED, STAMP_TERM
from tests.unit.raft.conftest import Follower


@pytest.fixture
def follower(tmp_path: Path, sent: list[dict[str, Any]]) -> Iterator[Follower]:
    f = Follower(tmp_path / "dump", tmp_path / "journal")
    f.sent = sent
    yield f
    f.node.destroy()


def answer(term: int, synced: int) -> dict[str, Any]:
    """The leader's answer to a forwarded proposal, stamped."""
    return {
        "type": "apply_command_response",
        "request_id": 1,
        "log_idx": synced,
        "log_term": term,
        STAMP_TERM: term,
        STAMP_SYNCED: synced,
    }


def settle(f: Follower) -> None:
    """What the node does before it applies (which these entries cannot be)."""
    f.node._commit_from_leader_journal()


def test_the_leaders_stamp_commits_what_both_journals_hold(follower: Follower) -> None:
    follower.append(term=2, prev=1, entries=[2, 2, 2])  # indexes 2-4, synced before its reply
    assert follower.last_reply()["success"]
    settle(follower)
    assert follower.commit == 1
    follower.receive(answer(term=2, synced=3))
    settle(follower)
    assert follower.commit == 3
    follower.receive(answer(term=1, synced=4))  # another term's stamp says nothing
    settle(follower)
    assert follower.commit == 3
    follower.receive(answer(term=2, synced=9))  # its own journal bounds it
    settle(follower)
    assert follower.commit == 4


def test_an_unstamped_answer_or_five_voters_commit_nothing(follower: Follower) -> None:
    follower.append(term=2, prev=1, entries=[2, 2])
    follower.receive({**answer(2, 3), STAMP_SYNCED: None, STAMP_TERM: None})
    settle(follower)
    assert follower.commit == 1
    for port in (7, 8, 10):  # three more voters: the two are no majority of five
        follower.node._SyncObj__otherNodes.add(type(follower.leader)(f"127.0.0.1:{port}"))
    follower.receive(answer(term=2, synced=3))
    settle(follower)
    assert follower.commit == 1


def test_a_journal_written_again_is_not_synced_until_the_next_sync(follower: Follower) -> None:
    follower.append(term=2, prev=1, entries=[2, 2, 2])
    journal = follower.node._SyncObj__raftLog
    entries = journal[:]
    journal.clear()  # as installing a snapshot does: entries written again, unsynced
    for entry in entries:
        journal.add(*entry)
    follower.receive(answer(term=2, synced=4))
    settle(follower)
    assert follower.commit == 1
    follower.append(term=2, prev=4, entries=[])  # its reply syncs first
    settle(follower)
    assert follower.commit == 4
