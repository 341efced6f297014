"""Watch responses split for watchers that asked for fragments.

A watch created with ``fragment`` set receives a response whose encoding
reaches the server's limit (``--max-request-bytes`` and gRPC's 512 KiB
allowance, as etcd counts it) as several responses, each with the same header
and watch id. Every part but the last has ``fragment`` set; the client joins
the parts up to the one without it. Events are kept in order and whole: a part
holds as many as keep it under the limit, and at least one, so a single large
event still goes out alone. A response under the limit, or with fewer than two
events, goes out as it is (etcd's rule, in its watch server's send loop).
"""

from __future__ import annotations

from collections.abc import Iterator

from kvstore.pb import kv_pb2, rpc_pb2

#: the tag of WatchResponse.events (field 11, length-delimited)
_EVENT_TAG_BYTES = 1


def _varint_bytes(n: int) -> int:
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def _encoded(event: kv_pb2.Event) -> int:
    """Bytes ``event`` takes as an element of WatchResponse.events."""
    n = event.ByteSize()
    return _EVENT_TAG_BYTES + _varint_bytes(n) + n


def fragments(response: rpc_pb2.WatchResponse, limit: int) -> Iterator[rpc_pb2.WatchResponse]:
    """``response`` as the parts a fragmenting watcher receives, in order."""
    if len(response.events) < 2 or response.ByteSize() < limit:
        yield response
        return
    events = list(response.events)
    part = rpc_pb2.WatchResponse()
    part.CopyFrom(response)
    del part.events[:]
    part.fragment = True
    base = part.ByteSize()
    start = 0
    while start < len(events):
        end, size = start, base
        while end < len(events):
            size += _encoded(events[end])
            if end > start and size >= limit:
                break
            end += 1
        out = rpc_pb2.WatchResponse()
        out.CopyFrom(part)
        out.events.extend(events[start:end])
        out.fragment = end < len(events)
        yield out
        start = end
