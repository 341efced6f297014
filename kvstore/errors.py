"""One exception tree for the whole server; each error knows its etcd wire form.

    KvError                      (code name, etcd message)
    ├── InvalidArgumentError     INVALID_ARGUMENT
    │   ├── EmptyKeyError, TooManyOpsError, DuplicateKeyError, RequestTooLargeError
    │   ├── KeyNotFoundError, ValueProvidedError, LeaseProvidedError
    │   ├── InvalidSortOptionError, KeyTooLongError
    ├── OutOfRangeError          OUT_OF_RANGE
    │   ├── CompactedError, FutureRevisionError, LeaseTTLTooLargeError
    ├── LeaseNotFoundError       NOT_FOUND
    ├── LeaseExistsError         FAILED_PRECONDITION
    ├── UnavailableError         UNAVAILABLE  (NoLeaderError, RequestTimeoutError)
    ├── InvalidAuthTokenError    UNAUTHENTICATED
    ├── AuthOldRevisionError     INVALID_ARGUMENT (a JWT token older than the auth store)
    ├── PermissionDeniedError    PERMISSION_DENIED
    ├── MaintenanceAuthError     UNKNOWN  (etcd 3.4's maintenance admin check, raw)
    ├── AuthError                auth management (FAILED_PRECONDITION unless noted)
    │   ├── AuthNotEnabledError, RootUserNotExistError, RootRoleNotExistError
    │   ├── UserExistsError, UserNotFoundError, RoleExistsError, RoleNotFoundError
    │   ├── RoleNotGrantedError, PermissionNotGrantedError, InvalidAuthMgmtError
    │   └── UserEmptyError, RoleEmptyError, AuthFailedError  (INVALID_ARGUMENT)
    ├── NoSpaceError             RESOURCE_EXHAUSTED
    ├── UnsupportedError         UNIMPLEMENTED, names the field
    └── MemberError              member add/remove/promote failures

The code is a ``grpc.StatusCode`` *name*, so that storage and apply stay free of
grpc; the gRPC edge (``kvstore.api.status``) turns it into a status, once.
"""

from __future__ import annotations


class KvError(Exception):
    """Base of every error a client can see. ``message`` is what etcd sends."""

    code: str = "UNKNOWN"
    message: str = "kvstore: unknown error"

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class InvalidArgumentError(KvError):
    code = "INVALID_ARGUMENT"


class EmptyKeyError(InvalidArgumentError):
    message = "etcdserver: key is not provided"


class TooManyOpsError(InvalidArgumentError):
    message = "etcdserver: too many operations in txn request"


class DuplicateKeyError(InvalidArgumentError):
    message = "etcdserver: duplicate key given in txn request"


class RequestTooLargeError(InvalidArgumentError):
    message = "etcdserver: request is too large"


class KeyNotFoundError(InvalidArgumentError):
    message = "etcdserver: key not found"


class ValueProvidedError(InvalidArgumentError):
    message = "etcdserver: value is provided"


class LeaseProvidedError(InvalidArgumentError):
    message = "etcdserver: lease is provided"


class InvalidSortOptionError(InvalidArgumentError):
    message = "etcdserver: invalid sort option"


class KeyTooLongError(InvalidArgumentError):
    message = "kvstore: key is longer than 511 bytes (the LMDB key limit)"


class OutOfRangeError(KvError):
    code = "OUT_OF_RANGE"


class CompactedError(OutOfRangeError):
    message = "etcdserver: mvcc: required revision has been compacted"


class FutureRevisionError(OutOfRangeError):
    message = "etcdserver: mvcc: required revision is a future revision"


class LeaseTTLTooLargeError(OutOfRangeError):
    message = "etcdserver: too large lease TTL"


class LeaseNotFoundError(KvError):
    code = "NOT_FOUND"
    message = "etcdserver: requested lease not found"


class LeaseExistsError(KvError):
    code = "FAILED_PRECONDITION"
    message = "etcdserver: lease already exists"


class UnavailableError(KvError):
    code = "UNAVAILABLE"


class NoLeaderError(UnavailableError):
    message = "etcdserver: no leader"


class RequestTimeoutError(UnavailableError):
    message = "etcdserver: request timed out"


class StoppedError(UnavailableError):
    message = "etcdserver: server stopped"


class LeaderTransferTimeoutError(KvError):
    """etcd has no gRPC code of its own for this one: it goes out as Unknown."""

    code = "UNKNOWN"
    message = "etcdserver: request timed out, leader transfer took too long"


class InvalidAuthTokenError(KvError):
    code = "UNAUTHENTICATED"
    message = "etcdserver: invalid auth token"


class AuthOldRevisionError(KvError):
    """A JWT token issued before the auth store last changed (clients log in again)."""

    code = "INVALID_ARGUMENT"
    message = "etcdserver: revision of auth store is old"


class PermissionDeniedError(KvError):
    code = "PERMISSION_DENIED"
    message = "etcdserver: permission denied"


class MaintenanceAuthError(KvError):
    """etcd 3.4's maintenance service (Defragment, Hash, HashKV, Snapshot)
    checks for an admin itself and returns the auth package's error as it is:
    code Unknown, messages without the "etcdserver: " prefix."""

    code = "UNKNOWN"
    message = "auth: permission denied"


class AuthError(KvError):
    """A refused auth request (user/role management, enable, authenticate)."""

    code = "FAILED_PRECONDITION"


class AuthNotEnabledError(AuthError):
    message = "etcdserver: authentication is not enabled"


class RootUserNotExistError(AuthError):
    message = "etcdserver: root user does not exist"


class RootRoleNotExistError(AuthError):
    # etcdctl's "auth enable" reacts to this one: it adds the root role, grants
    # it to root and retries
    message = "etcdserver: root user does not have root role"


class UserExistsError(AuthError):
    message = "etcdserver: user name already exists"


class UserNotFoundError(AuthError):
    message = "etcdserver: user name not found"


class RoleExistsError(AuthError):
    message = "etcdserver: role name already exists"


class RoleNotFoundError(AuthError):
    message = "etcdserver: role name not found"


class RoleNotGrantedError(AuthError):
    message = "etcdserver: role is not granted to the user"


class PermissionNotGrantedError(AuthError):
    message = "etcdserver: permission is not granted to the role"


class InvalidAuthMgmtError(AuthError):
    message = "etcdserver: invalid auth management"


class UserEmptyError(AuthError):
    code = "INVALID_ARGUMENT"
    message = "etcdserver: user name is empty"


class RoleEmptyError(AuthError):
    code = "INVALID_ARGUMENT"
    message = "etcdserver: role name is empty"


class AuthFailedError(AuthError):
    code = "INVALID_ARGUMENT"
    message = "etcdserver: authentication failed, invalid user ID or password"


class NoSpaceError(KvError):
    code = "RESOURCE_EXHAUSTED"
    message = "etcdserver: mvcc: database space exceeded"


class UnsupportedError(KvError):
    """An option kvstore does not implement: never silently ignored."""

    code = "UNIMPLEMENTED"

    def __init__(self, field: str) -> None:
        super().__init__(f"kvstore: {field} is not supported")


class MemberError(KvError):
    code = "FAILED_PRECONDITION"


class MemberNotFoundError(MemberError):
    code = "NOT_FOUND"
    message = "etcdserver: member not found"


class MemberRemovedError(MemberError):
    """This member learned it was removed: it stops, as etcd's does."""

    message = "etcdserver: the member has been permanently removed from the cluster"


class MemberNotLearnerError(MemberError):
    message = "etcdserver: can only promote a learner member"


class LearnerNotReadyError(MemberError):
    message = "etcdserver: can only promote a learner member which is in sync with leader"


class TooManyLearnersError(MemberError):
    message = "etcdserver: too many learner members in cluster"


class BadLeaderTransfereeError(MemberError):
    """MoveLeader to a learner, or to an ID that is no member."""

    message = "etcdserver: bad leader transferee"


class NotEnoughStartedMembersError(MemberError):
    """A change that would leave fewer started voters than a quorum (etcd's
    strict reconfiguration check)."""

    message = "etcdserver: re-configuration failed due to not enough started members"


class UnhealthyClusterError(UnavailableError):
    """A change while this member is not linked to every voter, or a removal
    that would leave the linked voters short of a quorum (etcd's strict
    reconfiguration check)."""

    message = "etcdserver: unhealthy cluster"


class NotForLearnerError(UnavailableError):
    message = "etcdserver: rpc not supported for learner"
