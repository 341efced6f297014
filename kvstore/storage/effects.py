"""What a committed batch did, handed to the watch hub and the lessor."""

from __future__ import annotations

from dataclasses import dataclass, field

from kvstore.pb import kv_pb2


@dataclass(slots=True)
class Effects:
    """What happened in a batch, for the watch hub and the lessor."""

    events: list[tuple[int, list[kv_pb2.Event]]] = field(default_factory=list)
    granted: list[tuple[int, int]] = field(default_factory=list)
    revoked: list[int] = field(default_factory=list)
    renewed: list[int] = field(default_factory=list)
    #: the whole state was replaced (a snapshot was installed): watchers re-sync
    reset: bool = False
    revision: int = 0
