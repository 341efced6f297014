"""ReadIndex: linearizable reads without a log entry (Raft thesis, section 6.4).

A read must see every write acknowledged before it started. Appending a
barrier entry to the log proves that, but costs a disk sync on a majority and
an LMDB commit per barrier. ReadIndex proves it with a heartbeat instead:

1. The leader notes its commit index. It is complete only once the leader has
   committed an entry of its own term; until then it answers "unknown" and
   the caller falls back to a barrier entry.
2. It sends a round of append-entries stamped with a round number, and waits
   until a majority (itself included) has answered that round, in its term.
   No other leader can then have committed anything the noted index lacks.
3. The reader waits until its own member has applied up to that index.

A follower asks the leader for steps 1 and 2 and does step 3 itself. Its
question, stamped with its term, is itself an answer for step 2: the follower
sent it after the read began, while it was in the leader's term, so it had
voted for no newer leader by then. A newer leader needs the votes of a
majority, which overlaps every majority holding the follower and the leader;
so where the two are a majority (3 voters) the leader answers at once, with no
round (etcd sends one). Elsewhere the question counts for the follower in the
round it waits for. Only for that question: the leader's own reads, or
another member's, may have begun after it was sent.

Every method here runs on pysyncobj's tick thread, as ``RaftNode`` calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kvstore.raft.leaderask import Outstanding

#: called once: True when the local state machine has applied the read index,
#: False when this path cannot answer (the caller falls back to a log barrier)
ReadDone = Callable[[bool], None]
IndexDone = Callable[[int | None], None]

REQUEST = "kv_read_index"
RESPONSE = "kv_read_index_response"


@dataclass
class _Confirming:
    commit: int
    round: int
    done: IndexDone
    #: the voter that asked, in the leader's term (it has answered for this read)
    asker: Any = None


@dataclass
class ReadIndex:
    #: append-entries rounds this member has sent
    round: int = 0
    #: on a follower: the round of the append-entries being handled, echoed in the reply
    echo: int | None = None
    _acked: dict[Any, int] = field(default_factory=dict)
    _confirming: list[_Confirming] = field(default_factory=list)
    _applying: list[tuple[int, ReadDone]] = field(default_factory=list)
    _asked: Outstanding = field(default_factory=Outstanding)

    # ---- leader -------------------------------------------------------------

    def confirm(self, commit: int, done: IndexDone, asker: Any = None) -> None:
        """Answer ``done(commit)`` once a round sent from now on is
        acknowledged; ``asker``, a voter asking in the leader's term, counts as
        acknowledging it already."""
        self._confirming.append(_Confirming(commit, self.round + 1, done, asker))

    @property
    def confirming(self) -> bool:
        """Reads wait for a majority to acknowledge a round."""
        return bool(self._confirming)

    def needs_round(self) -> bool:
        return any(c.round > self.round for c in self._confirming)

    def acked(self, node: Any, round_: int) -> None:
        if round_ > self._acked.get(node, 0):
            self._acked[node] = round_

    def settle(self, leader: bool, voters: set[Any]) -> None:
        """Answer the reads a majority has confirmed; fail them all on losing leadership."""
        if not self._confirming:
            return
        if not leader:
            pending, self._confirming = self._confirming, []
            self._acked.clear()
            for c in pending:
                c.done(None)
            return
        waiting = []
        for c in self._confirming:
            votes = 1 + sum(1 for n in voters if n == c.asker or self._acked.get(n, 0) >= c.round)
            if 2 * votes > len(voters) + 1:
                c.done(c.commit)
            else:
                waiting.append(c)
        self._confirming = waiting

    @property
    def waiting(self) -> bool:
        """Reads wait for a round, an answer from the leader or an apply."""
        return bool(self._confirming or self._applying or len(self._asked))

    # ---- follower -----------------------------------------------------------

    def ask(self, leader: Any, done: ReadDone, now: float) -> int:
        def answered(index: int | None) -> None:
            if index is None:
                done(False)
            else:
                self.after_applied(index, done)

        return self._asked.ask(leader, answered, now)

    def answered(self, request_id: int, index: int | None) -> None:
        self._asked.answered(request_id, index)

    def forget_asked(self, leader: Any, now: float) -> None:
        """The leader changed, or it did not answer in time: no answer will come."""
        self._asked.forget(leader, now)

    # ---- both -----------------------------------------------------------------

    @property
    def applying(self) -> bool:
        """Reads wait for this member to apply an index."""
        return bool(self._applying)

    def after_applied(self, index: int, done: ReadDone) -> None:
        self._applying.append((index, done))

    def applied(self, last_applied: int) -> None:
        if not self._applying:
            return
        waiting = []
        for index, done in self._applying:
            if last_applied >= index:
                done(True)
            else:
                waiting.append((index, done))
        self._applying = waiting
