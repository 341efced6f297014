"""kvstore.client: an asyncio-native, typed etcd v3 client (works with etcd and kvstore).

::

    async with Client(["127.0.0.1:2379"]) as c:
        await c.put(b"k", b"v")
        (await c.get(b"k")).value

Modules: ``_connection`` (endpoints, failover, retry contract), ``_errors`` (the
exception tree), ``_kv``/``_ops``/``_txn`` (key-value and transactions), ``_watch``
(multiplexed, resumable watches), ``_lease`` (leases, keep-alive), ``_maintenance``
(cluster and maintenance), ``_concurrency`` (session, lock, election), ``_sync``
(blocking facade).
"""

from kvstore.client._client import Client
from kvstore.client._concurrency import Election, Lock, Session
from kvstore.client._connection import ClientConfig
from kvstore.client._errors import (
    AuthError,
    AuthFailedError,
    AuthNotEnabledError,
    ClientError,
    CompactedError,
    ConnectionFailedError,
    DuplicateKeyError,
    ElectionError,
    FutureRevisionError,
    InvalidAuthTokenError,
    InvalidRequestError,
    InvalidSortOptionError,
    KeyNotFoundError,
    KeyNotProvidedError,
    LeaseError,
    LeaseExistsError,
    LeaseExpiredError,
    LeaseNotFoundError,
    LeaseProvidedError,
    LeaseTTLTooLargeError,
    NoElectedLeaderError,
    NoLeaderError,
    NoSpaceError,
    NotLeaderError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RequestTimeoutError,
    RequestTooLargeError,
    RevisionError,
    TooManyOpsError,
    UnavailableError,
    ValueProvidedError,
    WatchCanceledError,
)
from kvstore.client._lease import KeepAlive
from kvstore.client._ops import RangeOptions, delete, get, put
from kvstore.client._sync import SyncClient, SyncWatch
from kvstore.client._txn import Compare, Comparison, Txn, txn
from kvstore.client._types import (
    Alarm,
    AlarmType,
    DeleteResult,
    Event,
    EventType,
    HashKV,
    Header,
    KeyValue,
    LeaseGrant,
    LeaseTimeToLive,
    Member,
    PutResult,
    RangeResult,
    SortOrder,
    SortTarget,
    Status,
    TxnResult,
    WatchFilter,
    WatchResponse,
    prefix_end,
)
from kvstore.client._watch import Watch

__all__ = [
    "Alarm",
    "AlarmType",
    "AuthError",
    "AuthFailedError",
    "AuthNotEnabledError",
    "Client",
    "ClientConfig",
    "ClientError",
    "CompactedError",
    "Compare",
    "Comparison",
    "ConnectionFailedError",
    "DeleteResult",
    "DuplicateKeyError",
    "Election",
    "ElectionError",
    "Event",
    "EventType",
    "FutureRevisionError",
    "HashKV",
    "Header",
    "InvalidAuthTokenError",
    "InvalidRequestError",
    "InvalidSortOptionError",
    "KeepAlive",
    "KeyNotFoundError",
    "KeyNotProvidedError",
    "KeyValue",
    "LeaseError",
    "LeaseExistsError",
    "LeaseExpiredError",
    "LeaseGrant",
    "LeaseNotFoundError",
    "LeaseProvidedError",
    "LeaseTTLTooLargeError",
    "LeaseTimeToLive",
    "Lock",
    "Member",
    "NoElectedLeaderError",
    "NoLeaderError",
    "NoSpaceError",
    "NotLeaderError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "PutResult",
    "RangeOptions",
    "RangeResult",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "RevisionError",
    "Session",
    "SortOrder",
    "SortTarget",
    "Status",
    "SyncClient",
    "SyncWatch",
    "TooManyOpsError",
    "Txn",
    "TxnResult",
    "UnavailableError",
    "ValueProvidedError",
    "Watch",
    "WatchCanceledError",
    "WatchFilter",
    "WatchResponse",
    "delete",
    "get",
    "prefix_end",
    "put",
    "txn",
]
