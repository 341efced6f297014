"""Live watch responses, encoded once per published batch instead of once per watcher.

Many watchers on one prefix receive the same events. A protobuf message is the
concatenation of its fields' encodings, and a repeated field's elements may be
encoded one by one, so a watcher's response is joined from parts shared by
every watcher of the batch: the header (per revision), each event (as it is,
or without ``prev_kv``), and the watcher's own ``watch_id``. The response goes
to the stream as bytes; nothing is copied or serialized per watcher.
"""

from __future__ import annotations

from collections.abc import Callable

from kvstore.pb import kv_pb2, rpc_pb2
from kvstore.watch.watcher import shape

#: the complete header (identity and term included) at a revision
HeaderFn = Callable[[int], rpc_pb2.ResponseHeader]


class BatchEncoder:
    """The encodings of one batch; lives for one ``publish`` call (event
    identities key the cache, so the batch's events must outlive it)."""

    def __init__(self, header: HeaderFn) -> None:
        self._header = header
        self._heads: dict[int, bytes] = {}
        self._events: dict[tuple[int, bool], bytes] = {}

    def response(
        self, watch_id: int, revision: int, events: list[kv_pb2.Event], prev_kv: bool
    ) -> bytes:
        """A WatchResponse of ``events`` (shaped for ``prev_kv``) up to ``revision``."""
        head = self._heads.get(revision)
        if head is None:
            head = rpc_pb2.WatchResponse(header=self._header(revision)).SerializeToString()
            self._heads[revision] = head
        parts = [head, rpc_pb2.WatchResponse(watch_id=watch_id).SerializeToString()]
        for event in events:
            key = (id(event), prev_kv)
            encoded = self._events.get(key)
            if encoded is None:
                single = rpc_pb2.WatchResponse(events=[shape(event, prev_kv)])
                encoded = self._events[key] = single.SerializeToString()
            parts.append(encoded)
        return b"".join(parts)
