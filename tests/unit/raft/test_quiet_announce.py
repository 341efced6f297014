"""A leader's commit announcement asks for no reply, and a follower that took
it without trouble sends none (on real RaftNodes, pysyncobj underneath)."""

from __future__ import annotations

from typing import Any

from kvstore.raft.node import QUIET, RaftNode
from tests.unit.raft.conftest import Follower, append_entries


def _announce(follower: Follower, prev: int, commit: int, quiet: bool = True) -> None:
    message = {
        "type": "append_entries",
        "term": 2,
        "commit_index": commit,
        "prevLogIdx": prev,
        "prevLogTerm": follower.terms()[prev - 1] if prev <= len(follower.terms()) else -1,
        "entries": [],
    }
    if quiet:
        message[QUIET] = True
    follower.receive(message)


def _replies(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in sent if m.get("type") == "next_node_idx"]


def test_a_follower_takes_an_announcement_without_replying(follower: Follower) -> None:
    follower.append(term=2, prev=1, entries=[2, 2])
    assert len(_replies(follower.sent)) == 1
    _announce(follower, prev=3, commit=3)
    assert follower.commit == 3
    assert len(_replies(follower.sent)) == 1, "the announcement was acknowledged"
    _announce(follower, prev=3, commit=3, quiet=False)  # a heartbeat
    assert len(_replies(follower.sent)) == 2, "a heartbeat went unanswered"


def test_a_follower_that_cannot_take_an_announcement_replies(follower: Follower) -> None:
    follower.append(term=2, prev=1, entries=[2])
    _announce(follower, prev=4, commit=4)  # entries it does not have
    reply = _replies(follower.sent)[-1]
    assert len(_replies(follower.sent)) == 2 and not reply["success"]


def _commit_noop(leader: RaftNode) -> None:
    """The peer acknowledges the leader's no-op entry; the next tick commits it."""
    (peer,) = leader._SyncObj__otherNodes
    last = int(leader._SyncObj__raftLog[-1][1])
    ack = {
        "type": "next_node_idx",
        "next_node_idx": last + 1,
        "success": True,
        "reset": False,
        "term": 1,
    }
    leader._SyncObj__transport._onMessageReceived(peer, ack)
    leader._onTick(0.0)
    assert int(leader.raftCommitIndex) == last


def test_the_leader_marks_its_commit_announcement_quiet(
    leader: RaftNode, sent: list[dict[str, Any]]
) -> None:
    _commit_noop(leader)
    announced = append_entries(sent)
    assert announced and all(m.get(QUIET) for m in announced), announced
    sent.clear()
    leader._SyncObj__newAppendEntriesTime = 0.0  # a heartbeat is due
    leader._onTick(0.0)
    heartbeats = append_entries(sent)
    assert heartbeats and not any(m.get(QUIET) for m in heartbeats)


def test_an_announcement_is_acknowledged_while_reads_wait_for_a_round(
    leader: RaftNode, sent: list[dict[str, Any]]
) -> None:
    leader._reads.confirm(int(leader.raftCommitIndex), lambda index: None)
    _commit_noop(leader)
    announced = append_entries(sent)
    assert announced and not any(m.get(QUIET) for m in announced)
