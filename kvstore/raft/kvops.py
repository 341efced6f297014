"""What Put, DeleteRange and Txn do to the store when applied.

Pure functions over a ``WriteView`` inside an open revision. They raise only
``KvError`` for conditions that depend on state (a missing lease, ignore_value
on a missing key); the state machine turns those into error results.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvstore.errors import KeyNotFoundError, LeaseNotFoundError
from kvstore.pb import command_pb2, kv_pb2, rpc_pb2
from kvstore.storage.keys import KeyRange
from kvstore.storage.ranges import execute_range
from kvstore.storage.write import WriteView

Cmp = rpc_pb2.Compare


def needs_space(cmd: command_pb2.Command) -> bool:
    """Commands refused while the NOSPACE alarm is on (as etcd): puts, txns that
    put in any branch, lease grants. Deletes and compaction free space."""
    kind = cmd.WhichOneof("op")
    if kind in ("put", "lease_grant"):
        return True
    return kind == "txn" and txn_has(cmd.txn, PUTS)


PUTS = frozenset({"request_put"})
WRITES = frozenset({"request_put", "request_delete_range"})


def txn_has(req: rpc_pb2.TxnRequest, kinds: frozenset[str]) -> bool:
    """Whether any branch of the txn (or of a nested one) has an op of ``kinds``."""
    for op in (*req.success, *req.failure):
        kind = op.WhichOneof("request")
        if kind in kinds or (kind == "request_txn" and txn_has(op.request_txn, kinds)):
            return True
    return False


def apply_put(view: WriteView, req: rpc_pb2.PutRequest) -> rpc_pb2.PutResponse:
    value, lease = req.value, req.lease
    if lease and view.lease_ttl(lease) is None:  # etcd looks the lease up first
        raise LeaseNotFoundError()
    if req.ignore_value or req.ignore_lease:
        prev = view.get(req.key)
        if prev is None:
            raise KeyNotFoundError()
        if req.ignore_value:
            value = prev.value
        if req.ignore_lease:
            lease = prev.lease  # attached to a live key: the lease exists
    prev = view.put(req.key, value, lease)
    resp = rpc_pb2.PutResponse()
    resp.header.revision = view.pending_revision
    if req.prev_kv and prev is not None:
        resp.prev_kv.CopyFrom(prev)
    return resp


def apply_delete(view: WriteView, req: rpc_pb2.DeleteRangeRequest) -> rpc_pb2.DeleteRangeResponse:
    deleted = view.delete_range(KeyRange.of(req.key, req.range_end))
    resp = rpc_pb2.DeleteRangeResponse(deleted=len(deleted))
    resp.header.revision = view.pending_revision
    if req.prev_kv:
        resp.prev_kvs.extend(deleted)
    return resp


@dataclass(frozen=True, slots=True)
class _Path:
    """Which branch each (nested) txn takes, decided before anything is written."""

    succeeded: bool
    nested: tuple[_Path, ...]


def _choose(view: WriteView, req: rpc_pb2.TxnRequest) -> _Path:
    succeeded = all(_compare(view, c) for c in req.compare)
    ops = req.success if succeeded else req.failure
    nested = tuple(
        _choose(view, op.request_txn) for op in ops if op.WhichOneof("request") == "request_txn"
    )
    return _Path(succeeded, nested)


def apply_txn(view: WriteView, req: rpc_pb2.TxnRequest) -> rpc_pb2.TxnResponse:
    """Decide every branch (nested ones too) against the state before the txn,
    as etcd does; check the chosen ops; then run them in order."""
    path = _choose(view, req)
    _precheck(view, req, path)
    resp = _run_txn(view, req, path)
    resp.header.revision = view.pending_revision
    return resp


def _run_txn(view: WriteView, req: rpc_pb2.TxnRequest, path: _Path) -> rpc_pb2.TxnResponse:
    resp = rpc_pb2.TxnResponse(succeeded=path.succeeded)
    resp.header.SetInParent()  # etcd leaves the header of a nested txn empty
    nested = iter(path.nested)
    for op in req.success if path.succeeded else req.failure:
        if op.WhichOneof("request") == "request_txn":
            inner = _run_txn(view, op.request_txn, next(nested))
            resp.responses.append(rpc_pb2.ResponseOp(response_txn=inner))
        else:
            resp.responses.append(_run_op(view, op))
    return resp


def _run_op(view: WriteView, op: rpc_pb2.RequestOp) -> rpc_pb2.ResponseOp:
    kind = op.WhichOneof("request")
    if kind == "request_range":
        return rpc_pb2.ResponseOp(response_range=execute_range(view, op.request_range))
    if kind == "request_put":
        return rpc_pb2.ResponseOp(response_put=apply_put(view, op.request_put))
    if kind == "request_delete_range":
        return rpc_pb2.ResponseOp(response_delete_range=apply_delete(view, op.request_delete_range))
    return rpc_pb2.ResponseOp()


def _precheck(view: WriteView, req: rpc_pb2.TxnRequest, path: _Path) -> None:
    """Fail the whole txn before any write, as etcd does: every put on the chosen
    path first (ignore_* needs the key, then the lease must exist), then every range
    (its revision must be retained)."""
    _check(view, req, path, "request_put")
    _check(view, req, path, "request_range")


def _check(view: WriteView, req: rpc_pb2.TxnRequest, path: _Path, kind: str) -> None:
    nested = iter(path.nested)
    for op in req.success if path.succeeded else req.failure:
        which = op.WhichOneof("request")
        if which == "request_txn":
            _check(view, op.request_txn, next(nested), kind)
        elif which != kind:
            continue
        elif which == "request_put":
            put = op.request_put
            if (put.ignore_value or put.ignore_lease) and view.get(put.key) is None:
                raise KeyNotFoundError()
            if put.lease and view.lease_ttl(put.lease) is None:
                raise LeaseNotFoundError()
        else:
            execute_range(view, op.request_range)  # raises on a bad revision


def _compare(view: WriteView, cmp: rpc_pb2.Compare) -> bool:
    kvs = list(view.iter_range(KeyRange.of(cmp.key, cmp.range_end)))
    if not kvs:
        if cmp.target == Cmp.VALUE:
            return False  # a missing key has no value to compare
        return _compare_kv(cmp, kv_pb2.KeyValue())
    return all(_compare_kv(cmp, kv) for kv in kvs)


def _compare_kv(cmp: rpc_pb2.Compare, kv: kv_pb2.KeyValue) -> bool:
    target = cmp.target
    ours: int | bytes
    theirs: int | bytes
    if target == Cmp.VALUE:
        ours, theirs = kv.value, cmp.value
    elif target == Cmp.VERSION:
        ours, theirs = kv.version, cmp.version
    elif target == Cmp.CREATE:
        ours, theirs = kv.create_revision, cmp.create_revision
    elif target == Cmp.MOD:
        ours, theirs = kv.mod_revision, cmp.mod_revision
    else:
        ours, theirs = kv.lease, cmp.lease
    order = (ours > theirs) - (ours < theirs)  # type: ignore[operator]
    result = cmp.result
    if result == Cmp.EQUAL:
        return order == 0
    if result == Cmp.GREATER:
        return order > 0
    if result == Cmp.LESS:
        return order < 0
    return order != 0
