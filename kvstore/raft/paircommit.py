"""A follower that learns of a commit from the leader's journal, a round trip sooner.

A write sent to a follower is answered once that follower has applied it,
which waits for the leader's commit announcement: the follower syncs the
entry and acknowledges it, the leader counts the acknowledgement, commits,
and tells the follower. With 3 voters, the follower and the leader are a
majority by themselves, so the follower can apply Raft's commit rule itself
once it knows the leader's journal holds the entry too:

- The leader answers a forwarded proposal with its log position
  (pysyncobj's ``apply_command_response``). It stamps the answer with its term
  and the last index its journal has synced (``stamp``).
- A follower in that term takes an entry of that term as committed once its
  own journal has synced it and the leader's stamp covers it (``commit``):
  both hold the same log up to it (only that term's leader makes entries of
  that term), durably, and they are a majority. No later leader can be elected
  without it. Entries before it are committed with it, as in Raft.
- The leader may not have counted the acknowledgement yet, so a read or an
  answer it serves must not miss what such a follower answered: its read index
  is at least the highest index it stamped in its term (``floor``).

The stamped answer goes out after the leader's sync when the leader sends a
lone write's entries at once (an idle leader); under load the answers go out
before it, stamp less, and followers wait for the announcement as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: the term of the entry at an index, None when the log has no such entry
TermAt = Callable[[int], int | None]


@dataclass
class PairCommit:
    #: (index, term) of the last entry this member's journal had when it synced
    synced: tuple[int, int] = (0, 0)
    #: (term, index) the leader stamped on its last answer to this member
    leaders: tuple[int, int] = (0, 0)
    #: as leader: (term, highest index stamped on an answer in that term)
    stamped: tuple[int, int] = (0, 0)

    def durable(self, term_at: TermAt) -> int:
        """The index this member's journal holds synced, or 0: a log truncated
        and written again since the sync may hold unsynced entries there."""
        index, term = self.synced
        return index if index and term_at(index) == term else 0

    # ---- leader ------------------------------------------------------------------

    def stamp(self, term: int, term_at: TermAt) -> int:
        """The durable index to stamp on an answer now (leader), remembered."""
        index = self.durable(term_at)
        held_term, held = self.stamped
        self.stamped = (term, max(index, held) if held_term == term else index)
        return index

    def floor(self, term: int) -> int:
        """The least read index in ``term``: a follower may have applied up to it."""
        held_term, held = self.stamped
        return held if held_term == term else 0

    # ---- follower ----------------------------------------------------------------

    def heard(self, term: int, index: int) -> None:
        """The leader of ``term`` stamped ``index`` on an answer."""
        self.leaders = (term, index)

    def commit(self, term: int, commit: int, voters: int, term_at: TermAt) -> int | None:
        """A higher commit index this follower may take in ``term``, or None.
        ``voters``: the voting members, this one among them."""
        leader_term, leader_index = self.leaders
        if leader_term != term or voters > 3:  # the two are a majority of at most 3
            return None
        candidate = min(leader_index, self.durable(term_at))
        if candidate <= commit or term_at(candidate) != term:
            return None
        return candidate
