"""The seam between the gRPC edge and consensus.

Services hand a command to a ``Proposer`` and get the applied result back; they
never know whether one member or a Raft cluster sits behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import Message

from kvstore.pb import command_pb2


@dataclass(frozen=True, slots=True)
class RaftStatus:
    leader_id: int  # 0: no known leader
    term: int
    commit_index: int
    applied_index: int


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

    def is_leader(self) -> bool: ...

    def status(self) -> RaftStatus: ...

    def term(self) -> int:
        """The current Raft term (what ``status().term`` says, for every response header)."""
        ...
