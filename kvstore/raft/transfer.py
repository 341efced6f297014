"""Keeping a snapshot transfer alive on pysyncobj's peer link.

pysyncobj sends a snapshot to a follower that is behind its log as a run of
append-entries, one piece each, and the follower answers only the last one.
A connection that has read nothing for ``connectionTimeout`` is closed as
dead, so the leader closed its link in the middle of any transfer lasting
longer than that (1.5 s by default: a few hundred MB here). pysyncobj then
reconnects at once and goes on with the next piece: the pieces queued on the
old connection are lost, and the follower assembled a file with a hole. The
CRC refused it, the leader sent it again, and the member never caught up.

Two repairs, both here:

- While pieces arrive, the follower tells the leader it is alive with a
  small ``PROGRESS`` message (``ProgressPacer`` says when), which the leader
  reads and drops. A transfer of any length keeps its connection.
- Whenever the link to a member drops, a transfer to it starts over from the
  first piece (``RaftNode.link_lost``), so a file with a hole is never sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROGRESS = "kv_snapshot_progress"


def is_snapshot_piece(message: dict[str, Any]) -> bool:
    """A piece of a snapshot that is not its last (pysyncobj's ``serialized``
    holds ``(data, is_first, is_last)``)."""
    serialized = message.get("serialized")
    return serialized is not None and not serialized[2]


@dataclass
class ProgressPacer:
    """When a follower receiving a snapshot should tell the leader it is alive."""

    #: seconds between progress messages; well under the connection timeout
    interval: float
    _last: dict[Any, float] = field(default_factory=dict)

    def due(self, node: Any, now: float) -> bool:
        if now - self._last.get(node, float("-inf")) < self.interval:
            return False
        self._last[node] = now
        return True
