"""A removed voter learns of its removal from its peers, and stops (as etcd's).

pysyncobj's leader stops sending to a voter as it appends the voter's
removal, so the removed member never hears that the change committed, and
the voters refuse its links (an address they no longer know). It ran on cut
off, answering serializable reads from a store nobody updates any more, and
a restarted removed member did the same. etcd's peers answer a removed
member's messages with "410 Gone", and it stops.

Here a voter that has heard no leader for ``after`` seconds asks each other
voter it knows, every ``after`` seconds, over a link of its own (pysyncobj's
utility message, which a member answers before the link names a node):
"is member ID removed?". The answer is the asked member's applied member list
and the log index it has applied. The asker stops only if the answer says
removed *and* the asked member has applied at least as much of the log as the
asker: a member behind it, which may not have applied a later re-add of the
same ID yet, is not believed. A removed voter never applies its own removal
(it never hears it commit), so a peer that did is ahead of it.

Every method here runs on pysyncobj's tick thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from kvstore.raft.peerlink import PeerConnection

logger = logging.getLogger(__name__)

#: the utility message's command: ``[QUESTION, member_id]``
QUESTION = "kv_member_removed"
#: election timeouts without a leader before a voter asks, and between rounds
AFTER_TIMEOUTS = 5

#: a new link to the peer at ``host:port`` (not yet connected)
LinkFn = Callable[[], PeerConnection]


def answer(removed: bool, applied: int) -> dict[str, Any]:
    """What the asked member sends back."""
    return {"removed": removed, "applied": applied}


def believes_removed(reply: object, applied: int) -> bool:
    """The asker, at ``applied``, takes ``reply`` as its removal: the peer
    says so and has applied at least as much of the log."""
    if not isinstance(reply, dict) or reply.get("removed") is not True:
        return False
    peer_applied = reply.get("applied")
    return isinstance(peer_applied, int) and peer_applied >= applied


class _Asking:
    """One link, one question, one answer; then the link is closed."""

    def __init__(
        self, conn: PeerConnection, member_id: int, on_reply: Callable[[object], None]
    ) -> None:
        self.conn = conn
        self._question = [QUESTION, member_id]
        self._on_reply = on_reply
        conn.setOnConnectedCallback(self._connected)
        conn.setOnMessageReceivedCallback(self._received)

    def _connected(self) -> None:
        if self.conn.encryptor is None:
            self.conn.send(self._question)
            return
        # pysyncobj's key exchange comes first: each end sends the key the
        # other is to put on every message it sends
        self.conn.recvRandKey = os.urandom(32)
        self.conn.send(self.conn.recvRandKey)

    def _received(self, message: object) -> None:
        if self.conn.encryptor is not None and not self.conn.sendRandKey:
            self.conn.sendRandKey = message
            self.conn.send(self._question)
            return
        self.conn.disconnect()
        self._on_reply(message)


class RemovalCheck:
    def __init__(
        self,
        member_id: int,
        is_removed: Callable[[int], bool],
        after: float,
        started: float,
    ) -> None:
        self.member_id = member_id
        self._is_removed = is_removed
        self._after = after
        self._last_round = started
        self._asking: list[_Asking] = []
        #: the last leader contact whose silence was logged (once per silence)
        self._logged_silence: float | None = None
        #: set once a peer's answer was believed (the member stops)
        self.removed = False

    def answer(self, args: list[Any], applied: int) -> dict[str, Any]:
        """The asked member's side: ``args`` is ``[member_id]``."""
        member_id = args[0] if args else None
        removed = isinstance(member_id, int) and self._is_removed(member_id)
        return answer(removed, applied)

    def due(self, now: float, heard: float) -> bool:
        """A round is due: no leader heard for ``after`` seconds, none asked
        for as long."""
        if self.removed or now - heard < self._after:
            return False
        if now - self._last_round < self._after:
            return False
        if self._logged_silence != heard:
            self._logged_silence = heard
            logger.info(
                "no leader heard for %.0f s; asking the other voters whether "
                "this member was removed",
                min(now - heard, now - self._last_round),
            )
        return True

    def ask(
        self,
        now: float,
        peers: list[tuple[str, int]],
        link: LinkFn,
        applied: Callable[[], int],
        on_removed: Callable[[], None],
    ) -> None:
        """Ask every peer at ``(host, port)``; links of the last round that
        are still open are closed first."""
        self._last_round = now
        self.close()

        def replied(reply: object) -> None:
            if self.removed or not believes_removed(reply, applied()):
                return
            self.removed = True
            self.close()
            on_removed()

        for host, port in peers:
            asking = _Asking(link(), self.member_id, replied)
            self._asking.append(asking)
            asking.conn.connect(host, port)

    def close(self) -> None:
        asking, self._asking = self._asking, []
        for one in asking:
            one.conn.disconnect()
