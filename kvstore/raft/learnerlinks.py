"""Read-only links that say whose they are.

A learner (and a member joining as a voter, until it has caught up) is
pysyncobj's read-only node: it opens links to the voters, and the leader sends
it the log. pysyncobj's read-only nodes are anonymous: the first message on
the link is just ``"readonly"``. kvstore's learners send their peer address
with it instead, so that a voter

- accepts a read-only link only from a member in the replicated member list
  (not one never added, nor one removed);
- drops the link of a member removed meanwhile (checked every
  ``RECHECK_SECONDS``): a removed learner no longer receives the log;
- can tell how far one given learner is (MemberPromote).

The tick thread owns an instance; ``address_of`` may be read from others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: first message of a named read-only link: this prefix, then the peer address
HELLO = "readonly@"
#: how often a voter checks its read-only links against the member list
RECHECK_SECONDS = 1.0


class LearnerLinks:
    def __init__(self, own_address: str, admit: Callable[[str], bool] | None) -> None:
        self.hello = HELLO + own_address
        #: whether the member list has a (not removed) member at an address;
        #: None: every named link is accepted
        self._admit = admit
        #: read-only node ID (pysyncobj's counter) -> peer address
        self._at: dict[str, str] = {}
        self._refused: set[str] = set()
        self._checked = 0.0

    @staticmethod
    def named(message: object) -> str | None:
        """The peer address in a read-only link's first message, else None."""
        if isinstance(message, str) and message.startswith(HELLO):
            return message[len(HELLO) :]
        return None

    def admits(self, address: str) -> bool:
        if self._admit is None or self._admit(address):
            self._refused.discard(address)
            return True
        if address not in self._refused:
            self._refused.add(address)
            logger.warning(
                "refused a learner link: no member has this peer address "
                "(never added, or removed) address=%s",
                address,
            )
        return False

    def joined(self, node_id: str, address: str) -> None:
        self._at[node_id] = address

    def left(self, node_id: str) -> None:
        self._at.pop(node_id, None)

    def address_of(self, node_id: str) -> str | None:
        return self._at.get(node_id)

    def revoked(self, now: float) -> list[str]:
        """Read-only node IDs whose member is gone (at most every ``RECHECK_SECONDS``)."""
        if not self._at or now - self._checked < RECHECK_SECONDS:
            return []
        self._checked = now
        return [node_id for node_id, address in list(self._at.items()) if not self.admits(address)]
