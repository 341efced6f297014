"""Questions a follower puts to the leader over the peer transport.

Some state is kept only in the leader's memory, not replicated: lease
deadlines (see ``kvstore.lease.lessor``). A member that is not the leader
sends its questions to the leader, many in one message, and waits for the
answers; a message that gets no answer (the leader changed, a message was
lost) is answered ``None`` here, and the askers try again. Every method runs
on pysyncobj's tick thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REQUEST = "kv_ask"
RESPONSE = "kv_ask_response"
#: seconds after which an unanswered question is given up (a lost message)
MAX_AGE = 1.0
#: questions in one message at most (each is a few dozen bytes pickled)
MAX_BATCH = 512

#: called once, with the answer or ``None`` when there is none
Done = Callable[[Any], None]


@dataclass
class Outstanding:
    """Questions sent to a leader that await its answer."""

    max_age: float = MAX_AGE
    _asked: dict[int, tuple[Any, float, Done]] = field(default_factory=dict)
    _next_id: int = 0

    def ask(self, leader: Any, done: Done, now: float) -> int:
        self._next_id += 1
        self._asked[self._next_id] = (leader, now, done)
        return self._next_id

    def answered(self, request_id: int, answer: Any) -> None:
        asked = self._asked.pop(request_id, None)
        if asked is not None:
            asked[2](answer)

    def forget(self, leader: Any, now: float) -> None:
        """Questions to another leader, or unanswered for ``max_age``, get ``None``."""
        for request_id, (to, since, done) in list(self._asked.items()):
            if to != leader or now - since > self.max_age:
                del self._asked[request_id]
                done(None)

    def __len__(self) -> int:
        return len(self._asked)
