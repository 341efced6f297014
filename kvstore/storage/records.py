"""How MVCC records and metadata are laid out in LMDB values.

A ``kv`` record is one flag byte and a serialized ``mvccpb.KeyValue``:
``b"p"`` for a put; ``b"d"`` for a tombstone, whose KeyValue holds only the key
and the mod revision of the delete (what a DELETE watch event carries).

Worked example (keys ``a``; revisions are (main, sub)):

    put a=1   -> rev (2,0): kv[(2,0)] = p{a,create=2,mod=2,ver=1,"1"}; index[a] = {(2,0)}
    put a=2   -> rev (3,0): kv[(3,0)] = p{a,create=2,mod=3,ver=2,"2"}; index[a] += (3,0)
    del a     -> rev (4,0): kv[(4,0)] = d{a,mod=4};                    index[a] += (4,0)
    compact 3 -> (2,0) is superseded by (3,0) <= 3: removed; (3,0) stays, since a
                 read at revision 3 still needs it. compact 4 would remove all
                 three: the newest revision <= 4 is a tombstone.
"""

from __future__ import annotations

import struct

from kvstore.pb import kv_pb2

PUT = b"p"
TOMBSTONE = b"d"

_I64 = struct.Struct(">q")


def encode_put(kv: kv_pb2.KeyValue) -> bytes:
    return PUT + kv.SerializeToString()


def encode_tombstone(key: bytes, main: int) -> bytes:
    return TOMBSTONE + kv_pb2.KeyValue(key=key, mod_revision=main).SerializeToString()


def decode(record: bytes, into: kv_pb2.KeyValue | None = None) -> tuple[bool, kv_pb2.KeyValue]:
    """(is_put, KeyValue) of a ``kv`` record, parsed into ``into`` if given."""
    return record[:1] == PUT, parse_payload(record[1:], into)


def parse_payload(payload: bytes, into: kv_pb2.KeyValue | None = None) -> kv_pb2.KeyValue:
    """A record's serialized KeyValue, parsed (into ``into`` if given)."""
    kv = kv_pb2.KeyValue() if into is None else into
    kv.ParseFromString(payload)
    return kv


def put_payload(record: bytes) -> bytes | None:
    """The serialized KeyValue of a put record; None for a tombstone."""
    return record[1:] if record[:1] == PUT else None


def encode_int(value: int) -> bytes:
    return _I64.pack(value)


def decode_int(raw: bytes | None, default: int = 0) -> int:
    if raw is None:
        return default
    return int(_I64.unpack(raw)[0])


def encode_lease_id(lease_id: int) -> bytes:
    return _I64.pack(lease_id)


def decode_lease_id(raw: bytes) -> int:
    return int(_I64.unpack(raw)[0])


# meta keys
META_REVISION = b"revision"
META_COMPACTED = b"compacted"
META_COMPACT_DONE = b"compact_done"
META_APPLIED_INDEX = b"applied_index"
META_APPLIED_TERM = b"applied_term"
META_ALARM_NOSPACE = b"alarm_nospace"
META_CLUSTER_ID = b"cluster_id"
META_AUTO_PROMOTE = b"auto_promote"

# auth keys (in the ``auth`` database)
AUTH_ENABLED = b"enabled"
AUTH_REVISION = b"revision"
AUTH_USER = b"user/"
AUTH_ROLE = b"role/"
