"""Questions to the leader's memory over the peer transport (``leaderask``), on a
real RaftNode whose messages are fed and captured by hand."""

from __future__ import annotations

import asyncio
from typing import Any

from kvstore.raft import leaderask
from kvstore.raft.node import RaftNode, ReplyFn
from kvstore.raft.replicated import _settle_all

Q1 = ("lease_keep_alive", 42)
Q2 = ("lease_time_to_live", 43)
Questions = list[tuple[list[Any], ReplyFn]]


def _receive(node: RaftNode, message: dict[str, Any]) -> None:
    (peer,) = node._SyncObj__otherNodes
    node._SyncObj__transport._onMessageReceived(peer, message)


def _of_type(sent: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in sent if m.get("type") == kind]


def _follow(node: RaftNode, leader: Any) -> None:
    node._SyncObj__setState(0)  # FOLLOWER
    node._SyncObj__raftLeader = leader


def test_the_leader_hands_a_members_questions_over_and_sends_back_the_answers(
    leader: RaftNode, sent: list[dict[str, Any]], questions: Questions
) -> None:
    _receive(leader, {"type": leaderask.REQUEST, "id": 7, "questions": [Q1, Q2]})
    assert [batch for batch, _ in questions] == [[Q1, Q2]]
    assert _of_type(sent, leaderask.RESPONSE) == []
    questions[0][1]([(30, 30), (-1, 0)])  # the answerer replies (from the event loop)
    leader._onTick(0.0)
    (answer,) = _of_type(sent, leaderask.RESPONSE)
    assert (answer["id"], answer["answers"]) == (7, [(30, 30), (-1, 0)])


def test_a_leader_asking_itself_gets_the_answers_directly(
    leader: RaftNode, sent: list[dict[str, Any]], questions: Questions
) -> None:
    got: list[Any] = []
    leader.ask_leader([Q1, Q2], got.append)
    ((batch, reply),) = questions
    assert batch == [Q1, Q2]
    reply([(5, 5), (3, 10)])
    assert got == [[(5, 5), (3, 10)]]
    assert _of_type(sent, leaderask.REQUEST) == []


def test_a_member_that_no_longer_leads_asks_to_be_asked_again(
    leader: RaftNode, sent: list[dict[str, Any]], questions: Questions
) -> None:
    _follow(leader, None)
    _receive(leader, {"type": leaderask.REQUEST, "id": 3, "questions": [Q1]})
    leader._onTick(0.0)
    assert questions == []
    (answer,) = _of_type(sent, leaderask.RESPONSE)
    assert (answer["id"], answer["answers"]) == (3, None)
    got: list[Any] = []
    leader.ask_leader([Q1], got.append)  # and it has no leader to ask
    assert got == [None]


def test_a_follower_sends_its_questions_in_one_message_and_routes_the_answers(
    leader: RaftNode, sent: list[dict[str, Any]]
) -> None:
    (peer,) = leader._SyncObj__otherNodes
    _follow(leader, peer)
    got: list[Any] = []
    leader.ask_leader([Q1, Q2], got.append)
    (request,) = _of_type(sent, leaderask.REQUEST)
    assert request["questions"] == [Q1, Q2]
    assert got == []
    _receive(leader, {"type": leaderask.RESPONSE, "id": request["id"], "answers": [(9, 9), None]})
    assert got == [[(9, 9), None]]
    leader.ask_leader([Q1], got.append)
    _follow(leader, None)  # the leader is gone before it answered
    leader._onTick(0.0)
    assert got[-1] is None


def test_answers_that_do_not_match_the_questions_send_every_asker_back() -> None:
    loop = asyncio.new_event_loop()
    try:
        futures: list[asyncio.Future[Any]] = [loop.create_future() for _ in range(2)]
        _settle_all(futures, [(1, 1)])
        assert [f.result() for f in futures] == [None, None]
        futures = [loop.create_future() for _ in range(2)]
        _settle_all(futures, [(1, 1), (2, 2)])
        assert [f.result() for f in futures] == [(1, 1), (2, 2)]
    finally:
        loop.close()
