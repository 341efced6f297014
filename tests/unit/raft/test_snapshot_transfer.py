"""Snapshot transfers on the peer link (``transfer``), on a real RaftNode whose
messages are fed and captured by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pysyncobj.tcp_connection import TcpConnection

from kvstore.raft import transfer
from kvstore.raft.node import RaftNode


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
