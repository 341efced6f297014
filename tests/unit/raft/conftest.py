"""Fixtures shared by the tests that drive a real RaftNode without a network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pysyncobj import SyncObjConf
from pysyncobj.transport import TCPTransport

from kvstore.raft.node import RaftNode, ReplyFn


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


@pytest.fixture
def questions() -> list[tuple[list[Any], ReplyFn]]:
    """The batches of questions a ``leader`` fixture's node handed to its answerer."""
    return []


@pytest.fixture
def leader(
    tmp_path: Path, sent: list[dict[str, Any]], questions: list[tuple[list[Any], ReplyFn]]
) -> Iterator[RaftNode]:
    """A node that leads (term 1) one unreachable peer; the caller ticks it."""
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
