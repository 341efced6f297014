"""Snapshot transfers on the peer link (``transfer``), on a real RaftNode whose
messages are fed and captured by hand."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pysyncobj.tcp_connection import TcpConnection

from kvstore.config import LeaseConfig
from kvstore.raft import transfer
from kvstore.raft.fsm import StateMachine
from kvstore.raft.node import RaftNode
from kvstore.raft.snapshots import read_metadata, write_snapshot
from tests.support.stores import started_store
from tests.unit.raft.conftest import node_conf


def _peer(node: RaftNode) -> Any:
    (peer,) = node._SyncObj__otherNodes
    return peer


def _receive(node: RaftNode, message: dict[str, Any]) -> None:
    node._SyncObj__transport._onMessageReceived(_peer(node), message)


def _piece(data: bytes, first: bool, last: bool) -> dict[str, Any]:
    return {
        "type": "append_entries",
        "term": 1,
        "commit_index": 0,
        "serialized": (data, first, last),
    }


def test_a_member_receiving_a_snapshot_tells_the_leader_it_is_alive(
    leader: RaftNode, sent: list[dict[str, Any]]
) -> None:
    node = leader
    node._SyncObj__setState(0)  # a follower now, of the same peer
    node._SyncObj__raftLeader = _peer(node)
    _receive(node, _piece(b"a" * 1000, first=True, last=False))
    _receive(node, _piece(b"b" * 1000, first=False, last=False))
    # one progress message per quarter of the link timeout (300 s here)
    assert [m for m in sent if m.get("type") == transfer.PROGRESS] == [{"type": transfer.PROGRESS}]


def test_the_leader_reads_progress_and_goes_on(
    leader: RaftNode, sent: list[dict[str, Any]]
) -> None:
    _receive(leader, {"type": transfer.PROGRESS})
    leader._onTick(0.0)
    assert leader.is_leader()


def test_a_dropped_link_restarts_a_snapshot_transfer_from_its_first_piece(
    leader: RaftNode, tmp_path: Path
) -> None:
    """Pieces queued on a connection that dropped are lost: going on with the
    next piece on a new connection would leave a hole in the follower's file."""
    (tmp_path / "dump").write_bytes(b"s" * (3 << 16))
    serializer = leader._SyncObj__serializer
    peer = _peer(leader)
    first = serializer.getTransmissionData(peer)
    second = serializer.getTransmissionData(peer)
    assert (first[1], second[1]) == (True, False)  # (data, is_first, is_last)
    # the link to the peer (the peer dials us: put its connection in place)
    transport = leader._SyncObj__transport
    link = TcpConnection(poller=leader._poller)
    transport._connections[peer] = link
    transport._onDisconnected(link)
    again = serializer.getTransmissionData(peer)
    assert again[1] is True and again[0] == first[0]


def test_progress_is_paced_per_member() -> None:
    pacer = transfer.ProgressPacer(interval=1.0)
    assert pacer.due("a", 10.0)
    assert not pacer.due("a", 10.5)
    assert pacer.due("b", 10.5)
    assert pacer.due("a", 11.0)


@pytest.fixture
def follower(tmp_path: Path) -> Iterator[RaftNode]:
    """A node with a real state machine, following a leader it never hears from."""
    store = started_store(tmp_path / "store")
    node = RaftNode(
        "127.0.0.1:0",
        ["127.0.0.1:9"],
        node_conf(tmp_path),
        StateMachine(store, LeaseConfig()),
        lambda results, effects: None,
        lambda exc: None,
        lambda batch, reply: None,
    )
    yield node
    node.destroy()
    store.close()


RAFT_DATA = ((b"", 7, 1), "rest of pysyncobj's state")


def _received(tmp_path: Path) -> Path:
    """A leader's snapshot (one key, applied index 7) as a follower receives it."""
    source = started_store(tmp_path / "source")
    with source.write() as batch:
        batch.begin_revision()
        batch.put(b"k", b"v", 0)
        batch.end_revision()
        batch.set_applied(7, 1)
    snapshot = tmp_path / "received"
    write_snapshot(source, str(snapshot), RAFT_DATA)
    source.close()
    return snapshot


def test_installing_a_snapshot_restarts_the_election_timer(
    follower: RaftNode, tmp_path: Path
) -> None:
    """Installing takes the tick thread a while, with no append-entries read
    meanwhile: the follower must not count that against the leader."""
    snapshot = _received(tmp_path)
    follower._SyncObj__raftElectionDeadline = time.monotonic() - 1.0  # overdue
    follower._deserialize(str(snapshot))
    with follower._fsm.store.read() as view:
        assert view.applied[0] == 7  # installed
    assert follower._SyncObj__raftElectionDeadline > time.monotonic()


def test_a_loaded_snapshot_becomes_a_marker(follower: RaftNode, tmp_path: Path) -> None:
    """The store holds the installed copy: the dump keeps only the metadata
    (a whole copy of the store less on disk, and no unsynced file pysyncobj
    received left as the dump)."""
    snapshot = _received(tmp_path)
    follower._deserialize(str(snapshot))
    assert read_metadata(str(snapshot)) == (RAFT_DATA, True)
    with follower._fsm.store.read() as view:
        assert view.applied[0] == 7
    inode = snapshot.stat().st_ino
    assert follower._deserialize(str(snapshot)) == RAFT_DATA  # as at a restart
    assert snapshot.stat().st_ino == inode  # a marker is left as it is
