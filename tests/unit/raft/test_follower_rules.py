"""Raft's follower rules on a real RaftNode (pysyncobj underneath).

Each test feeds append-entries straight into the node's transport, as a peer
connection would, and reads back the node's log, commit index and replies.
Nothing ticks and nothing listens: the node is never started.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pysyncobj.transport import TCPTransport

from tests.unit.raft.conftest import CMD, Follower


def test_a_late_shorter_append_keeps_entries_already_acknowledged(follower: Follower) -> None:
    follower.append(term=2, prev=1, entries=[2, 2, 2])
    assert follower.last_reply()["next_node_idx"] == 5
    # the same leader's earlier message, delivered late: it must not shorten the log
    follower.append(term=2, prev=1, entries=[2])
    assert follower.terms() == [0, 2, 2, 2]
    reply = follower.last_reply()
    assert reply["success"] and reply["next_node_idx"] == 3


def test_a_conflicting_entry_truncates_from_the_conflict(follower: Follower) -> None:
    follower.append(term=2, prev=1, entries=[2, 2, 2])
    follower.append(term=3, prev=2, entries=[3])
    assert follower.terms() == [0, 2, 3]
    assert follower.last_reply()["next_node_idx"] == 4


def test_a_heartbeat_does_not_commit_entries_it_did_not_vouch_for(follower: Follower) -> None:
    follower.append(term=2, prev=1, entries=[2, 2, 2])
    # a new leader (term 3) whose log matches only up to index 2
    follower.append(term=3, prev=2, entries=[], commit=4)
    assert follower.terms() == [0, 2, 2, 2]
    assert follower.commit == 2
    assert follower.last_reply()["next_node_idx"] == 3


def test_a_snapshot_piece_does_not_commit_the_followers_own_entries(follower: Follower) -> None:
    # entries from a term this member led, never replicated: not committed
    follower.append(term=2, prev=1, entries=[2, 2, 2])
    assert follower.commit == 1
    # the new leader (term 3) starts sending a snapshot; its commit index is 4
    follower.receive({"type": "append_entries", "term": 3, "commit_index": 4, "serialized": None})
    for first in (True, False):
        piece = (b"part", first, False)
        follower.receive(
            {"type": "append_entries", "term": 3, "commit_index": 4, "serialized": piece}
        )
    assert follower.commit == 1


def test_replies_carry_the_term(follower: Follower) -> None:
    follower.append(term=5, prev=1, entries=[5])
    assert follower.last_reply()["term"] == 5


def test_a_reply_from_another_term_is_dropped(follower: Follower) -> None:
    follower.append(term=4, prev=1, entries=[4])
    node = follower.node
    assert node.incoming(follower.leader, {"type": "next_node_idx", "term": 3}) is None
    assert node.incoming(follower.leader, {"type": "next_node_idx", "term": 4}) is not None
    # a member that does not stamp its replies is still heard
    assert node.incoming(follower.leader, {"type": "next_node_idx"}) is not None


@pytest.mark.parametrize("size", [70_000, 131_070, 200_000])
def test_a_large_entry_sent_in_pieces_is_appended_once(follower: Follower, size: int) -> None:
    follower.append(term=2, prev=1, entries=[2])
    big = (b"\x00" + b"v" * size, 3, 2)
    data = pickle.dumps(big)
    piece = 65_536
    # pysyncobj's sender: "finish" is decided by the command's length, so a
    # piece can still follow the first "finish"
    for pos in range(0, len(data), piece):
        kind = "start" if pos == 0 else "finish" if pos + piece >= len(big[0]) else "process"
        follower.receive(
            {
                "type": "append_entries",
                "term": 2,
                "commit_index": 1,
                "prevLogIdx": 2,
                "prevLogTerm": 2,
                "transmission": kind,
                "data": data[pos : pos + piece],
            }
        )
    assert follower.terms() == [0, 2, 2]
    assert follower.node._SyncObj__raftLog[2][0] == big[0]
    # pysyncobj kept no copy of the pieces (it would grow it piece by piece)
    assert len(follower.node._SyncObj__recvTransmission) == 0
    # delivered again late: still one copy
    follower.append(term=2, prev=1, entries=[2])
    assert follower.terms() == [0, 2, 2]


# ---- the rules against a reference, on generated logs -----------------------


def _raft(
    follower: list[int], prev: int, prev_term: int, entries: list[int]
) -> tuple[list[int], int | None]:
    """Raft's receiver (Figure 2): the new log and the match index, or None on reject."""
    log = list(follower)
    if prev > len(log) or log[prev - 1] != prev_term:
        return log, None
    for offset, term in enumerate(entries):
        index = prev + 1 + offset
        if index <= len(log) and log[index - 1] != term:
            del log[index - 1 :]
        if index > len(log):
            log.append(term)
    return log, prev + len(entries)


def _suffix(parity: int, above: int) -> st.SearchStrategy[list[int]]:
    """Non-decreasing terms of one parity, all above ``above``: two such
    suffixes never hold the same term at the same index (Log Matching)."""
    base = above + 1 if (above + 1) % 2 == parity else above + 2
    return st.lists(st.integers(0, 3), max_size=6).map(
        lambda ks: [base + 2 * k for k in sorted(ks)]
    )


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[int], list[int], int, int, int]:
    common = draw(st.lists(st.integers(0, 2), max_size=5))
    prefix = [0]
    for step in common:
        prefix.append(prefix[-1] + step)
    top = prefix[-1]
    leader = prefix + draw(_suffix(0, top))
    follower = prefix + draw(_suffix(1, top))
    prev = draw(st.integers(1, len(leader)))
    count = draw(st.integers(0, len(leader) - prev))
    commit = draw(st.integers(1, len(leader)))
    return leader, follower, prev, count, commit


@settings(max_examples=150, deadline=None)
@given(scenario())
def test_any_append_has_rafts_effect(tmp_path_factory: pytest.TempPathFactory, case: Any) -> None:
    leader, follower_log, prev, count, leader_commit = case
    sent: list[dict[str, Any]] = []
    original = TCPTransport.send
    TCPTransport.send = lambda _self, _node, message: sent.append(message) or True  # type: ignore[method-assign]
    f = Follower(tmp_path_factory.mktemp("f") / "dump")
    try:
        term = max(leader + follower_log) + 1
        if len(follower_log) > 1:
            f.append(term=max(follower_log), prev=1, entries=follower_log[1:])
        assert f.terms() == follower_log
        commit_before = f.commit
        entries = leader[prev : prev + count]
        sent.clear()
        f.receive(
            {
                "type": "append_entries",
                "term": term,
                "commit_index": leader_commit,
                "prevLogIdx": prev,
                "prevLogTerm": leader[prev - 1],
                "entries": [(CMD, prev + 1 + i, t) for i, t in enumerate(entries)],
            }
        )
        expected_log, match = _raft(follower_log, prev, leader[prev - 1], entries)
        assert f.terms() == expected_log
        reply = [m for m in sent if m.get("type") == "next_node_idx"][-1]
        if match is None:
            assert not reply["success"]
            assert f.commit == commit_before
        else:
            assert reply["success"] and reply["next_node_idx"] == match + 1
            assert f.commit == max(commit_before, min(leader_commit, match))
    finally:
        f.node.destroy()
        TCPTransport.send = original  # type: ignore[method-assign]
