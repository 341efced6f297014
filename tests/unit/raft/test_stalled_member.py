"""A member that stalls past its election timeout (stopped, paused, swapped
out) does not depose a healthy leader: it reads its sockets before it calls an
election, asks for pre-votes before it raises its term, and sends nothing on
a link whose keys are not yet swapped."""

from __future__ import annotations

from typing import Any

import pytest

from kvstore.raft import clock, prevote
from kvstore.raft.frames import FrameCipher
from kvstore.raft.peerlink import PeerConnection
from tests.unit.raft.conftest import Follower


def _stalled(
    follower: Follower, monkeypatch: pytest.MonkeyPatch, unread: list[dict[str, Any]]
) -> None:
    """``follower`` follows a leader at term 2, then stalls past its election
    timeout with ``unread`` waiting on its sockets (what the poller delivers)."""
    node = follower.node
    node._onTick(0.0)  # the transport gets ready
    node._SyncObj__connectedNodes.add(follower.leader)
    follower.append(term=2, prev=1, entries=[2])
    assert node._getLeader() == follower.leader
    node._SyncObj__raftElectionDeadline = clock.now() - 1.0

    def poll(_timeout: float) -> None:
        while unread:
            follower.receive(unread.pop(0))

    monkeypatch.setattr(node._poller, "poll", poll)
    follower.sent.clear()


def _votes_asked(follower: Follower) -> list[dict[str, Any]]:
    return [m for m in follower.sent if m.get("type") == "request_vote"]


def test_the_leaders_unread_heartbeat_keeps_the_follower_following(
    follower: Follower, monkeypatch: pytest.MonkeyPatch
) -> None:
    heartbeat = {
        "type": "append_entries",
        "term": 2,
        "commit_index": 1,
        "prevLogIdx": 2,
        "prevLogTerm": 2,
        "entries": [],
    }
    _stalled(follower, monkeypatch, [heartbeat])
    follower.node._onTick(0.0)
    assert _votes_asked(follower) == []
    assert follower.node._getLeader() == follower.leader
    assert follower.node.raftCurrentTerm == 2


def _pre_votes_asked(follower: Follower) -> list[dict[str, Any]]:
    return [m for m in follower.sent if m.get("type") == prevote.REQUEST]


def test_with_nothing_from_the_leader_the_follower_asks_then_calls_an_election(
    follower: Follower, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stalled(follower, monkeypatch, [])
    follower.node._onTick(0.0)
    assert _votes_asked(follower) == []  # its term stays until a majority says yes
    (ask,) = _pre_votes_asked(follower)
    assert (ask["term"], ask["last_log_term"], ask["last_log_index"]) == (3, 2, 2)
    assert follower.node.raftCurrentTerm == 2
    follower.node._onTick(0.0)
    assert _votes_asked(follower) == []  # the election was put off

    follower.receive({"type": prevote.RESPONSE, "term": 3, "granted": True, "current_term": 2})
    follower.node._onTick(0.0)
    (vote,) = _votes_asked(follower)
    assert vote["term"] == 3
    assert follower.node._getLeader() is None


def test_told_no_from_a_higher_term_the_asker_takes_that_term(
    follower: Follower, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stalled(follower, monkeypatch, [])
    follower.node._onTick(0.0)
    follower.receive({"type": prevote.RESPONSE, "term": 3, "granted": False, "current_term": 7})
    assert follower.node.raftCurrentTerm == 7
    assert follower.node._getLeader() is None
    assert _votes_asked(follower) == []


def test_a_follower_that_hears_its_leader_says_no_to_a_pre_vote(follower: Follower) -> None:
    follower.node._onTick(0.0)
    follower.append(term=2, prev=1, entries=[2])
    follower.sent.clear()
    ask = {"type": prevote.REQUEST, "term": 3, "last_log_term": 2, "last_log_index": 2}
    follower.receive(ask)
    (answer,) = [m for m in follower.sent if m.get("type") == prevote.RESPONSE]
    assert answer == {"type": prevote.RESPONSE, "term": 3, "granted": False, "current_term": 2}
    assert follower.node.raftCurrentTerm == 2  # asking changes nobody's term
    assert follower.node._getLeader() == follower.leader


def test_nothing_is_sent_on_a_link_before_its_keys_are_swapped(
    follower: Follower,
) -> None:
    """Sent before the handshake ends, a message would go out without the
    link's key, and the peer would drop the link for it."""
    transport = follower.node._SyncObj__transport
    link = PeerConnection(poller=follower.node._poller, timeout=30.0)
    link.encryptor = FrameCipher("the-cluster-secret")
    transport._connections[follower.leader] = link
    reply = {"type": "next_node_idx", "term": 2, "next_node_idx": 3, "success": True}
    link.sendRandKey = None  # connected, keys not yet swapped
    assert transport.send(follower.leader, dict(reply)) is False
    assert follower.sent == []
    link.sendRandKey = b"the-peers-key"
    assert transport.send(follower.leader, dict(reply)) is True
    assert [m["type"] for m in follower.sent] == ["next_node_idx"]
