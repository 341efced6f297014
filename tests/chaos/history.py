"""What the workloads did: every operation with its invoke and complete time.

All timestamps come from one clock, ``time.monotonic()`` of this process, so the
real-time order the checkers rely on ("a completed before b was invoked") is sound
across workers and threads.

An operation ends in one of three states:

* ``ok``      — acknowledged; its outputs are known.
* ``fail``    — provably had no effect (never sent, or rejected before consensus).
* ``unknown`` — sent, but the answer never came (timeout, connection lost, "request
  timed out"). It may or may not have taken effect, at any time after its invoke; the
  checkers keep it open until the end of the history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

OpKind = Literal["read", "write", "cas"]


class Status(Enum):
    PENDING = "pending"
    OK = "ok"
    FAIL = "fail"
    UNKNOWN = "unknown"


def now() -> float:
    """The one clock of a history."""
    return time.monotonic()


@dataclass
class RegisterOp:
    """One operation on a per-key register.

    ``read``: output ``value`` (None = absent) and its ``mod_revision``.
    ``write``: input ``value`` (unique in the run).
    ``cas``: input ``expected`` (None = "key absent") and ``value``; output
    ``succeeded``. ``by_mod`` names the mod revision the compare used (the mod
    revision at which ``expected`` was read): values are unique, so "mod == r" holds
    exactly when the key still holds the value written at r.
    ``revision`` is the response header revision (ok ops only).
    """

    process: int
    kind: OpKind
    key: bytes
    invoke: float
    value: bytes | None = None
    expected: bytes | None = None
    by_mod: int = 0
    complete: float = float("inf")
    status: Status = Status.PENDING
    succeeded: bool = False
    revision: int = 0
    mod_revision: int = 0
    error: str = ""

    @property
    def wrote(self) -> bool:
        """True when this op is an acknowledged write that took effect."""
        return self.status is Status.OK and (
            self.kind == "write" or (self.kind == "cas" and self.succeeded)
        )


@dataclass
class AckedWrite:
    """A put the cluster acknowledged: it must be in the history at ``revision``."""

    key: bytes
    value: bytes
    revision: int


@dataclass
class LockHold:
    """A lock holder's guarded write: fencing token and whether the guard held."""

    process: int
    token: int
    revision: int


@dataclass
class History:
    """Everything the workloads recorded in one run."""

    registers: list[RegisterOp] = field(default_factory=list)
    acked: list[AckedWrite] = field(default_factory=list)
    transfer_reads: list[tuple[int, dict[bytes, int]]] = field(default_factory=list)
    """(revision, balance of every account) from one Range each."""
    transfers: dict[Status, int] = field(default_factory=dict)
    lock_holds: list[LockHold] = field(default_factory=list)
    lock_errors: int = 0

    def invoke(self, op: RegisterOp) -> RegisterOp:
        self.registers.append(op)
        return op

    def count_transfer(self, status: Status) -> None:
        self.transfers[status] = self.transfers.get(status, 0) + 1

    @property
    def unknown(self) -> int:
        regs = sum(1 for op in self.registers if op.status is Status.UNKNOWN)
        return regs + self.transfers.get(Status.UNKNOWN, 0)

    @property
    def operations(self) -> int:
        return (
            len(self.registers)
            + sum(self.transfers.values())
            + len(self.transfer_reads)
            + len(self.lock_holds)
        )


@dataclass(frozen=True)
class Anomaly:
    """A violated guarantee: which checker, and what it saw."""

    checker: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.checker}] {self.detail}"
