"""A naive in-memory model of etcd v3's MVCC semantics: the oracle of the property tests.

Deliberately simple and independent of ``kvstore.storage``: the whole key space is a
Python dict per revision (``states[r]`` is the store at revision ``r``), every write
revision keeps its list of events, and the compacted revision is just a number.

What it models, following etcd 3.4's applier (``etcdserver/apply.go``) and mvcc:

- Put / DeleteRange / Txn: one revision per command that changes something; a
  delete that deletes nothing, or a txn without writes, leaves the revision alone.
- Txn: *every* compare, of the txn and of all nested txns on the chosen path, is
  evaluated against the store as it was before the txn (``compareToPath``); then the
  chosen path is checked, puts first (ignore_value/ignore_lease need the key, then the
  lease must exist), then ranges (revision not future/compacted w.r.t. the pre-txn
  store); then the ops run in order, ranges seeing the txn's own earlier writes. A
  nested TxnResponse carries an empty header (etcd never fills it in).
- Range: count the whole range; fetch everything when sorting or filtering, else
  ``limit + 1`` keys in key order; drop keys outside the mod/create revision bounds;
  sort (stable: ties keep key order — etcd's ``sort.Sort`` leaves tie order
  unspecified, kvstore's stable sort pins it); cut to ``limit`` and set ``more``.
  A sort target other than KEY with order NONE means ASCEND — applied only to the
  ``limit + 1`` keys fetched, etcd's quirk. The header carries the store revision.
- Compact: ``rev <= compacted`` -> compacted error, ``rev > head`` -> future error.
- Leases: grant (TTL raised to the minimum), revoke deletes the attached keys, in
  key order, in one revision (none attached: no new revision).
- Watch replay from history after compaction at C (what is left in the backend):
  an event at revision r <= C survives only if it is a put and the key's newest
  revision <= C; ``prev_kv`` is the key at r - 1, which is readable only if
  r - 1 >= C (etcd's watch server reads it with a Range at r - 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kvstore.errors import (
    CompactedError,
    FutureRevisionError,
    KeyNotFoundError,
    KvError,
    LeaseExistsError,
    LeaseNotFoundError,
)
from kvstore.pb import command_pb2, kv_pb2, rpc_pb2

Req = rpc_pb2.RangeRequest
Cmp = rpc_pb2.Compare

MIN_LEASE_TTL = 2  # LeaseConfig().min_ttl, etcd's minimum TTL


@dataclass(frozen=True)
class Rec:
    """A live key's value and metadata."""

    value: bytes
    create: int
    mod: int
    version: int
    lease: int

    def kv(self, key: bytes) -> kv_pb2.KeyValue:
        return kv_pb2.KeyValue(
            key=key,
            create_revision=self.create,
            mod_revision=self.mod,
            version=self.version,
            value=self.value,
            lease=self.lease,
        )


State = dict[bytes, Rec]


@dataclass(frozen=True)
class MEvent:
    """One write: ``put`` is the new value (None for a delete), ``prev`` the old one."""

    key: bytes
    rev: int
    put: Rec | None
    prev: Rec | None

    def pb(self, prev_kv: bool) -> kv_pb2.Event:
        if self.put is not None:
            ev = kv_pb2.Event(type=kv_pb2.Event.PUT, kv=self.put.kv(self.key))
        else:
            ev = kv_pb2.Event(
                type=kv_pb2.Event.DELETE, kv=kv_pb2.KeyValue(key=self.key, mod_revision=self.rev)
            )
        if prev_kv and self.prev is not None:
            ev.prev_kv.CopyFrom(self.prev.kv(self.key))
        return ev


Result = object  # a response message or a KvError


# ---- key ranges (etcd's conventions, written out independently) -----------------


def prefix_end(prefix: bytes) -> bytes:
    raw = bytearray(prefix)
    while raw:
        if raw[-1] < 0xFF:
            raw[-1] += 1
            return bytes(raw)
        raw.pop()
    return b"\0"


def matcher(key: bytes, range_end: bytes) -> Callable[[bytes], bool]:
    """A predicate for etcd's (key, range_end)."""
    if range_end == b"":
        return lambda k: k == key
    if range_end == b"\0":
        return lambda k: k >= key
    return lambda k: key <= k < range_end


def keys_in(state: State, key: bytes, range_end: bytes) -> list[bytes]:
    match = matcher(key, range_end)
    return sorted(k for k in state if match(k))


# ---- the model ----------------------------------------------------------------


_SORT_FIELD: dict[int, Callable[[kv_pb2.KeyValue], int | bytes]] = {
    Req.KEY: lambda kv: kv.key,
    Req.VERSION: lambda kv: kv.version,
    Req.CREATE: lambda kv: kv.create_revision,
    Req.MOD: lambda kv: kv.mod_revision,
    Req.VALUE: lambda kv: kv.value,
}


def range_state(state: State, req: rpc_pb2.RangeRequest, header_rev: int) -> rpc_pb2.RangeResponse:
    """A range over one snapshot, in etcd's order of operations."""
    keys = keys_in(state, req.key, req.range_end)
    resp = rpc_pb2.RangeResponse()
    resp.header.revision = header_rev
    resp.count = len(keys)
    if req.count_only:
        return resp
    filtered = bool(
        req.min_mod_revision
        or req.max_mod_revision
        or req.min_create_revision
        or req.max_create_revision
    )
    kvs = [state[k].kv(k) for k in keys]
    if req.sort_order == Req.NONE and not filtered and req.limit > 0:
        kvs = kvs[: req.limit + 1]  # etcd fetches limit + 1 (key order) to learn `more`
    if req.max_mod_revision:
        kvs = [kv for kv in kvs if kv.mod_revision <= req.max_mod_revision]
    if req.min_mod_revision:
        kvs = [kv for kv in kvs if kv.mod_revision >= req.min_mod_revision]
    if req.max_create_revision:
        kvs = [kv for kv in kvs if kv.create_revision <= req.max_create_revision]
    if req.min_create_revision:
        kvs = [kv for kv in kvs if kv.create_revision >= req.min_create_revision]
    order = req.sort_order
    if order == Req.NONE and req.sort_target != Req.KEY:
        order = Req.ASCEND
    if order != Req.NONE:
        kvs = sorted(kvs, key=_SORT_FIELD[req.sort_target], reverse=order == Req.DESCEND)
    if req.limit > 0 and len(kvs) > req.limit:
        kvs = kvs[: req.limit]
        resp.more = True
    for kv in kvs:
        if req.keys_only:
            kv.value = b""
        resp.kvs.append(kv)
    return resp


def compare_one(state: State, cmp: rpc_pb2.Compare) -> bool:
    keys = keys_in(state, cmp.key, cmp.range_end)
    if not keys:
        if cmp.target == Cmp.VALUE:
            return False
        return _compare_kv(cmp, None)
    return all(_compare_kv(cmp, state[k]) for k in keys)


def _compare_kv(cmp: rpc_pb2.Compare, rec: Rec | None) -> bool:
    union = cmp.WhichOneof("target_union")
    t = cmp.target
    ours: int | bytes
    theirs: int | bytes
    if t == Cmp.VALUE:
        ours, theirs = (rec.value if rec else b""), (cmp.value if union == "value" else b"")
    elif t == Cmp.VERSION:
        ours = rec.version if rec else 0
        theirs = cmp.version if union == "version" else 0
    elif t == Cmp.CREATE:
        ours = rec.create if rec else 0
        theirs = cmp.create_revision if union == "create_revision" else 0
    elif t == Cmp.MOD:
        ours = rec.mod if rec else 0
        theirs = cmp.mod_revision if union == "mod_revision" else 0
    else:
        ours = rec.lease if rec else 0
        theirs = cmp.lease if union == "lease" else 0
    if cmp.result == Cmp.EQUAL:
        return ours == theirs
    if cmp.result == Cmp.NOT_EQUAL:
        return ours != theirs
    if cmp.result == Cmp.GREATER:
        return ours > theirs  # type: ignore[operator]
    return ours < theirs  # type: ignore[operator]


class _Write:
    """One revision being written (etcd's storeTxnWrite)."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.begin = model.head
        self.main = model.head + 1
        self.state: State = dict(model.states[-1])
        self.events: list[MEvent] = []

    @property
    def rev(self) -> int:
        """What a read inside the txn sees / a write reports: begin (+1 once changed)."""
        return self.main if self.events else self.begin

    def put(self, key: bytes, value: bytes, lease: int) -> Rec | None:
        prev = self.state.get(key)
        rec = Rec(
            value=value,
            create=prev.create if prev else self.main,
            mod=self.main,
            version=prev.version + 1 if prev else 1,
            lease=lease,
        )
        self.state[key] = rec
        self.events.append(MEvent(key, self.main, rec, prev))
        return prev

    def delete(self, key: bytes, range_end: bytes) -> list[tuple[bytes, Rec]]:
        gone = [(k, self.state[k]) for k in keys_in(self.state, key, range_end)]
        for k, prev in gone:
            del self.state[k]
            self.events.append(MEvent(k, self.main, None, prev))
        return gone

    def snapshot(self, rev: int) -> State:
        return self.state if rev >= self.rev else self.model.states[rev]

    def commit(self) -> tuple[int, list[MEvent]]:
        if not self.events:
            return self.begin, []
        self.model.states.append(self.state)
        self.model.events[self.main] = self.events
        return self.main, self.events


class Model:
    def __init__(self) -> None:
        self.states: list[State] = [{}, {}]  # states[r]: the store at revision r (>= 1)
        self.events: dict[int, list[MEvent]] = {}
        self.compacted = 0
        self.leases: dict[int, int] = {}

    @property
    def head(self) -> int:
        return len(self.states) - 1

    @property
    def current(self) -> State:
        return self.states[-1]

    def lease_keys(self, lease_id: int) -> list[bytes]:
        return sorted(k for k, rec in self.current.items() if rec.lease == lease_id)

    # ---- commands -------------------------------------------------------------

    def apply(self, cmd: command_pb2.Command) -> tuple[Result, tuple[int, list[MEvent]] | None]:
        """Apply one command: (response or error, (revision, events) if it wrote)."""
        kind = cmd.WhichOneof("op")
        before = self.head
        try:
            if kind == "put":
                result: Result = self.put(cmd.put)
            elif kind == "delete_range":
                result = self.delete_range(cmd.delete_range)
            elif kind == "txn":
                result = self.txn(cmd.txn)
            elif kind == "compaction":
                result = self.compact(cmd.compaction.revision)
            elif kind == "lease_grant":
                result = self.lease_grant(cmd.lease_grant)
            elif kind == "lease_revoke":
                result = self.lease_revoke(cmd.lease_revoke.ID)
            else:
                raise AssertionError(f"the model does not know {kind!r}")
        except KvError as exc:
            assert self.head == before
            return exc, None
        if self.head != before:
            assert self.head == before + 1
            return result, (self.head, self.events[self.head])
        return result, None

    def put(self, req: rpc_pb2.PutRequest) -> rpc_pb2.PutResponse:
        prev = self.current.get(req.key)
        # etcd's top-level Put: the lease is looked up first, then ignore_*.
        if req.lease and req.lease not in self.leases:
            raise LeaseNotFoundError()
        if (req.ignore_value or req.ignore_lease) and prev is None:
            raise KeyNotFoundError()
        w = _Write(self)
        resp = self._put(w, req)
        rev, _ = w.commit()
        resp.header.revision = rev
        return resp

    def _put(self, w: _Write, req: rpc_pb2.PutRequest) -> rpc_pb2.PutResponse:
        prev = w.state.get(req.key)
        value, lease = req.value, req.lease
        if prev is not None and req.ignore_value:
            value = prev.value
        if prev is not None and req.ignore_lease:
            lease = prev.lease
        w.put(req.key, value, lease)
        resp = rpc_pb2.PutResponse()
        resp.header.revision = w.rev
        if req.prev_kv and prev is not None:
            resp.prev_kv.CopyFrom(prev.kv(req.key))
        return resp

    def delete_range(self, req: rpc_pb2.DeleteRangeRequest) -> rpc_pb2.DeleteRangeResponse:
        w = _Write(self)
        resp = self._delete(w, req)
        rev, _ = w.commit()
        resp.header.revision = rev
        return resp

    def _delete(self, w: _Write, req: rpc_pb2.DeleteRangeRequest) -> rpc_pb2.DeleteRangeResponse:
        gone = w.delete(req.key, req.range_end)
        resp = rpc_pb2.DeleteRangeResponse(deleted=len(gone))
        resp.header.revision = w.rev
        if req.prev_kv:
            resp.prev_kvs.extend(rec.kv(k) for k, rec in gone)
        return resp

    def range(self, req: rpc_pb2.RangeRequest) -> rpc_pb2.RangeResponse:
        """A top-level Range; raises CompactedError / FutureRevisionError."""
        rev = req.revision if req.revision > 0 else self.head
        if rev > self.head:
            raise FutureRevisionError()
        if rev < self.compacted:
            raise CompactedError()
        return range_state(self.states[rev], req, self.head)

    # ---- txn ------------------------------------------------------------------

    def txn(self, req: rpc_pb2.TxnRequest) -> rpc_pb2.TxnResponse:
        pre = self.current
        path = _Path(pre, req)
        self._check_puts(path)
        self._check_ranges(path)
        w = _Write(self)
        resp = self._run_txn(w, path)
        rev, _ = w.commit()
        resp.header.revision = rev
        return resp

    def _check_puts(self, path: _Path) -> None:
        for op, sub in path.ops():
            if op.WhichOneof("request") == "request_put":
                put = op.request_put
                if (put.ignore_value or put.ignore_lease) and put.key not in self.current:
                    raise KeyNotFoundError()
                if put.lease and put.lease not in self.leases:
                    raise LeaseNotFoundError()
            elif sub is not None:
                self._check_puts(sub)

    def _check_ranges(self, path: _Path) -> None:
        for op, sub in path.ops():
            if op.WhichOneof("request") == "request_range":
                rev = op.request_range.revision
                if rev == 0:
                    continue
                if rev > self.head:
                    raise FutureRevisionError()
                if rev < self.compacted:
                    raise CompactedError()
            elif sub is not None:
                self._check_ranges(sub)

    def _run_txn(self, w: _Write, path: _Path) -> rpc_pb2.TxnResponse:
        resp = rpc_pb2.TxnResponse(succeeded=path.succeeded)
        resp.header.SetInParent()  # nested: etcd leaves the header empty
        for op, sub in path.ops():
            kind = op.WhichOneof("request")
            if kind == "request_range":
                r = op.request_range
                rev = r.revision if r.revision > 0 else w.rev
                out = rpc_pb2.ResponseOp(response_range=range_state(w.snapshot(rev), r, w.rev))
            elif kind == "request_put":
                out = rpc_pb2.ResponseOp(response_put=self._put(w, op.request_put))
            elif kind == "request_delete_range":
                out = rpc_pb2.ResponseOp(
                    response_delete_range=self._delete(w, op.request_delete_range)
                )
            elif kind == "request_txn":
                assert sub is not None
                out = rpc_pb2.ResponseOp(response_txn=self._run_txn(w, sub))
            else:
                out = rpc_pb2.ResponseOp()
            resp.responses.append(out)
        return resp

    # ---- compaction and leases -----------------------------------------------

    def compact(self, rev: int) -> rpc_pb2.CompactionResponse:
        if rev <= self.compacted:
            raise CompactedError()
        if rev > self.head:
            raise FutureRevisionError()
        self.compacted = rev
        resp = rpc_pb2.CompactionResponse()
        resp.header.revision = self.head
        return resp

    def lease_grant(self, req: rpc_pb2.LeaseGrantRequest) -> rpc_pb2.LeaseGrantResponse:
        if req.ID in self.leases:
            raise LeaseExistsError()
        ttl = max(req.TTL, MIN_LEASE_TTL)
        self.leases[req.ID] = ttl
        resp = rpc_pb2.LeaseGrantResponse(ID=req.ID, TTL=ttl)
        resp.header.revision = self.head
        return resp

    def lease_revoke(self, lease_id: int) -> rpc_pb2.LeaseRevokeResponse:
        if lease_id not in self.leases:
            raise LeaseNotFoundError()
        w = _Write(self)
        for key in self.lease_keys(lease_id):
            w.delete(key, b"")
        del self.leases[lease_id]
        rev, _ = w.commit()
        resp = rpc_pb2.LeaseRevokeResponse()
        resp.header.revision = rev
        return resp

    # ---- history ----------------------------------------------------------------

    def retained(self, rev: int) -> bool:
        return self.compacted <= rev <= self.head

    def watch_events(
        self, first: int, last: int, key: bytes, range_end: bytes, prev_kv: bool
    ) -> list[tuple[int, list[kv_pb2.Event]]]:
        """What history replay from ``first`` to ``last`` yields after compaction."""
        match = matcher(key, range_end)
        c = self.compacted
        out: list[tuple[int, list[kv_pb2.Event]]] = []
        for rev in range(first, last + 1):
            evs: list[kv_pb2.Event] = []
            for e in self.events.get(rev, []):
                if not match(e.key):
                    continue
                if rev <= c and (e.put is None or self._written_in(e.key, rev + 1, c)):
                    continue  # compacted away
                evs.append(e.pb(prev_kv=prev_kv and rev - 1 >= c))
            if evs:
                out.append((rev, evs))
        return out

    def _written_in(self, key: bytes, first: int, last: int) -> bool:
        return any(e.key == key for r in range(first, last + 1) for e in self.events.get(r, []))

    def effects_events(self, revs: Iterable[int]) -> list[tuple[int, list[kv_pb2.Event]]]:
        """Events as the state machine reports them after a batch (always with prev_kv)."""
        return [(r, [e.pb(prev_kv=True) for e in self.events[r]]) for r in revs]


class _Path:
    """A txn with the branch chosen by its compares against ``pre`` (etcd's txnPath)."""

    def __init__(self, pre: State, req: rpc_pb2.TxnRequest) -> None:
        self.succeeded = all(compare_one(pre, c) for c in req.compare)
        self._ops = list(req.success if self.succeeded else req.failure)
        self._subs = [
            _Path(pre, op.request_txn) if op.WhichOneof("request") == "request_txn" else None
            for op in self._ops
        ]

    def ops(self) -> list[tuple[rpc_pb2.RequestOp, _Path | None]]:
        return list(zip(self._ops, self._subs, strict=True))
