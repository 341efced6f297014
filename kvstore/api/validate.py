"""Request checks done before anything is proposed, with etcd's errors."""

from __future__ import annotations

from kvstore.config import MAX_LEASE_TTL
from kvstore.errors import (
    DuplicateKeyError,
    EmptyKeyError,
    InvalidArgumentError,
    InvalidSortOptionError,
    KeyTooLongError,
    LeaseProvidedError,
    LeaseTTLTooLargeError,
    RequestTooLargeError,
    TooManyOpsError,
    UnsupportedError,
    ValueProvidedError,
)
from kvstore.pb import rpc_pb2
from kvstore.raft import kvops
from kvstore.storage.backend import MAX_KEY_BYTES

RangeReq = rpc_pb2.RangeRequest
#: nested txn levels accepted (each level is two protobuf message levels)
MAX_TXN_DEPTH = 32


def check_size(size: int, limit: int) -> None:
    if size > limit:
        raise RequestTooLargeError()


def _check_key(key: bytes) -> None:
    if not key:
        raise EmptyKeyError()


def _check_stored_key(key: bytes) -> None:
    _check_key(key)
    if len(key) > MAX_KEY_BYTES:
        raise KeyTooLongError()


# the enums' values, looked up once (protobuf builds a new list on every call)
_SORT_ORDERS = frozenset(RangeReq.SortOrder.values())
_SORT_TARGETS = frozenset(RangeReq.SortTarget.values())
_WATCH_FILTERS = frozenset(rpc_pb2.WatchCreateRequest.FilterType.values())


def check_range(req: rpc_pb2.RangeRequest) -> None:
    _check_key(req.key)
    if req.sort_order not in _SORT_ORDERS or req.sort_target not in _SORT_TARGETS:
        raise InvalidSortOptionError()


def check_put(req: rpc_pb2.PutRequest) -> None:
    _check_stored_key(req.key)
    if req.ignore_value and req.value:
        raise ValueProvidedError()
    if req.ignore_lease and req.lease:
        raise LeaseProvidedError()


def check_delete(req: rpc_pb2.DeleteRangeRequest) -> None:
    _check_key(req.key)


def check_txn(req: rpc_pb2.TxnRequest, max_ops: int, depth: int = 1) -> None:
    """``max_ops``: compares, or operations of a branch, allowed (--max-txn-ops)."""
    if depth > MAX_TXN_DEPTH:
        # The command wrapping the txn must still decode on every member (the
        # protobuf runtime limits nesting); a member that cannot decode a
        # committed entry has to stop, so refuse it here.
        raise InvalidArgumentError(f"kvstore: txn nested deeper than {MAX_TXN_DEPTH} levels")
    if max(len(req.compare), len(req.success), len(req.failure)) > max_ops:
        raise TooManyOpsError()
    for cmp in req.compare:
        _check_key(cmp.key)
    for op in (*req.success, *req.failure):
        _check_op(op, max_ops, depth)
    _check_intervals(list(req.success))
    _check_intervals(list(req.failure))


def _check_op(op: rpc_pb2.RequestOp, max_ops: int, depth: int) -> None:
    kind = op.WhichOneof("request")
    if kind == "request_range":
        check_range(op.request_range)
    elif kind == "request_put":
        check_put(op.request_put)
    elif kind == "request_delete_range":
        check_delete(op.request_delete_range)
    elif kind == "request_txn":
        check_txn(op.request_txn, max_ops, depth + 1)


class _Deletes:
    """Deleted ranges, as etcd's interval check sees them: [key, range_end) or a point."""

    def __init__(self) -> None:
        self.spans: list[tuple[bytes, bytes | None]] = []

    def add(self, req: rpc_pb2.DeleteRangeRequest) -> None:
        self.spans.append((req.key, req.range_end or None))

    def hits(self, key: bytes) -> bool:
        for start, end in self.spans:
            if end is None and key == start:
                return True
            if end is not None and start <= key < end:
                return True
        return False


def _check_intervals(ops: list[rpc_pb2.RequestOp]) -> tuple[set[bytes], _Deletes]:
    """Reject a put overlapping another put or a delete of the same branch.

    Puts in the then- and else-branch of a nested txn may share keys: only
    one branch runs. Deletes may overlap each other.
    """
    dels = _Deletes()
    for op in ops:
        if op.WhichOneof("request") == "request_delete_range":
            dels.add(op.request_delete_range)
    puts: set[bytes] = set()
    for op in ops:
        if op.WhichOneof("request") != "request_txn":
            continue
        then_puts, then_dels = _check_intervals(list(op.request_txn.success))
        else_puts, else_dels = _check_intervals(list(op.request_txn.failure))
        for key in then_puts:
            if key in puts or dels.hits(key):
                raise DuplicateKeyError()
            puts.add(key)
        for key in else_puts:
            if (key in puts and key not in then_puts) or dels.hits(key):
                raise DuplicateKeyError()
            puts.add(key)
        dels.spans.extend(then_dels.spans)
        dels.spans.extend(else_dels.spans)
    for op in ops:
        if op.WhichOneof("request") != "request_put":
            continue
        key = op.request_put.key
        if key in puts or dels.hits(key):
            raise DuplicateKeyError()
        puts.add(key)
    return puts, dels


def txn_writes(req: rpc_pb2.TxnRequest) -> bool:
    """Whether any branch of the txn (or of a nested one) puts or deletes."""
    return kvops.txn_has(req, kvops.WRITES)


def check_lease_grant(req: rpc_pb2.LeaseGrantRequest) -> None:
    if req.TTL > MAX_LEASE_TTL:
        raise LeaseTTLTooLargeError()


def check_watch_create(req: rpc_pb2.WatchCreateRequest) -> None:
    for f in req.filters:
        if f not in _WATCH_FILTERS:
            raise UnsupportedError(f"watch filter {f}")
