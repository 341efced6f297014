"""Hypothesis strategies for commands and reads over a small key alphabet.

Revisions in requests (compaction targets, range revisions, compare revisions) are
drawn relative to the model's current head and compacted revision, so that retained,
compacted and future revisions all come up. Txns are built free of duplicate-key
writes (etcd rejects those before apply, kvstore's api/ validates the same).

The builders are plain functions over ``draw`` using module-level (or cached)
primitive strategies, wrapped once per public strategy: building fresh strategy trees
for every draw made Hypothesis spend most of the suite's time validating them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from kvstore.pb import command_pb2, rpc_pb2
from tests.property.model import Model, prefix_end

Req = rpc_pb2.RangeRequest
Cmp = rpc_pb2.Compare
Draw = Callable[[st.SearchStrategy[Any]], Any]

KEYS = [b"a", b"ab", b"abc", b"b", b"c\xff"]
# Extra range bounds around the keys: below, between, above, and absent keys.
BOUNDS = [b"\0", b"a", b"a\0", b"aa", b"ab", b"abc", b"b", b"c", b"c\xff", b"c\xff\0", b"d"]
VALUES = [b"", b"x", b"y", b"xy"]
LEASE_IDS = [1, 2, 3]

_keys = st.sampled_from(KEYS)
_values = st.sampled_from(VALUES)
_lease_ids = st.sampled_from(LEASE_IDS)
_bool = st.booleans()
_single_keys = st.sampled_from([*KEYS, b"aa", b"c"])
_prefixes = st.sampled_from([*KEYS, b"c", b"\xff"])
_from_keys = st.sampled_from([b"\0", b"a", b"ab", b"b", b"c"])
_starts = st.sampled_from(BOUNDS)
_ends = st.sampled_from(BOUNDS[1:])
_limits = st.sampled_from([0, 1, 1, 2, 2, 3, 4])
_sort_orders = st.sampled_from([Req.NONE, Req.ASCEND, Req.DESCEND])
_sort_targets = st.sampled_from([Req.KEY, Req.VERSION, Req.CREATE, Req.MOD, Req.VALUE])
_cmp_targets = st.sampled_from([Cmp.VERSION, Cmp.CREATE, Cmp.MOD, Cmp.VALUE, Cmp.LEASE])
_cmp_results = st.sampled_from([Cmp.EQUAL, Cmp.GREATER, Cmp.LESS, Cmp.NOT_EQUAL])
_cmp_leases = st.sampled_from([0, *LEASE_IDS])
_ttls = st.integers(0, 10)
_COMMAND_KINDS = st.sampled_from(
    ["put"] * 4 + ["delete"] + ["txn"] * 3 + ["compact", "grant", "revoke"]
)


def _chance(draw: Draw, one_in: int) -> bool:
    return bool(draw(st.integers(0, one_in - 1)) == 0)


# ---- pieces ---------------------------------------------------------------------


def draw_key_range(draw: Draw, single_weight: int = 2) -> tuple[bytes, bytes]:
    """(key, range_end): single keys, prefixes, from-key, arbitrary (even empty) ranges."""
    kind = draw(st.integers(0, single_weight + 2))
    if kind < single_weight:
        return draw(_single_keys), b""
    if kind == single_weight:
        p = draw(_prefixes)
        return p, prefix_end(p)
    if kind == single_weight + 1:
        return draw(_from_keys), b"\0"
    return draw(_starts), draw(_ends)


def draw_revision(draw: Draw, model: Model) -> int:
    """A revision that is retained, compacted or in the future (never <= 0)."""
    head, c = model.head, model.compacted
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return head
    if kind == 1:
        return int(draw(st.integers(head + 1, head + 2)))
    if kind == 2 and c > 1:
        return int(draw(st.integers(1, c - 1)))
    return int(draw(st.integers(max(c, 1), head)))


def draw_range_request(draw: Draw, model: Model, in_txn: bool = False) -> rpc_pb2.RangeRequest:
    key, range_end = draw_key_range(draw, single_weight=1)
    req = Req(key=key, range_end=range_end)
    if draw(_bool):
        req.limit = draw(_limits)
    if in_txn:
        # etcd checks a txn's range revisions against the store before the txn;
        # negative revisions are not modelled inside txns.
        if _chance(draw, 4):
            req.revision = draw_revision(draw, model)
    else:
        kind = draw(st.integers(0, 3))
        req.revision = [0, -1][kind] if kind < 2 else draw_revision(draw, model)
    if draw(_bool):
        req.sort_order = draw(_sort_orders)
    if draw(_bool):
        req.sort_target = draw(_sort_targets)  # with order NONE: etcd's quirk
    req.keys_only = _chance(draw, 4)
    req.count_only = _chance(draw, 6)
    if _chance(draw, 5):
        for field in (
            "min_mod_revision",
            "max_mod_revision",
            "min_create_revision",
            "max_create_revision",
        ):
            if not _chance(draw, 3):
                setattr(req, field, draw(st.integers(1, model.head + 1)))
    return req


def draw_lease(draw: Draw, model: Model) -> int:
    """Mostly a granted lease (if any), sometimes any id (maybe not granted)."""
    granted = sorted(model.leases)
    if granted and not _chance(draw, 4):
        return int(draw(st.sampled_from(granted)))
    return int(draw(_lease_ids))


def draw_put_request(draw: Draw, model: Model) -> rpc_pb2.PutRequest:
    req = rpc_pb2.PutRequest(key=draw(_keys))
    req.prev_kv = draw(_bool)
    flags = draw(st.integers(0, 15))
    if flags == 0:
        req.ignore_value = True  # the API rejects a value with ignore_value
    else:
        req.value = draw(_values)
    if flags == 1:
        req.ignore_lease = True  # ... and a lease with ignore_lease
    elif _chance(draw, 3):
        req.lease = draw_lease(draw, model)
    return req


def draw_delete_request(draw: Draw) -> rpc_pb2.DeleteRangeRequest:
    key, range_end = draw_key_range(draw, single_weight=3)
    return rpc_pb2.DeleteRangeRequest(key=key, range_end=range_end, prev_kv=draw(_bool))


def draw_compare(draw: Draw, model: Model) -> rpc_pb2.Compare:
    if draw(_bool):
        key, range_end = draw(_keys), b""
    else:
        key, range_end = draw_key_range(draw)
    target = draw(_cmp_targets)
    cmp = Cmp(key=key, range_end=range_end, target=target, result=draw(_cmp_results))
    # Compare against a value the key may actually have.
    current = model.current.get(key)
    if target == Cmp.VALUE:
        cmp.value = draw(_values)
    elif target == Cmp.LEASE:
        cmp.lease = draw(_cmp_leases)
    elif target == Cmp.VERSION:
        near = [current.version] if current else []
        cmp.version = draw(st.sampled_from([0, 1, 2, *near]))
    else:
        near = [0]
        if current:
            near.append(current.create if target == Cmp.CREATE else current.mod)
        rev = draw(st.sampled_from(near)) if draw(_bool) else draw(st.integers(0, model.head + 1))
        if target == Cmp.CREATE:
            cmp.create_revision = rev
        else:
            cmp.mod_revision = rev
    return cmp


def _covers(rng: tuple[bytes, bytes], key: bytes) -> bool:
    start, end = rng
    if end == b"":
        return key == start
    if end == b"\0":
        return key >= start
    return start <= key < end


class _Writes:
    """Put keys and delete ranges of one branch (nested txns: both of their branches)."""

    def __init__(self) -> None:
        self.puts: set[bytes] = set()
        self.dels: list[tuple[bytes, bytes]] = []

    def clashes(self, other: _Writes) -> bool:
        if self.puts & other.puts:
            return True
        return any(_covers(d, k) for d in self.dels for k in other.puts) or any(
            _covers(d, k) for d in other.dels for k in self.puts
        )

    def add(self, other: _Writes) -> None:
        self.puts |= other.puts
        self.dels += other.dels


def _writes_of(op: rpc_pb2.RequestOp) -> _Writes:
    w = _Writes()
    kind = op.WhichOneof("request")
    if kind == "request_put":
        w.puts.add(op.request_put.key)
    elif kind == "request_delete_range":
        w.dels.append((op.request_delete_range.key, op.request_delete_range.range_end))
    elif kind == "request_txn":
        for branch in (op.request_txn.success, op.request_txn.failure):
            for inner in branch:
                w.add(_writes_of(inner))
    return w


_OP_KINDS = st.sampled_from(["range", "put", "put", "delete", "txn"])
_LEAF_OP_KINDS = st.sampled_from(["range", "put", "put", "delete"])


def _draw_branch(draw: Draw, model: Model, depth: int) -> list[rpc_pb2.RequestOp]:
    """Up to 3 ops, dropping any whose writes overlap earlier ones (duplicate keys)."""
    ops: list[rpc_pb2.RequestOp] = []
    seen = _Writes()
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(_OP_KINDS if depth < 2 else _LEAF_OP_KINDS)
        if kind == "range":
            op = rpc_pb2.RequestOp(request_range=draw_range_request(draw, model, in_txn=True))
        elif kind == "put":
            op = rpc_pb2.RequestOp(request_put=draw_put_request(draw, model))
        elif kind == "delete":
            op = rpc_pb2.RequestOp(request_delete_range=draw_delete_request(draw))
        else:
            op = rpc_pb2.RequestOp(request_txn=draw_txn_request(draw, model, depth + 1))
        writes = _writes_of(op)
        if seen.clashes(writes):
            continue
        seen.add(writes)
        ops.append(op)
    return ops


def draw_txn_request(draw: Draw, model: Model, depth: int = 0) -> rpc_pb2.TxnRequest:
    return rpc_pb2.TxnRequest(
        compare=[draw_compare(draw, model) for _ in range(draw(st.integers(0, 2)))],
        success=_draw_branch(draw, model, depth),
        failure=_draw_branch(draw, model, depth),
    )


def draw_compaction(draw: Draw, model: Model) -> rpc_pb2.CompactionRequest:
    head, c = model.head, model.compacted
    kind = draw(st.integers(0, 4))
    if kind == 0:
        rev = draw(st.integers(head + 1, head + 2))  # future
    elif kind == 1 and c >= 1:
        rev = draw(st.integers(max(1, c - 1), c))  # already compacted
    elif c < head:
        rev = draw(st.integers(c + 1, head))  # retained
    else:
        rev = head + 1
    return rpc_pb2.CompactionRequest(revision=rev)


def draw_command(draw: Draw, model: Model) -> command_pb2.Command:
    C = command_pb2.Command
    kind = draw(_COMMAND_KINDS)
    if kind == "put":
        return C(put=draw_put_request(draw, model))
    if kind == "delete":
        return C(delete_range=draw_delete_request(draw))
    if kind == "txn":
        return C(txn=draw_txn_request(draw, model))
    if kind == "compact":
        return C(compaction=draw_compaction(draw, model))
    if kind == "grant":
        return C(lease_grant=rpc_pb2.LeaseGrantRequest(ID=draw(_lease_ids), TTL=draw(_ttls)))
    return C(lease_revoke=rpc_pb2.LeaseRevokeRequest(ID=draw_lease(draw, model)))


# ---- public strategies (one composite each) -------------------------------------


@st.composite
def commands(draw: st.DrawFn, model: Model) -> command_pb2.Command:
    """One replicated command, drawn against the model's current state."""
    return draw_command(draw, model)


@st.composite
def put_commands(draw: st.DrawFn, model: Model) -> command_pb2.Command:
    return command_pb2.Command(put=draw_put_request(draw, model))


@st.composite
def txn_commands(draw: st.DrawFn, model: Model) -> command_pb2.Command:
    return command_pb2.Command(txn=draw_txn_request(draw, model))


@st.composite
def range_requests(draw: st.DrawFn, model: Model) -> rpc_pb2.RangeRequest:
    return draw_range_request(draw, model)


@st.composite
def key_ranges(draw: st.DrawFn) -> tuple[bytes, bytes]:
    return draw_key_range(draw)
