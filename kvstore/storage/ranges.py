"""Range requests with etcd's semantics, over any ``ReadView``.

Order of work, as etcd does it: count the whole range; fetch (everything when
sorting or filtering, else limit + 1 to learn ``more``); drop keys outside the
min/max mod/create revision bounds; sort; cut to ``limit``.
"""

from __future__ import annotations

import itertools

from kvstore.errors import CompactedError, FutureRevisionError
from kvstore.pb import kv_pb2, rpc_pb2
from kvstore.storage.keys import KeyRange
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
    head = view.head
    rev = req.revision if req.revision > 0 else head
    check_revision(view, rev)
    read_rev = None if rev >= head else rev
    kr = KeyRange.of(req.key, req.range_end)
    resp = rpc_pb2.RangeResponse()
    resp.header.revision = head  # etcd reports the store revision, not the read one
    resp.count = view.count_range(kr, read_rev)
    if req.count_only:
        return resp

    filtered = bool(
        req.min_mod_revision
        or req.max_mod_revision
        or req.min_create_revision
        or req.max_create_revision
    )
    fetch = 0 if req.sort_order != Req.NONE or filtered else req.limit
    found = view.iter_range(kr, read_rev)
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


def _in_bounds(req: rpc_pb2.RangeRequest, kv: kv_pb2.KeyValue) -> bool:
    if req.min_mod_revision and kv.mod_revision < req.min_mod_revision:
        return False
    if req.max_mod_revision and kv.mod_revision > req.max_mod_revision:
        return False
    if req.min_create_revision and kv.create_revision < req.min_create_revision:
        return False
    return not (req.max_create_revision and kv.create_revision > req.max_create_revision)
