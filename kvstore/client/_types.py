"""Typed results: plain frozen dataclasses built from the protobuf responses.

Keys and values are always ``bytes``; functions that take keys also accept ``str``
(encoded as UTF-8).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from kvstore.pb import auth_pb2, kv_pb2, rpc_pb2

KeyLike = bytes | str


def to_bytes(data: KeyLike) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def prefix_end(prefix: bytes) -> bytes:
    """The range_end covering every key that starts with ``prefix``.

    b"a" → b"b", b"a\\xff" → b"b"; an empty or all-0xff prefix → b"\\0" (all keys ≥).
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"
    return stripped[:-1] + bytes([stripped[-1] + 1])


class SortOrder(enum.IntEnum):
    NONE = rpc_pb2.RangeRequest.NONE
    ASCEND = rpc_pb2.RangeRequest.ASCEND
    DESCEND = rpc_pb2.RangeRequest.DESCEND


class SortTarget(enum.IntEnum):
    KEY = rpc_pb2.RangeRequest.KEY
    VERSION = rpc_pb2.RangeRequest.VERSION
    CREATE = rpc_pb2.RangeRequest.CREATE
    MOD = rpc_pb2.RangeRequest.MOD
    VALUE = rpc_pb2.RangeRequest.VALUE


class EventType(enum.Enum):
    PUT = "PUT"
    DELETE = "DELETE"


class WatchFilter(enum.IntEnum):
    """Server-side watch filters: drop puts, or drop deletes."""

    NOPUT = rpc_pb2.WatchCreateRequest.NOPUT
    NODELETE = rpc_pb2.WatchCreateRequest.NODELETE


@dataclass(frozen=True, slots=True)
class Header:
    cluster_id: int
    member_id: int
    revision: int
    raft_term: int

    @classmethod
    def from_pb(cls, pb: rpc_pb2.ResponseHeader) -> Header:
        return cls(pb.cluster_id, pb.member_id, pb.revision, pb.raft_term)


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int

    @classmethod
    def from_pb(cls, pb: kv_pb2.KeyValue) -> KeyValue:
        return cls(pb.key, pb.value, pb.create_revision, pb.mod_revision, pb.version, pb.lease)


@dataclass(frozen=True, slots=True)
class RangeResult:
    header: Header
    kvs: list[KeyValue]
    more: bool
    count: int

    @property
    def revision(self) -> int:
        return self.header.revision

    @property
    def kv(self) -> KeyValue | None:
        """The first key-value, or None (handy for single-key gets)."""
        return self.kvs[0] if self.kvs else None

    @property
    def value(self) -> bytes | None:
        return self.kvs[0].value if self.kvs else None

    @classmethod
    def from_pb(cls, pb: rpc_pb2.RangeResponse) -> RangeResult:
        return cls(
            Header.from_pb(pb.header), [KeyValue.from_pb(kv) for kv in pb.kvs], pb.more, pb.count
        )


@dataclass(frozen=True, slots=True)
class PutResult:
    header: Header
    prev_kv: KeyValue | None

    @property
    def revision(self) -> int:
        return self.header.revision

    @classmethod
    def from_pb(cls, pb: rpc_pb2.PutResponse) -> PutResult:
        prev = KeyValue.from_pb(pb.prev_kv) if pb.HasField("prev_kv") else None
        return cls(Header.from_pb(pb.header), prev)


@dataclass(frozen=True, slots=True)
class DeleteResult:
    header: Header
    deleted: int
    prev_kvs: list[KeyValue]

    @property
    def revision(self) -> int:
        return self.header.revision

    @classmethod
    def from_pb(cls, pb: rpc_pb2.DeleteRangeResponse) -> DeleteResult:
        return cls(
            Header.from_pb(pb.header), pb.deleted, [KeyValue.from_pb(kv) for kv in pb.prev_kvs]
        )


@dataclass(frozen=True, slots=True)
class TxnResult:
    header: Header
    succeeded: bool
    responses: list[RangeResult | PutResult | DeleteResult | TxnResult]

    @property
    def revision(self) -> int:
        return self.header.revision

    @classmethod
    def from_pb(cls, pb: rpc_pb2.TxnResponse) -> TxnResult:
        out: list[RangeResult | PutResult | DeleteResult | TxnResult] = []
        for op in pb.responses:
            which = op.WhichOneof("response")
            if which == "response_range":
                out.append(RangeResult.from_pb(op.response_range))
            elif which == "response_put":
                out.append(PutResult.from_pb(op.response_put))
            elif which == "response_delete_range":
                out.append(DeleteResult.from_pb(op.response_delete_range))
            elif which == "response_txn":
                out.append(TxnResult.from_pb(op.response_txn))
            else:
                raise ValueError(f"unknown txn response op {which!r}")
        return cls(Header.from_pb(pb.header), pb.succeeded, out)


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None

    @property
    def key(self) -> bytes:
        return self.kv.key

    @property
    def revision(self) -> int:
        """The revision this event happened at (the key's mod_revision)."""
        return self.kv.mod_revision

    @classmethod
    def from_pb(cls, pb: kv_pb2.Event) -> Event:
        kind = EventType.PUT if pb.type == kv_pb2.Event.PUT else EventType.DELETE
        prev = KeyValue.from_pb(pb.prev_kv) if pb.HasField("prev_kv") else None
        return cls(kind, KeyValue.from_pb(pb.kv), prev)


@dataclass(frozen=True, slots=True)
class WatchResponse:
    """One batch from the server: events of whole revisions, or a progress notification.

    ``revision`` is the store revision when the batch was sent; after a progress
    notification at R no event ≤ R follows.
    """

    header: Header
    events: list[Event] = field(default_factory=list)
    progress_notify: bool = False

    @property
    def revision(self) -> int:
        return self.header.revision


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    id: int
    ttl: int
    header: Header


@dataclass(frozen=True, slots=True)
class LeaseTimeToLive:
    """``ttl`` is -1 when the lease does not exist (expired or revoked)."""

    id: int
    ttl: int
    granted_ttl: int
    keys: list[bytes]
    header: Header


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    name: str
    peer_urls: list[str]
    client_urls: list[str]
    is_learner: bool

    @classmethod
    def from_pb(cls, pb: rpc_pb2.Member) -> Member:
        return cls(pb.ID, pb.name, list(pb.peerURLs), list(pb.clientURLs), pb.isLearner)


@dataclass(frozen=True, slots=True)
class Status:
    header: Header
    version: str
    db_size: int
    db_size_in_use: int
    leader: int
    raft_index: int
    raft_term: int
    raft_applied_index: int
    errors: list[str]
    is_learner: bool


class AlarmType(enum.IntEnum):
    NONE = rpc_pb2.NONE
    NOSPACE = rpc_pb2.NOSPACE
    CORRUPT = rpc_pb2.CORRUPT


@dataclass(frozen=True, slots=True)
class Alarm:
    member_id: int
    alarm: AlarmType


@dataclass(frozen=True, slots=True)
class HashKV:
    header: Header
    hash: int
    compact_revision: int


# --- auth -----------------------------------------------------------------------


class PermissionType(enum.IntEnum):
    """What a role may do in a key range."""

    READ = auth_pb2.Permission.READ
    WRITE = auth_pb2.Permission.WRITE
    READWRITE = auth_pb2.Permission.READWRITE


@dataclass(frozen=True, slots=True)
class Permission:
    """``perm_type`` on ``[key, range_end)`` (empty ``range_end``: the key alone;
    ``b"\\0"``: every key ≥ ``key``)."""

    perm_type: PermissionType
    key: bytes
    range_end: bytes = b""

    @classmethod
    def from_pb(cls, pb: auth_pb2.Permission) -> Permission:
        return cls(PermissionType(pb.permType), pb.key, pb.range_end)


@dataclass(frozen=True, slots=True)
class AuthStatus:
    header: Header
    enabled: bool
    auth_revision: int


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user and the roles granted to it (sorted)."""

    header: Header
    name: str
    roles: list[str]


@dataclass(frozen=True, slots=True)
class RoleInfo:
    """A role and its key permissions (sorted by key, then range_end)."""

    header: Header
    name: str
    permissions: list[Permission]


@dataclass(frozen=True, slots=True)
class UserList:
    header: Header
    users: list[str]


@dataclass(frozen=True, slots=True)
class RoleList:
    header: Header
    roles: list[str]
