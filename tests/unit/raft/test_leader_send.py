"""When a leader sends a proposal, on a real RaftNode (pysyncobj underneath).

The node never starts its tick thread: each test ticks it by hand and
captures what its transport would send to the one (unreachable) peer.
"""

from __future__ import annotations

from typing import Any

from kvstore.raft.node import RaftNode


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
