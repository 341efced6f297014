"""The seam between the gRPC edge and consensus.

Services hand a command to a ``Proposer`` and get the applied result back; they
never know whether one member or a Raft cluster sits behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import Message

from kvstore.durations import Durations
from kvstore.pb import command_pb2
from kvstore.raft.peertraffic import PeerReport
from kvstore.storage.effects import Effects

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RaftStatus:
    leader_id: int  # 0: no known leader
    term: int
    commit_index: int
    applied_index: int
    #: a learner: receives the log, counts for nothing (see ``RaftSettings.learner``)
    learner: bool = False


@dataclass(frozen=True)
class ProposerMetrics:
    """What /metrics reports of a member's consensus (etcd's names in
    ``kvstore.api.monitoring``)."""

    #: times this member saw a new leader (itself included)
    leader_changes: int
    #: proposals waiting for their outcome
    proposals_pending: int
    #: proposals that got no outcome: timed out, no leader, leader lost
    proposals_failed: int
    #: the Raft journal's syncs; None without Raft (no journal)
    wal_fsync: Durations | None
    #: what each peer link carried (none without peers)
    peers: tuple[PeerReport, ...] = ()


#: a question about state only the leader keeps in memory, and its answer
#: (plain values: they cross the peer transport); see ``Proposer.ask_leader``
Question = tuple[str, int]
Answer = tuple[int, int]
#: answers a question on the leader (event loop)
QuestionHandler = Callable[[Question], Answer]


class Proposer(Protocol):
    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def propose(self, cmd: command_pb2.Command) -> Message | None:
        """Replicate and apply ``cmd``; its result, or raise its ``KvError``.

        ``RequestTimeoutError`` means the outcome is unknown, not that it failed.
        """
        ...

    async def read_barrier(self) -> None:
        """Return once everything committed before the call is applied locally."""
        ...

    async def settled(self) -> None:
        """Return once every write this member has answered, and every watch
        event it has sent, is visible in its store (a write may be answered,
        and its events sent, while its batch is still uncommitted). Every local
        read that a caller could make after a write or an event waits on it,
        and so does a watcher catching up from the store."""
        ...

    async def ask_leader(self, question: Question) -> Answer:
        """The leader's answer, from its ``QuestionHandler``, once it has applied
        everything committed before the call (here, if this member leads).

        ``NoLeaderError``/``RequestTimeoutError`` when no leader answers in time.
        """
        ...

    def is_leader(self) -> bool: ...

    def status(self) -> RaftStatus: ...

    def metrics(self) -> ProposerMetrics: ...

    def term(self) -> int:
        """The current Raft term (what ``status().term`` says, for every response header)."""
        ...


EffectsListener = Callable[[Effects], None]


def notify(listeners: list[EffectsListener], effects: Effects) -> None:
    """Hand a committed batch's effects to each listener (watch hub, lessor, ...);
    one failing listener is logged and does not keep the others from running."""
    for listener in listeners:
        try:
            listener(effects)
        except Exception:
            logger.exception("effects listener failed")
