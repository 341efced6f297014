"""When a leader sends a proposal, on a real RaftNode (pysyncobj underneath).

The node never starts its tick thread: each test ticks it by hand and
captures what its transport would send to the one (unreachable) peer.
"""

from __future__ import annotations

from typing import Any

from kvstore.raft.node import LINK_BACKLOG, RaftNode
from kvstore.raft.peerlink import PeerConnection


def _appends(sent: list[dict[str, Any]]) -> list[list[Any]]:
    return [m["entries"] for m in sent if m.get("type") == "append_entries"]


def test_a_proposal_rides_the_first_append_entries_when_a_heartbeat_is_due(
    leader: RaftNode, sent: list[dict[str, Any]]
) -> None:
    leader._SyncObj__newAppendEntriesTime = 0.0  # a heartbeat is due
    leader.call_on_tick(lambda: leader.apply_command(b"payload", callback=lambda *_: None))
    leader._onTick(0.0)
    appends = _appends(sent)
    assert appends, "the tick sent nothing"
    assert [e[0] for e in appends[0]][-1:] == [leader._SyncObj__raftLog[-1][0]]
    assert len(appends) == 1, "an empty heartbeat went out ahead of the entry"


def test_a_forwarded_proposal_is_sent_to_the_followers_before_its_answer(
    leader: RaftNode, sent: list[dict[str, Any]]
) -> None:
    """The forwarding member's write waits for the append-entries, not for
    the answer (the entry's log position): the append-entries goes first."""
    (peer,) = leader._SyncObj__otherNodes
    leader._last_early_send = 0.0  # an early append-entries may go out
    leader._applyCommand(b"forwarded", (peer, 5))  # as pysyncobj does for a forwarded one
    leader._onTick(0.0)
    kinds = [m.get("type") for m in sent]
    assert "apply_command_response" in kinds, kinds
    answer = kinds.index("apply_command_response")
    assert sent[answer]["request_id"] == 5
    entry = leader._SyncObj__raftLog[-1][0]
    carrying = [i for i, e in enumerate(_appends(sent)) if entry in [x[0] for x in e]]
    assert carrying, "the entry did not go out"
    first_append = [i for i, k in enumerate(kinds) if k == "append_entries"][carrying[0]]
    assert first_append < answer, kinds


def test_a_link_holding_a_megabyte_unsent_waits_for_a_later_round(
    leader: RaftNode, sent: list[dict[str, Any]]
) -> None:
    """A member that is behind is sent no more while its link still holds
    ``LINK_BACKLOG`` bytes unsent; it goes on from the same log position once
    the link has drained, and stays a member meanwhile."""
    (peer,) = leader._SyncObj__otherNodes
    link = PeerConnection(poller=leader._poller, timeout=30.0)
    leader._SyncObj__transport._connections[peer] = link
    link._TcpConnection__writeBuffer += b"x" * (LINK_BACKLOG + 1)
    leader.call_on_tick(lambda: leader.apply_command(b"payload", callback=lambda *_: None))
    leader._SyncObj__newAppendEntriesTime = 0.0
    leader._onTick(0.0)
    assert _appends(sent) == []
    assert leader._SyncObj__otherNodes == {peer}
    next_index = leader._SyncObj__raftNextIndex[peer]

    del link._TcpConnection__writeBuffer[:]  # the link drained
    leader._SyncObj__newAppendEntriesTime = 0.0
    leader._onTick(0.0)
    entry = leader._SyncObj__raftLog[-1][0]
    assert entry in [e[0] for entries in _appends(sent) for e in entries]
    assert sent[0]["prevLogIdx"] + 1 == next_index


def test_an_acknowledgement_does_not_move_the_next_index_back_a_refusal_does(
    leader: RaftNode, sent: list[dict[str, Any]]
) -> None:
    """Entries sent and not yet acknowledged are not sent again because an
    acknowledgement of earlier ones arrived; a refusal still rewinds."""
    (peer,) = leader._SyncObj__otherNodes
    for payload in (b"one", b"two"):
        leader.call_on_tick(lambda p=payload: leader.apply_command(p, callback=lambda *_: None))
        leader._SyncObj__newAppendEntriesTime = 0.0
        leader._onTick(0.0)
    last = leader._SyncObj__raftLog[-1][1]
    assert leader._SyncObj__raftNextIndex[peer] == last + 1
    receive = leader._SyncObj__transport._onMessageReceived
    term = leader.raftCurrentTerm
    ack = {"type": "next_node_idx", "term": term, "reset": False, "success": True}
    # acknowledges the leader's no-op entry only (the two commands are never
    # committed here: this node has no state machine)
    receive(peer, dict(ack, next_node_idx=last - 1))
    assert leader._SyncObj__raftMatchIndex[peer] == last - 2
    assert leader._SyncObj__raftNextIndex[peer] == last + 1  # both are on their way

    sent.clear()
    leader._SyncObj__newAppendEntriesTime = 0.0
    leader._onTick(0.0)
    assert all(not m.get("entries") for m in sent if m.get("type") == "append_entries")

    receive(peer, dict(ack, next_node_idx=2, success=False, reset=True))
    assert leader._SyncObj__raftNextIndex[peer] == 2
