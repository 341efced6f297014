"""Reading MVCC state inside one LMDB transaction (a consistent snapshot).

Contract: ranges are half-open (see ``keys``); a read at revision R sees, for
each key, its newest revision <= R unless that is a tombstone; revisions below
the compacted revision are gone (callers check ``compacted`` first).
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator

from kvstore.pb import auth_pb2, kv_pb2, rpc_pb2
from kvstore.storage import records
from kvstore.storage.backend import MAX_KEY_BYTES, Backend, Txn
from kvstore.storage.keys import KeyRange, decode_revision, encode_revision


def _seek(cur: Txn, start: bytes) -> bool:
    """Position ``cur`` at the first key >= ``start`` (or just before it, when
    ``start`` is longer than any storable key: callers skip keys < start)."""
    if not start:
        return bool(cur.first())
    return bool(cur.set_range(start[:MAX_KEY_BYTES]))


class ReadView:
    """MVCC reads over one LMDB transaction. Cheap to create; do not share."""

    def __init__(self, backend: Backend, txn: Txn) -> None:
        self._b = backend
        self._txn = txn

    @property
    def txn(self) -> Txn:
        """The underlying LMDB transaction (for nesting a child transaction)."""
        return self._txn

    # ---- metadata ---------------------------------------------------------

    def _meta(self, name: bytes, default: int = 0) -> int:
        return records.decode_int(self._txn.get(name, db=self._b.meta), default)

    @property
    def revision(self) -> int:
        """The store revision: 1 for a fresh store."""
        return self._meta(records.META_REVISION, 1)

    @property
    def head(self) -> int:
        """The revision whose state the ``current`` database holds."""
        return self.revision

    @property
    def compacted(self) -> int:
        return self._meta(records.META_COMPACTED, 0)

    @property
    def compact_done(self) -> int:
        return self._meta(records.META_COMPACT_DONE, 0)

    @property
    def applied(self) -> tuple[int, int]:
        """(raft index, raft term) of the last applied entry."""
        return self._meta(records.META_APPLIED_INDEX), self._meta(records.META_APPLIED_TERM)

    @property
    def nospace_alarm(self) -> bool:
        return self._meta(records.META_ALARM_NOSPACE) != 0

    @property
    def cluster_id(self) -> int:
        """The cluster ID the last MemberAdd carried (0: none yet)."""
        raw = self._txn.get(records.META_CLUSTER_ID, db=self._b.meta)
        return 0 if raw is None else int.from_bytes(raw, "big")

    @property
    def auto_promote(self) -> int:
        """The learner the leader promotes once it has caught up (0: none)."""
        raw = self._txn.get(records.META_AUTO_PROMOTE, db=self._b.meta)
        return 0 if raw is None else int.from_bytes(raw, "big")

    # ---- keys -------------------------------------------------------------

    def get(self, key: bytes, rev: int | None = None) -> kv_pb2.KeyValue | None:
        """The key at ``rev`` (default: latest), or None if absent then."""
        raw = self.get_record(key, rev)
        return None if raw is None else records.parse_payload(raw)

    def get_record(self, key: bytes, rev: int | None = None) -> bytes | None:
        """``get``'s answer as a serialized KeyValue."""
        if len(key) > MAX_KEY_BYTES:
            return None  # cannot be stored, so it is not there
        if rev is None or rev >= self.head:
            raw_rev = self._txn.get(key, db=self._b.current)
            return None if raw_rev is None else self._live_record(raw_rev)
        cur = self._txn.cursor(db=self._b.index)
        return self._record_at(cur, key, rev)

    def iter_range(self, kr: KeyRange, rev: int | None = None) -> Iterator[kv_pb2.KeyValue]:
        """Live keys of ``kr`` at ``rev`` (default: latest), ascending by key."""
        return map(records.parse_payload, self.iter_records(kr, rev))

    def iter_records(self, kr: KeyRange, rev: int | None = None) -> Iterator[bytes]:
        """``iter_range``'s keys as serialized KeyValues, for answers that
        pass them on unchanged: parsing each costs more than reading it."""
        if kr.is_empty():
            return
        if kr.single:
            raw = self.get_record(kr.start, rev)
            if raw is not None:
                yield raw
            return
        start, end = kr.start, kr.end
        if rev is None or rev >= self.head:
            cur = self._txn.cursor(db=self._b.current)
            if not _seek(cur, start):
                return
            for key, raw_rev in cur:
                if end and key >= end:
                    return
                if key >= start:
                    yield self._live_record(raw_rev)
            return
        keys = self._txn.cursor(db=self._b.index)
        revs = self._txn.cursor(db=self._b.index)
        found = _seek(keys, start)
        while found:
            key = keys.key()
            if end and key >= end:
                return
            raw = self._record_at(revs, key, rev) if key >= start else None
            if raw is not None:
                yield raw
            found = keys.next_nodup()

    def count_range(self, kr: KeyRange, rev: int | None = None, most: int | None = None) -> int:
        """Live keys of ``kr`` at ``rev``; with ``most``, counting stops at
        ``most + 1`` (enough to tell that there are more than ``most``)."""
        if rev is not None and rev < self.head:
            found = self.iter_records(kr, rev)
            if most is not None:
                found = itertools.islice(found, most + 1)
            return sum(1 for _ in found)
        if kr.is_empty():
            return 0
        if kr.single:
            return 0 if self.get_record(kr.start) is None else 1
        cur = self._txn.cursor(db=self._b.current)
        if not _seek(cur, kr.start):
            return 0
        start, end = kr.start, kr.end
        stop = -1 if most is None else most + 1
        n = 0
        for key in cur.iternext(keys=True, values=False):
            if end and key >= end:
                break
            if key >= start:
                n += 1
                if n == stop:
                    break
        return n

    def _rev_at(self, cur: Txn, key: bytes, rev: int) -> bytes | None:
        """The newest revision (encoded) of ``key`` that is <= ``rev``."""
        if not cur.set_key(key):
            return None
        if cur.set_range_dup(key, encode_revision(rev + 1)):
            return bytes(cur.value()) if cur.prev_dup() else None
        cur.set_key(key)
        cur.last_dup()
        return bytes(cur.value())

    def _live(self, raw_rev: bytes, into: kv_pb2.KeyValue | None = None) -> kv_pb2.KeyValue:
        """The put at ``raw_rev`` (parsed into ``into`` if given), which
        ``current`` names as a key's latest."""
        return records.parse_payload(self._live_record(raw_rev), into)

    def _live_record(self, raw_rev: bytes) -> bytes:
        """``_live`` serialized: compaction keeps a live key's newest put, so
        it is always there."""
        raw = self._txn.get(raw_rev, db=self._b.kv)
        payload = None if raw is None else records.put_payload(raw)
        if payload is None:
            raise RuntimeError(f"current names revision {decode_revision(raw_rev)}, not a put")
        return payload

    def _record_at(self, cur: Txn, key: bytes, rev: int) -> bytes | None:
        found = self._rev_at(cur, key, rev)
        if found is None:
            return None
        raw = self._txn.get(found, db=self._b.kv)
        if raw is None:  # compacted away
            return None
        return records.put_payload(raw)

    # ---- history ----------------------------------------------------------

    def events(
        self,
        first: int,
        last: int,
        kr: KeyRange | None = None,
        prev_kv: bool = False,
    ) -> list[tuple[int, list[kv_pb2.Event]]]:
        """Events of revisions ``first..last`` (inclusive), grouped by revision."""
        out: list[tuple[int, list[kv_pb2.Event]]] = []
        cur = self._txn.cursor(db=self._b.kv)
        prev_cur = self._txn.cursor(db=self._b.index) if prev_kv else None
        if not cur.set_range(encode_revision(first)):
            return out
        for raw_rev, record in cur:
            main, _sub = decode_revision(raw_rev)
            if main > last:
                break
            is_put, kv = records.decode(record)
            if kr is not None and not kr.contains(kv.key):
                continue
            event = kv_pb2.Event(type=kv_pb2.Event.PUT if is_put else kv_pb2.Event.DELETE, kv=kv)
            if prev_cur is not None:
                before = self._previous(prev_cur, kv.key, raw_rev)
                if before is not None:
                    event.prev_kv.CopyFrom(before)
            if out and out[-1][0] == main:
                out[-1][1].append(event)
            else:
                out.append((main, [event]))
        return out

    def _previous(self, cur: Txn, key: bytes, raw_rev: bytes) -> kv_pb2.KeyValue | None:
        """The key's live value just before the write at ``raw_rev``."""
        if not cur.set_key_dup(key, raw_rev) or not cur.prev_dup():
            return None
        raw = self._txn.get(cur.value(), db=self._b.kv)
        if raw is None:
            return None
        is_put, kv = records.decode(raw)
        return kv if is_put else None

    # ---- leases -----------------------------------------------------------

    def lease_ttl(self, lease_id: int) -> int | None:
        raw = self._txn.get(records.encode_lease_id(lease_id), db=self._b.lease)
        return None if raw is None else records.decode_int(raw)

    def leases(self) -> list[tuple[int, int]]:
        """Every lease as (id, granted TTL)."""
        cur = self._txn.cursor(db=self._b.lease)
        return [(records.decode_lease_id(k), records.decode_int(v)) for k, v in cur]

    def lease_keys(self, lease_id: int) -> list[bytes]:
        cur = self._txn.cursor(db=self._b.lease_keys)
        if not cur.set_key(records.encode_lease_id(lease_id)):
            return []
        return [bytes(v) for v in cur.iternext_dup()]

    # ---- members ------------------------------------------------------------

    def members(self) -> dict[int, rpc_pb2.Member | None]:
        """Every member ever recorded: ID -> Member, or None once removed."""
        out: dict[int, rpc_pb2.Member | None] = {}
        for raw_id, raw in self._txn.cursor(db=self._b.members):
            member_id = int.from_bytes(raw_id, "big")
            if raw:
                member = rpc_pb2.Member()
                member.ParseFromString(raw)
                out[member_id] = member
            else:
                out[member_id] = None
        return out

    # ---- auth ---------------------------------------------------------------

    @property
    def auth_enabled(self) -> bool:
        raw = self._txn.get(records.AUTH_ENABLED, db=self._b.auth)
        return records.decode_int(raw) != 0

    @property
    def auth_revision(self) -> int:
        """Bumped by every change of the auth store (users, roles, enabled)."""
        return records.decode_int(self._txn.get(records.AUTH_REVISION, db=self._b.auth))

    def auth_user(self, name: str) -> auth_pb2.User | None:
        raw = self._txn.get(records.AUTH_USER + name.encode(), db=self._b.auth)
        if raw is None:
            return None
        user = auth_pb2.User()
        user.ParseFromString(raw)
        return user

    def auth_role(self, name: str) -> auth_pb2.Role | None:
        raw = self._txn.get(records.AUTH_ROLE + name.encode(), db=self._b.auth)
        if raw is None:
            return None
        role = auth_pb2.Role()
        role.ParseFromString(raw)
        return role

    def auth_users(self) -> list[auth_pb2.User]:
        """Every user, by name."""
        out = []
        for _, raw in self._auth_prefix(records.AUTH_USER):
            user = auth_pb2.User()
            user.ParseFromString(raw)
            out.append(user)
        return out

    def auth_roles(self) -> list[auth_pb2.Role]:
        """Every role, by name."""
        out = []
        for _, raw in self._auth_prefix(records.AUTH_ROLE):
            role = auth_pb2.Role()
            role.ParseFromString(raw)
            out.append(role)
        return out

    def _auth_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        cur = self._txn.cursor(db=self._b.auth)
        if not cur.set_range(prefix):
            return
        for key, raw in cur:
            if not key.startswith(prefix):
                return
            yield key, raw

    # ---- integrity ----------------------------------------------------------

    def hash_kv(self, rev: int) -> int:
        """CRC-32 over every retained record with main revision <= ``rev``.

        Superseded records below the compacted revision count as gone whether
        or not the background compactor has removed them yet, so members that
        agree on their data agree on the hash.
        """
        compacted = self.compacted
        crc = 0
        cur = self._txn.cursor(db=self._b.kv)
        idx = self._txn.cursor(db=self._b.index)
        for raw_rev, record in cur:
            main, _ = decode_revision(raw_rev)
            if main > rev:
                break
            if main <= compacted:
                is_put, kv = records.decode(record)
                if not is_put or self._rev_at(idx, kv.key, compacted) != bytes(raw_rev):
                    continue
            crc = zlib.crc32(raw_rev, crc)
            crc = zlib.crc32(record, crc)
        return crc
