"""The client's exception tree, and the one place gRPC errors are translated.

::

    ClientError                      every error this package raises
    ├── ConnectionFailedError        no endpoint could be reached (nothing was sent)
    ├── RequestTimeoutError          a read ran out of time (also a builtins.TimeoutError)
    ├── OutcomeUnknownError          a write may or may not have been applied
    ├── UnavailableError             gRPC UNAVAILABLE
    │   └── NoLeaderError            "etcdserver: no leader"
    ├── RevisionError
    │   ├── CompactedError           revision compacted (carries compact_revision)
    │   └── FutureRevisionError      revision not yet written
    ├── InvalidRequestError          gRPC INVALID_ARGUMENT
    │   ├── KeyNotProvidedError, KeyNotFoundError, ValueProvidedError,
    │   ├── LeaseProvidedError, TooManyOpsError, DuplicateKeyError,
    │   └── RequestTooLargeError, InvalidSortOptionError
    ├── LeaseError
    │   ├── LeaseNotFoundError, LeaseExistsError, LeaseTTLTooLargeError
    │   └── LeaseExpiredError        a keep-alive found its lease gone
    ├── AuthError
    │   ├── PermissionDeniedError, InvalidAuthTokenError, AuthOldRevisionError,
    │   ├── AuthNotEnabledError, AuthFailedError,
    │   ├── RootUserNotExistError, RootRoleNotExistError   (auth enable)
    │   ├── UserExistsError, UserNotFoundError, UserEmptyError,
    │   ├── RoleExistsError, RoleNotFoundError, RoleEmptyError,
    │   ├── RoleNotGrantedError, PermissionNotGrantedError
    │   └── InvalidAuthMgmtError     e.g. deleting root while auth is on
    ├── NoSpaceError                 "etcdserver: mvcc: database space exceeded"
    ├── WatchCanceledError           the server canceled a watch (not compaction)
    └── ElectionError
        ├── NotLeaderError           proclaim/resign after leadership was lost
        └── NoElectedLeaderError     leader() on an election nobody has won

Every error keeps the gRPC status ``code`` (None when it did not come from gRPC)
and etcd's ``message``. :func:`translate` is the only function that looks at
``grpc.aio.AioRpcError``.
"""

from __future__ import annotations

import builtins

import grpc  # type: ignore[import-untyped, unused-ignore]


class ClientError(Exception):
    """Base of every error raised by :mod:`kvstore.client`."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message if self.code is None else f"{self.code.name}: {self.message}"


class ConnectionFailedError(ClientError):
    """No endpoint accepted the request; it was never sent."""


class RequestTimeoutError(ClientError, builtins.TimeoutError):
    """A request that changes nothing ran out of time."""


class OutcomeUnknownError(ClientError):
    """A write was sent but its fate is unknown (timeout, connection lost mid-call).

    The client never repeats such a write; the caller decides, e.g. by reading the
    key back. ``__cause__`` holds the underlying error.
    """


class UnavailableError(ClientError):
    """The member answered UNAVAILABLE."""


class NoLeaderError(UnavailableError):
    """The member has no Raft leader."""


class RevisionError(ClientError):
    """A requested revision is outside the store's history."""


class CompactedError(RevisionError):
    """The revision was compacted away; re-list at a newer revision."""

    def __init__(
        self,
        message: str = "etcdserver: mvcc: required revision has been compacted",
        code: grpc.StatusCode | None = grpc.StatusCode.OUT_OF_RANGE,
        compact_revision: int = 0,
    ) -> None:
        super().__init__(message, code)
        self.compact_revision = compact_revision


class FutureRevisionError(RevisionError):
    """The revision has not been written yet."""


class InvalidRequestError(ClientError):
    """The server rejected the request as malformed (INVALID_ARGUMENT)."""


class KeyNotProvidedError(InvalidRequestError):
    pass


class KeyNotFoundError(InvalidRequestError):
    """``ignore_value`` on a key that does not exist."""


class ValueProvidedError(InvalidRequestError):
    pass


class LeaseProvidedError(InvalidRequestError):
    pass


class TooManyOpsError(InvalidRequestError):
    pass


class DuplicateKeyError(InvalidRequestError):
    pass


class RequestTooLargeError(InvalidRequestError):
    pass


class InvalidSortOptionError(InvalidRequestError):
    pass


class LeaseError(ClientError):
    pass


class LeaseNotFoundError(LeaseError):
    pass


class LeaseExistsError(LeaseError):
    pass


class LeaseTTLTooLargeError(LeaseError):
    pass


class LeaseExpiredError(LeaseError):
    """A keep-alive learned that its lease no longer exists."""

    def __init__(self, lease_id: int, message: str = "") -> None:
        super().__init__(message or f"lease {lease_id:x} expired or was revoked")
        self.lease_id = lease_id


class AuthError(ClientError):
    pass


class PermissionDeniedError(AuthError):
    pass


class InvalidAuthTokenError(AuthError):
    pass


class AuthOldRevisionError(AuthError):
    """A JWT token issued before the auth store last changed: log in again."""


class AuthNotEnabledError(AuthError):
    pass


class AuthFailedError(AuthError):
    pass


class RootUserNotExistError(AuthError):
    """``auth_enable`` without a ``root`` user."""


class RootRoleNotExistError(AuthError):
    """``auth_enable`` while the ``root`` user lacks the ``root`` role."""


class UserExistsError(AuthError):
    pass


class UserNotFoundError(AuthError):
    pass


class UserEmptyError(AuthError):
    pass


class RoleExistsError(AuthError):
    pass


class RoleNotFoundError(AuthError):
    pass


class RoleEmptyError(AuthError):
    pass


class RoleNotGrantedError(AuthError):
    """Revoking a role the user does not hold."""


class PermissionNotGrantedError(AuthError):
    """Revoking a permission the role does not hold (ranges must match exactly)."""


class InvalidAuthMgmtError(AuthError):
    """A change that would lock root out while auth is on."""


class NoSpaceError(ClientError):
    pass


class WatchCanceledError(ClientError):
    """The server canceled a watch for a reason other than compaction."""


class ElectionError(ClientError):
    pass


class NotLeaderError(ElectionError):
    pass


class NoElectedLeaderError(ElectionError):
    pass


# etcd's exact messages → our classes. Messages are matched whole, then by prefix
# (etcd appends detail to a few of them, e.g. "request timed out, possibly due to ...").
_BY_MESSAGE: dict[str, type[ClientError]] = {
    "etcdserver: mvcc: required revision has been compacted": CompactedError,
    "etcdserver: mvcc: required revision is a future revision": FutureRevisionError,
    "etcdserver: key is not provided": KeyNotProvidedError,
    "etcdserver: key not found": KeyNotFoundError,
    "etcdserver: value is provided": ValueProvidedError,
    "etcdserver: lease is provided": LeaseProvidedError,
    "etcdserver: too many operations in txn request": TooManyOpsError,
    "etcdserver: duplicate key given in txn request": DuplicateKeyError,
    "etcdserver: request is too large": RequestTooLargeError,
    "etcdserver: invalid sort option": InvalidSortOptionError,
    "etcdserver: requested lease not found": LeaseNotFoundError,
    "etcdserver: lease already exists": LeaseExistsError,
    "etcdserver: too large lease TTL": LeaseTTLTooLargeError,
    "etcdserver: no leader": NoLeaderError,
    "etcdserver: mvcc: database space exceeded": NoSpaceError,
    "etcdserver: permission denied": PermissionDeniedError,
    "etcdserver: invalid auth token": InvalidAuthTokenError,
    "etcdserver: revision of auth store is old": AuthOldRevisionError,
    "etcdserver: authentication is not enabled": AuthNotEnabledError,
    "etcdserver: authentication failed, invalid user ID or password": AuthFailedError,
    "etcdserver: root user does not exist": RootUserNotExistError,
    "etcdserver: root user does not have root role": RootRoleNotExistError,
    "etcdserver: user name already exists": UserExistsError,
    "etcdserver: user name not found": UserNotFoundError,
    "etcdserver: user name is empty": UserEmptyError,
    "etcdserver: role name already exists": RoleExistsError,
    "etcdserver: role name not found": RoleNotFoundError,
    "etcdserver: role name is empty": RoleEmptyError,
    "etcdserver: role is not granted to the user": RoleNotGrantedError,
    "etcdserver: permission is not granted to the role": PermissionNotGrantedError,
    "etcdserver: invalid auth management": InvalidAuthMgmtError,
}

# Messages saying a proposal was made but its fate is not known.
_UNKNOWN_OUTCOME_PREFIXES = (
    "etcdserver: request timed out",
    "etcdserver: leader changed",
    "etcdserver: server stopped",
)

# gRPC detail strings meaning the call never left this process.
_NOT_SENT_MARKERS = (
    "failed to connect to all addresses",
    "connections to all backends failing",
    "Connection refused",
    "DNS resolution failed",
    "no address",
)


#: UNAVAILABLE answers that refuse a request outright: it changed nothing
_REFUSED_UNAVAILABLE = (
    "etcdserver: no leader",
    "etcdserver: unhealthy cluster",
    "etcdserver: rpc not supported for learner",
)


def was_not_sent(exc: grpc.aio.AioRpcError) -> bool:
    """True when ``exc`` shows the request never reached a server."""
    if exc.code() != grpc.StatusCode.UNAVAILABLE:
        return False
    details: str = exc.details() or ""
    return any(marker in details for marker in _NOT_SENT_MARKERS)


def is_retryable_read(exc: grpc.aio.AioRpcError) -> bool:
    """True when a read may be tried again on another member."""
    return bool(exc.code() == grpc.StatusCode.UNAVAILABLE)


def translate(exc: grpc.aio.AioRpcError, *, mutation: bool = False) -> ClientError:
    """Map a gRPC error to our tree. ``mutation``: the call may change the store."""
    code = exc.code()
    message = exc.details() or ""
    sent_and_lost = code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED) or (
        code == grpc.StatusCode.UNAVAILABLE and not message.startswith(_REFUSED_UNAVAILABLE)
    )
    if mutation and sent_and_lost and not was_not_sent(exc):
        return OutcomeUnknownError(message or code.name, code)
    for prefix in _UNKNOWN_OUTCOME_PREFIXES:
        if message.startswith(prefix):
            if mutation:
                return OutcomeUnknownError(message, code)
            return RequestTimeoutError(message, code)
    cls = _BY_MESSAGE.get(message)
    if cls is CompactedError:
        return CompactedError(message, code)
    if cls is not None:
        return cls(message, code)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return RequestTimeoutError(message or "deadline exceeded", code)
    if code == grpc.StatusCode.UNAVAILABLE:
        if was_not_sent(exc):
            return ConnectionFailedError(message, code)
        return UnavailableError(message, code)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidRequestError(message, code)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDeniedError(message, code)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return InvalidAuthTokenError(message, code)
    return ClientError(message or code.name, code)
