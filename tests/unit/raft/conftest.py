"""Fixtures shared by the tests that drive a real RaftNode without a network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pysyncobj import SyncObjConf, syncobj, tcp_connection
from pysyncobj.transport import TCPTransport

from kvstore.raft.node import RaftNode, ReplyFn

#: how far pysyncobj's clock runs ahead of ``time.monotonic`` in these tests
CLOCK_SKEW = 1000.0


@pytest.fixture(autouse=True)
def skewed_raft_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """pysyncobj's clock (CLOCK_MONOTONIC_RAW) set far from ``time.monotonic``,
    as it drifts on a long-running machine: a deadline kept on the wrong clock
    fails these tests instead of passing by the clocks' closeness."""
    raw = syncobj.monotonicTime

    def skewed() -> float:
        return float(raw()) + CLOCK_SKEW

    monkeypatch.setattr(syncobj, "monotonicTime", skewed)
    monkeypatch.setattr(tcp_connection, "monotonicTime", skewed)


def node_conf(tmp_path: Path) -> SyncObjConf:
    """Ticked by hand, with timeouts no test waits out."""
    return SyncObjConf(
        autoTick=False,
        dynamicMembershipChange=True,
        fullDumpFile=str(tmp_path / "dump"),
        appendEntriesPeriod=0.05,
        raftMinTimeout=100,
        raftMaxTimeout=200,
        connectionTimeout=300,
    )


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every message a node's transport sends, in order, instead of sending it."""
    captured: list[dict[str, Any]] = []
    monkeypatch.setattr(
        TCPTransport, "send", lambda _self, _node, message: captured.append(message) or True
    )
    return captured


def append_entries(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The append-entries among ``sent``."""
    return [m for m in sent if m.get("type") == "append_entries"]


@pytest.fixture
def questions() -> list[tuple[list[Any], ReplyFn]]:
    """The batches of questions a ``leader`` fixture's node handed to its answerer."""
    return []


HEARTBEAT = 1.0  # an idle leader's heartbeat in ``idle_leader`` (seconds)


@pytest.fixture
def leader(
    tmp_path: Path, sent: list[dict[str, Any]], questions: list[tuple[list[Any], ReplyFn]]
) -> Iterator[RaftNode]:
    """A node that leads (term 1) one unreachable peer; the caller ticks it."""
    yield from _leading(tmp_path, sent, questions, heartbeat=0.0)


@pytest.fixture
def idle_leader(
    tmp_path: Path, sent: list[dict[str, Any]], questions: list[tuple[list[Any], ReplyFn]]
) -> Iterator[RaftNode]:
    """As ``leader``, with a heartbeat (``HEARTBEAT``) longer than pysyncobj's period."""
    yield from _leading(tmp_path, sent, questions, heartbeat=HEARTBEAT)


def _leading(
    tmp_path: Path,
    sent: list[dict[str, Any]],
    questions: list[tuple[list[Any], ReplyFn]],
    heartbeat: float,
) -> Iterator[RaftNode]:
    conf = node_conf(tmp_path)
    # port 0: the node binds whatever is free (it never accepts anything)
    node = RaftNode(
        "127.0.0.1:0",
        ["127.0.0.1:9"],
        conf,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        lambda batch, reply: questions.append((batch, reply)),
        heartbeat=heartbeat,
    )
    node._onTick(0.0)  # the transport gets ready
    (peer,) = node._SyncObj__otherNodes
    node._SyncObj__connectedNodes.add(peer)
    node._SyncObj__setCurrentTerm(1, None)
    node._SyncObj__onBecomeLeader()
    node._onTick(0.0)  # the leader's no-op entry goes out
    assert node.is_leader()
    sent.clear()
    yield node
    node.destroy()


CMD = b"\x00" + b"x" * 8  # a regular command; never applied here


class Follower:
    def __init__(self, dump: Path, journal: Path | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        conf = SyncObjConf(autoTick=False, dynamicMembershipChange=True, fullDumpFile=str(dump))
        conf.journalFile = None if journal is None else str(journal)
        # port 0: the node binds whatever is free (it never accepts anything)
        self.node = RaftNode("127.0.0.1:0", ["127.0.0.1:9"], conf, None, None, None, None)  # type: ignore[arg-type]
        self.transport = self.node._SyncObj__transport
        (self.leader,) = self.node._SyncObj__otherNodes

    def receive(self, message: dict[str, Any]) -> None:
        self.transport._onMessageReceived(self.leader, message)

    def append(self, term: int, prev: int, entries: list[int], commit: int = 1) -> None:
        """Entries are given by their terms, from index ``prev + 1``."""
        self.receive(
            {
                "type": "append_entries",
                "term": term,
                "commit_index": commit,
                "prevLogIdx": prev,
                "prevLogTerm": self.terms()[prev - 1] if prev <= len(self.terms()) else -1,
                "entries": [(CMD, prev + 1 + i, t) for i, t in enumerate(entries)],
            }
        )

    def terms(self) -> list[int]:
        return [int(e[2]) for e in self.node._SyncObj__raftLog[:]]

    @property
    def commit(self) -> int:
        return int(self.node.raftCommitIndex)

    def last_reply(self) -> dict[str, Any]:
        replies = [m for m in self.sent if m.get("type") == "next_node_idx"]
        return replies[-1]


@pytest.fixture
def follower(tmp_path: Path, sent: list[dict[str, Any]]) -> Iterator[Follower]:
    f = Follower(tmp_path / "dump")
    f.sent = sent
    yield f
    f.node.destroy()
