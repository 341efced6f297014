"""Pre-vote: a member campaigns only if a majority would vote for it
(Raft thesis, section 9.6; etcd's ``--pre-vote``).

pysyncobj campaigns as soon as a follower's election timeout passes: it
raises its term and asks for votes. Any voter that sees the higher term drops
its own leader. So a member that merely cannot hear the leader deposed a
healthy one: a follower cut off from the leader alone (it still reaches the
other follower, which then voted for it), or one restarted whose first
timeout passed before the leader's append-entries reached it.

Before pysyncobj may campaign, a member now asks the other voters whether
they would vote for it in the next term, without changing anyone's term or
vote. A voter says yes only if it has not heard a leader for
``lease`` seconds (the minimum election timeout), is not the leader
itself, the asked term is above its own, and the asker's log is at least as
up to date as its own. With a majority of yeses (itself included) the member
campaigns as before; otherwise it waits for its next election timeout and
asks again. A leadership transfer (pysyncobj's ``timeout_now``) campaigns at
once, without asking: the leader itself asked for it.

A member told no by a voter in a higher term takes that term, as Raft's rule
for any message from a higher term says; its next round can then succeed.
Every method here runs on pysyncobj's tick thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REQUEST = "kv_pre_vote"
RESPONSE = "kv_pre_vote_response"


def up_to_date(last_term: int, last_index: int, my_last_term: int, my_last_index: int) -> bool:
    """Raft's election restriction: the asker's log is at least as up to date."""
    if last_term != my_last_term:
        return last_term > my_last_term
    return last_index >= my_last_index


@dataclass
class PreVote:
    #: seconds after hearing a leader during which this member says no
    lease: float
    _heard: float = float("-inf")
    #: the term the round under way asks for (None: no round)
    _asking: int | None = None
    _yes: set[Any] = field(default_factory=set)
    #: a round passed while this member was in this term: it may campaign
    _passed: int | None = None

    # ---- the asking member ------------------------------------------------------

    @property
    def searching(self) -> bool:
        """A round began since this member last heard a leader: it knows none
        it can hear. (pysyncobj keeps naming the old one until it campaigns; an
        etcd pre-candidate reports no leader.)"""
        return self._asking is not None or self._passed is not None

    def may_campaign(self, term: int) -> bool:
        return self._passed == term

    def ask(self, term: int, last_term: int, last_index: int) -> dict[str, Any]:
        """Start a round for ``term + 1``; the message to send to every voter."""
        self._asking = term + 1
        self._yes = set()
        return {
            "type": REQUEST,
            "term": term + 1,
            "last_log_term": last_term,
            "last_log_index": last_index,
        }

    def answered(self, node: Any, message: dict[str, Any], term: int, voters: int) -> bool:
        """Count a yes to the round under way; True when it has just passed
        (a majority of ``voters``, this member included)."""
        if not message.get("granted") or self._asking is None:
            return False
        if int(message.get("term", -1)) != self._asking or self._asking != term + 1:
            return False  # an answer to an older round
        self._yes.add(node)
        if 2 * (1 + len(self._yes)) <= voters:
            return False
        self._passed, self._asking = term, None
        return True

    def allow(self, term: int) -> None:
        """Campaign without asking (a lone voter: the round is its own yes)."""
        self._passed = term

    @property
    def heard_at(self) -> float:
        """When an append-entries from a leader last arrived (-inf: never)."""
        return self._heard

    # ---- the asked voter --------------------------------------------------------------

    def heard_leader(self, now: float) -> None:
        """An append-entries from the leader of this member's term arrived."""
        self._heard = now
        self._asking = self._passed = None

    def grants(
        self,
        message: dict[str, Any],
        now: float,
        *,
        leader: bool,
        term: int,
        last_term: int,
        last_index: int,
    ) -> bool:
        if leader or now - self._heard < self.lease:
            return False
        if int(message.get("term", -1)) <= term:
            return False
        return up_to_date(
            int(message.get("last_log_term", -1)),
            int(message.get("last_log_index", -1)),
            last_term,
            last_index,
        )
