"""What a committed batch did, handed to the watch hub, the lessor and the token keeper."""

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
    #: auth tokens issued (token, user name): every member learns them
    tokens: list[tuple[str, str]] = field(default_factory=list)
    #: users whose tokens die (deleted, password changed); None in it: all users
    #: (auth disabled)
    untrusted: list[str | None] = field(default_factory=list)
    #: the whole state was replaced (a snapshot was installed): watchers re-sync
    reset: bool = False
    revision: int = 0
