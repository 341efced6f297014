"""Writing MVCC state: one ``WriteView`` per LMDB write transaction (a batch).

A batch holds any number of revisions. Each revision is opened with
``begin_revision()``, receives puts and deletes (sub-revisions 0, 1, ...), and is
closed with ``end_revision()``, which returns its events (each with its
``prev_kv``; the watch hub strips it for watchers that did not ask). A revision
without changes leaves the store revision where it was, as in etcd.
"""

from __future__ import annotations

from kvstore.pb import auth_pb2, kv_pb2, rpc_pb2
from kvstore.storage import records
from kvstore.storage.backend import Backend, Txn
from kvstore.storage.keys import KeyRange, decode_revision, encode_revision
from kvstore.storage.view import ReadView


class WriteView(ReadView):
    def __init__(self, backend: Backend, txn: Txn) -> None:
        super().__init__(backend, txn)
        self._main = 0
        self._sub = 0
        self._events: list[kv_pb2.Event] = []
        self._open = False
        #: mutating calls so far: lets the state machine tell whether a failed
        #: command left writes behind
        self.writes = 0

    # ---- revisions ----------------------------------------------------------

    def begin_revision(self) -> None:
        assert not self._open, "revision already open"
        self._open = True
        self._main = self.revision + 1
        self._sub = 0
        self._events = []

    @property
    def head(self) -> int:
        return self._main if self._open and self._events else self.revision

    @property
    def pending_revision(self) -> int:
        """The revision writes go to (or the current one if nothing changed)."""
        return self._main if self._events else self._main - 1

    def end_revision(self) -> tuple[int, list[kv_pb2.Event]]:
        """Close the revision: (store revision afterwards, its events)."""
        assert self._open, "no revision open"
        self._open = False
        if self._events:
            self._txn.put(records.META_REVISION, records.encode_int(self._main), db=self._b.meta)
            return self._main, self._events
        return self._main - 1, []

    def discard_revision(self) -> None:
        """Close the open revision, if any; it must have written nothing (its
        command failed before writing)."""
        if self._open:
            assert not self._events, "discarding a revision with writes"
            self._open = False

    def _next_rev(self) -> bytes:
        assert self._open, "write outside a revision"
        raw = encode_revision(self._main, self._sub)
        self._sub += 1
        return raw

    # ---- keys -------------------------------------------------------------

    def put(self, key: bytes, value: bytes, lease: int) -> kv_pb2.KeyValue | None:
        """Write ``key``; returns its previous live value."""
        self.writes += 1
        # Built in place inside its event (no copies); serialized once.
        event = kv_pb2.Event(type=kv_pb2.Event.PUT)
        kv = event.kv
        prev_rev = self._txn.get(key, db=self._b.current)
        prev: kv_pb2.KeyValue | None = None
        if prev_rev is None:
            kv.create_revision = self._main
            kv.version = 1
        else:
            prev = self._live(prev_rev, into=event.prev_kv)
            kv.create_revision = prev.create_revision
            kv.version = prev.version + 1
        kv.key = key
        kv.mod_revision = self._main
        kv.value = value
        kv.lease = lease
        data = kv.SerializeToString()
        raw_rev = self._next_rev()
        self._record(raw_rev, records.PUT + data)
        self._txn.put(key, raw_rev, db=self._b.index, dupdata=True)
        self._txn.put(key, raw_rev, db=self._b.current)
        if prev is not None and prev.lease and prev.lease != lease:
            self._detach(prev.lease, key)
        if lease and (prev is None or prev.lease != lease):
            self._txn.put(records.encode_lease_id(lease), key, db=self._b.lease_keys, dupdata=True)
        self._events.append(event)
        return prev

    def delete_range(self, kr: KeyRange) -> list[kv_pb2.KeyValue]:
        """Delete the live keys of ``kr``; returns what was deleted."""
        return [self._delete(payload) for payload in list(self.iter_records(kr))]

    def _delete(self, payload: bytes) -> kv_pb2.KeyValue:
        """Delete the live key whose serialized KeyValue is ``payload``;
        returns it, parsed in place inside its delete event (building the
        event around a parsed KeyValue copies it, value and all: half of the
        time deleting many keys took)."""
        self.writes += 1
        event = kv_pb2.Event(type=kv_pb2.Event.DELETE)
        prev = records.parse_payload(payload, into=event.prev_kv)
        key = prev.key
        raw_rev = self._next_rev()
        self._record(raw_rev, records.encode_tombstone(key, self._main))
        self._txn.put(key, raw_rev, db=self._b.index, dupdata=True)
        self._txn.delete(key, db=self._b.current)
        if prev.lease:
            self._detach(prev.lease, key)
        event.kv.key = key
        event.kv.mod_revision = self._main
        self._events.append(event)
        return prev

    def _record(self, raw_rev: bytes, record: bytes) -> None:
        """Append a revision's record to ``kv``. Revisions only grow, so LMDB
        may fill each page before starting the next (an ordinary insert at
        the end splits pages in half, leaving history pages half empty)."""
        if not self._txn.put(raw_rev, record, db=self._b.kv, append=True):
            raise RuntimeError(f"revision {decode_revision(raw_rev)} is not past the newest")

    def _detach(self, lease: int, key: bytes) -> None:
        self._txn.delete(records.encode_lease_id(lease), key, db=self._b.lease_keys)

    # ---- leases -------------------------------------------------------------

    def lease_grant(self, lease_id: int, ttl: int) -> None:
        self.writes += 1
        self._txn.put(records.encode_lease_id(lease_id), records.encode_int(ttl), db=self._b.lease)

    def lease_revoke(self, lease_id: int) -> None:
        """Delete the lease and, in the open revision, every key attached to it."""
        self.writes += 1
        for key in self.lease_keys(lease_id):
            payload = self.get_record(key)
            if payload is not None:
                self._delete(payload)
        raw_id = records.encode_lease_id(lease_id)
        self._txn.delete(raw_id, db=self._b.lease_keys)
        self._txn.delete(raw_id, db=self._b.lease)

    # ---- members ------------------------------------------------------------

    def member_put(self, member: rpc_pb2.Member, revive: bool = False) -> None:
        """Record a member; a removed one comes back only when ``revive``
        (MemberAdd, MemberPromote). Without ``revive`` (a member publishing
        its name and URLs) the recorded role, learner or voter, stays."""
        self.writes += 1
        raw_id = member.ID.to_bytes(8, "big")
        if not revive:
            raw = self._txn.get(raw_id, db=self._b.members)
            if raw == b"":
                return
            if raw is not None:
                known = rpc_pb2.Member.FromString(raw)
                if known.isLearner != member.isLearner:
                    kept = rpc_pb2.Member()
                    kept.CopyFrom(member)  # every field, whatever Member gains later
                    kept.isLearner = known.isLearner
                    member = kept
        self._txn.put(raw_id, member.SerializeToString(), db=self._b.members)

    def member_remove(self, member_id: int) -> None:
        self.writes += 1
        self._txn.put(member_id.to_bytes(8, "big"), b"", db=self._b.members)

    # ---- auth ---------------------------------------------------------------
    # Every change bumps the auth revision (what the gRPC edge caches against).

    def auth_put_user(self, user: auth_pb2.User) -> None:
        self._auth_put(records.AUTH_USER + user.name, user.SerializeToString())

    def auth_delete_user(self, name: str) -> None:
        self._auth_delete(records.AUTH_USER + name.encode())

    def auth_put_role(self, role: auth_pb2.Role) -> None:
        self._auth_put(records.AUTH_ROLE + role.name, role.SerializeToString())

    def auth_delete_role(self, name: str) -> None:
        self._auth_delete(records.AUTH_ROLE + name.encode())

    def set_auth_enabled(self, on: bool) -> None:
        self._auth_put(records.AUTH_ENABLED, records.encode_int(int(on)))

    def _auth_put(self, key: bytes, value: bytes) -> None:
        self.writes += 1
        self._txn.put(key, value, db=self._b.auth)
        self._bump_auth_revision()

    def _auth_delete(self, key: bytes) -> None:
        self.writes += 1
        self._txn.delete(key, db=self._b.auth)
        self._bump_auth_revision()

    def _bump_auth_revision(self) -> None:
        revision = self.auth_revision + 1
        self._txn.put(records.AUTH_REVISION, records.encode_int(revision), db=self._b.auth)

    # ---- applied proposals ------------------------------------------------------

    def remember_request(self, member_id: int, request_id: int, index: int, window: int) -> bool:
        """Record a proposal; False if it was applied before (a retry: skip it).

        Request IDs of one proposer increase, so only the last ``window`` IDs of
        each member are kept; older ones are deleted as newer ones arrive.
        """
        self.writes += 1
        prefix = member_id.to_bytes(8, "big")
        key = prefix + request_id.to_bytes(8, "big")
        if self._txn.get(key, db=self._b.requests) is not None:
            return False
        self._txn.put(key, records.encode_int(index), db=self._b.requests)
        floor = prefix + max(request_id - window, 0).to_bytes(8, "big")
        cur = self._txn.cursor(db=self._b.requests)
        if cur.set_range(prefix):
            while cur.key() < floor and cur.key().startswith(prefix):
                if not cur.delete():
                    break
        return True

    # ---- meta ---------------------------------------------------------------

    def set_compacted(self, rev: int) -> None:
        self.writes += 1
        self._txn.put(records.META_COMPACTED, records.encode_int(rev), db=self._b.meta)

    def set_applied(self, index: int, term: int) -> None:
        self.writes += 1
        self._txn.put(records.META_APPLIED_INDEX, records.encode_int(index), db=self._b.meta)
        self._txn.put(records.META_APPLIED_TERM, records.encode_int(term), db=self._b.meta)

    def set_nospace_alarm(self, on: bool) -> None:
        self.writes += 1
        self._txn.put(records.META_ALARM_NOSPACE, records.encode_int(int(on)), db=self._b.meta)

    def set_cluster_id(self, cluster_id: int) -> None:
        self.writes += 1
        self._txn.put(records.META_CLUSTER_ID, cluster_id.to_bytes(8, "big"), db=self._b.meta)

    def set_auto_promote(self, member_id: int) -> None:
        self.writes += 1
        self._txn.put(records.META_AUTO_PROMOTE, member_id.to_bytes(8, "big"), db=self._b.meta)
