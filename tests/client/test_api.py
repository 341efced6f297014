"""The public API of kvstore.client is pinned: changing it is a deliberate act."""

from __future__ import annotations

import kvstore.client

EXPECTED = {
    "Alarm", "AlarmType", "AuthError", "AuthFailedError", "AuthNotEnabledError", "Client",
    "ClientConfig", "ClientError", "CompactedError", "Compare", "Comparison",
    "ConnectionFailedError", "DeleteResult", "DuplicateKeyError", "Election", "ElectionError",
    "Event", "EventType", "FutureRevisionError", "HashKV", "Header", "InvalidAuthTokenError",
    "InvalidRequestError", "InvalidSortOptionError", "KeepAlive", "KeyNotFoundError",
    "KeyNotProvidedError", "KeyValue", "LeaseError", "LeaseExistsError", "LeaseExpiredError",
    "LeaseGrant", "LeaseNotFoundError", "LeaseProvidedError", "LeaseTTLTooLargeError",
    "LeaseTimeToLive", "Lock", "Member", "NoElectedLeaderError", "NoLeaderError",
    "NoSpaceError", "NotLeaderError", "OutcomeUnknownError", "PermissionDeniedError",
    "PutResult", "RangeOptions", "RangeResult", "RequestTimeoutError", "RequestTooLargeError",
    "RevisionError", "Session", "SortOrder", "SortTarget", "Status", "SyncClient", "SyncWatch",
    "TooManyOpsError", "Txn", "TxnResult", "UnavailableError", "ValueProvidedError", "Watch",
    "WatchCanceledError", "WatchFilter", "WatchResponse", "delete", "get", "prefix_end", "put",
    "txn",
    # auth management
    "AuthStatus", "InvalidAuthMgmtError", "Permission", "PermissionNotGrantedError",
    "PermissionType", "RoleEmptyError", "RoleExistsError", "RoleInfo", "RoleList",
    "RoleNotFoundError", "RoleNotGrantedError", "RootRoleNotExistError",
    "RootUserNotExistError", "UserEmptyError", "UserExistsError", "UserInfo", "UserList",
    "UserNotFoundError",
    # JWT tokens (--auth-token jwt): a token older than the auth store
    "AuthOldRevisionError",
    # copying keys to another cluster (kvctl make-mirror)
    "Mirror",
}  # fmt: skip


def test_all_is_pinned() -> None:
    assert set(kvstore.client.__all__) == EXPECTED
    assert len(kvstore.client.__all__) == len(EXPECTED)
    for name in EXPECTED:
        assert hasattr(kvstore.client, name), name


def test_every_error_derives_from_client_error() -> None:
    for name in EXPECTED:
        obj = getattr(kvstore.client, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, kvstore.client.ClientError), name
    assert issubclass(kvstore.client.RequestTimeoutError, TimeoutError)
    assert issubclass(kvstore.client.NoLeaderError, kvstore.client.UnavailableError)
