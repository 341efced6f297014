"""Range requests with etcd's semantics, over any ``ReadView``.

Order of work, as etcd does it: count the whole range; fetch (everything when
sorting or filtering, else limit + 1 to learn ``more``); drop keys outside the
min/max mod/create revision bounds; sort; cut to ``limit``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

from kvstore.errors import CompactedError, FutureRevisionError
from kvstore.pb import kv_pb2, rpc_pb2
from kvstore.storage.keys import KeyRange
from kvstore.storage.records import parse_payload
from kvstore.storage.view import ReadView

Req = rpc_pb2.RangeRequest

_SORT_FIELD = {
    Req.KEY: lambda kv: kv.key,
    Req.VERSION: lambda kv: kv.version,
    Req.CREATE: lambda kv: kv.create_revision,
    Req.MOD: lambda kv: kv.mod_revision,
    Req.VALUE: lambda kv: kv.value,
}


def check_revision(view: ReadView, rev: int) -> None:
    """Raise unless ``rev`` (> 0) is retained: not compacted, not in the future."""
    if rev > view.head:
        raise FutureRevisionError()
    if rev < view.compacted:
        raise CompactedError()


def execute_range(view: ReadView, req: rpc_pb2.RangeRequest) -> rpc_pb2.RangeResponse:
    resp = _execute(view, req, None)
    assert resp is not None
    return resp


def execute_small_range(
    view: ReadView, req: rpc_pb2.RangeRequest, most: int
) -> rpc_pb2.RangeResponse | None:
    """The response to ``req``, or None when its range holds more than ``most``
    keys, found out by looking at no more than ``most + 1`` of them."""
    return _execute(view, req, most)


def _execute(
    view: ReadView, req: rpc_pb2.RangeRequest, most: int | None
) -> rpc_pb2.RangeResponse | None:
    head = view.head
    rev = req.revision if req.revision > 0 else head
    check_revision(view, rev)
    read_rev = None if rev >= head else rev
    kr = KeyRange.of(req.key, req.range_end)
    resp = rpc_pb2.RangeResponse()
    resp.header.revision = head  # etcd reports the store revision, not the read one
    records: Iterable[bytes]
    if kr.single:  # a get: one lookup serves both the count and the answer
        raw = view.get_record(kr.start, read_rev)
        records = () if raw is None else (raw,)
        resp.count = len(records)
    else:
        records = view.iter_records(kr, read_rev)
        resp.count = view.count_range(kr, read_rev, most)
    if most is not None and resp.count > most:
        return None
    if req.count_only:
        return resp

    filtered = bool(
        req.min_mod_revision
        or req.max_mod_revision
        or req.min_create_revision
        or req.max_create_revision
    )
    fetch = 0 if req.sort_order != Req.NONE or filtered else req.limit
    by_key = req.sort_target == Req.KEY and req.sort_order in (Req.NONE, Req.ASCEND)
    if by_key and not filtered and not req.keys_only:
        _add_records(resp, iter(records), req.limit)
        return resp
    found = map(parse_payload, records)  # a get's record is not looked up again
    kvs = list(itertools.islice(found, fetch + 1) if fetch > 0 else found)
    if filtered:
        kvs = [kv for kv in kvs if _in_bounds(req, kv)]

    order = req.sort_order
    if order == Req.NONE and req.sort_target != Req.KEY:
        order = Req.ASCEND
    if order != Req.NONE and not (order == Req.ASCEND and req.sort_target == Req.KEY):
        kvs.sort(key=_SORT_FIELD[req.sort_target], reverse=order == Req.DESCEND)

    if req.limit > 0 and len(kvs) > req.limit:
        kvs = kvs[: req.limit]
        resp.more = True
    if req.keys_only:
        for kv in kvs:
            kv.ClearField("value")
    resp.kvs.extend(kvs)
    return resp


def _add_records(resp: rpc_pb2.RangeResponse, found: Iterator[bytes], limit: int) -> None:
    """Append serialized KeyValues to ``resp`` as they are: one parse of the
    whole list instead of a message per key."""
    kvs = list(itertools.islice(found, limit + 1) if limit > 0 else found)
    if limit > 0 and len(kvs) > limit:
        kvs = kvs[:limit]
        resp.more = True
    wire: list[bytes] = []
    for kv in kvs:
        wire.append(_kvs_field(len(kv)))
        wire.append(kv)
    resp.MergeFromString(b"".join(wire))


def _kvs_field(size: int) -> bytes:
    """The tag and length (a varint) that precede a KeyValue of ``size`` bytes
    in RangeResponse.kvs: field 2, length-delimited."""
    if size < 0x80:  # the common lengths first, without a loop
        return bytes((0x12, size))
    if size < 0x4000:
        return bytes((0x12, size & 0x7F | 0x80, size >> 7))
    out = bytearray(b"\x12")
    while size > 0x7F:
        out.append(size & 0x7F | 0x80)
        size >>= 7
    out.append(size)
    return bytes(out)


def _in_bounds(req: rpc_pb2.RangeRequest, kv: kv_pb2.KeyValue) -> bool:
    if req.min_mod_revision and kv.mod_revision < req.min_mod_revision:
        return False
    if req.max_mod_revision and kv.mod_revision > req.max_mod_revision:
        return False
    if req.min_create_revision and kv.create_revision < req.min_create_revision:
        return False
    return not (req.max_create_revision and kv.create_revision > req.max_create_revision)
