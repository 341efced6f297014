"""An idle leader sends a heartbeat per ``heartbeat``, not per pysyncobj period,
and an idle member's tick thread sleeps longer between ticks; on a real
RaftNode ticked by hand (see conftest), its one peer connected but unreachable.
"""

from __future__ import annotations

import time
from typing import Any

from kvstore.raft import clock
from kvstore.raft.node import RaftNode
from tests.unit.raft.conftest import HEARTBEAT, append_entries

PERIOD = 0.05  # pysyncobj's appendEntriesPeriod in node_conf
BUSY = 0.005  # a tick's usual wait


def _peer(node: RaftNode) -> Any:
    (peer,) = node._SyncObj__otherNodes
    return peer


def _acknowledge_everything(node: RaftNode) -> None:
    last = node._log_length()
    node._SyncObj__raftMatchIndex[_peer(node)] = last
    node._SyncObj__raftNextIndex[_peer(node)] = last + 1


def _next_send_in(node: RaftNode) -> float:
    return float(node._SyncObj__newAppendEntriesTime) - clock.now()


def test_a_leader_whose_follower_acknowledged_everything_waits_a_heartbeat(
    idle_leader: RaftNode, sent: list[dict[str, Any]]
) -> None:
    _acknowledge_everything(idle_leader)
    idle_leader._SyncObj__newAppendEntriesTime = 0.0  # a send is due
    idle_leader._onTick(0.0)
    assert len(append_entries(sent)) == 1, "the due heartbeat did not go out"
    assert _next_send_in(idle_leader) > HEARTBEAT / 2
    sent.clear()
    time.sleep(PERIOD * 1.5)  # pysyncobj's own period has passed
    idle_leader._onTick(0.0)
    assert not append_entries(sent), "an idle leader sent before its heartbeat was due"


def test_a_leader_whose_follower_is_behind_sends_at_pysyncobjs_period(
    idle_leader: RaftNode, sent: list[dict[str, Any]]
) -> None:
    idle_leader._SyncObj__raftMatchIndex[_peer(idle_leader)] = 0  # acknowledged nothing
    idle_leader._SyncObj__newAppendEntriesTime = 0.0
    idle_leader._onTick(0.0)
    assert append_entries(sent)
    assert _next_send_in(idle_leader) <= PERIOD
    sent.clear()
    time.sleep(PERIOD * 1.5)
    idle_leader._onTick(0.0)
    assert append_entries(sent), "the follower that is behind heard nothing for a period"


def test_without_a_longer_heartbeat_the_period_is_pysyncobjs(
    leader: RaftNode, sent: list[dict[str, Any]]
) -> None:
    _acknowledge_everything(leader)
    leader._SyncObj__newAppendEntriesTime = 0.0
    leader._onTick(0.0)
    assert append_entries(sent)
    assert _next_send_in(leader) <= PERIOD


def test_an_idle_leader_sleeps_longer_between_ticks_but_not_past_its_heartbeat(
    idle_leader: RaftNode,
) -> None:
    _acknowledge_everything(idle_leader)
    idle_leader._SyncObj__newAppendEntriesTime = clock.now() + HEARTBEAT
    assert idle_leader._tick_wait(BUSY) == HEARTBEAT / 4
    idle_leader._SyncObj__newAppendEntriesTime = clock.now() + 0.02
    assert BUSY < idle_leader._tick_wait(BUSY) <= 0.02
    idle_leader._SyncObj__newAppendEntriesTime = clock.now() - 1.0  # overdue
    assert idle_leader._tick_wait(BUSY) == BUSY
    assert idle_leader._tick_wait(0.0) == 0.0, "a tick by hand must not sleep"


def test_a_member_with_anything_under_way_ticks_at_the_usual_pace(
    idle_leader: RaftNode,
) -> None:
    idle_leader._SyncObj__newAppendEntriesTime = clock.now() + HEARTBEAT
    idle_leader._SyncObj__raftMatchIndex[_peer(idle_leader)] = 0  # a follower is behind
    assert idle_leader._tick_wait(BUSY) == BUSY
    _acknowledge_everything(idle_leader)
    idle_leader._tick_calls.append(lambda: None)  # work handed to the tick thread
    assert idle_leader._tick_wait(BUSY) == BUSY
    idle_leader._tick_calls.clear()
    idle_leader._reads.confirm(1, lambda _: None)  # a read waits for a round
    assert idle_leader._tick_wait(BUSY) == BUSY


def test_an_idle_follower_sleeps_a_quarter_heartbeat(idle_leader: RaftNode) -> None:
    idle_leader._SyncObj__raftState = 0  # pysyncobj's FOLLOWER
    assert not idle_leader.is_leader()
    assert idle_leader._tick_wait(BUSY) == HEARTBEAT / 4
