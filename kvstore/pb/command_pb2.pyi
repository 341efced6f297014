from kvstore.pb import rpc_pb2 as _rpc_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Barrier(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Command(_message.Message):
    __slots__ = ("request_id", "member_id", "put", "delete_range", "txn", "compaction", "lease_grant", "lease_revoke", "barrier", "alarm", "lease_keepalive", "member_publish", "member_remove", "member_add")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    PUT_FIELD_NUMBER: _ClassVar[int]
    DELETE_RANGE_FIELD_NUMBER: _ClassVar[int]
    TXN_FIELD_NUMBER: _ClassVar[int]
    COMPACTION_FIELD_NUMBER: _ClassVar[int]
    LEASE_GRANT_FIELD_NUMBER: _ClassVar[int]
    LEASE_REVOKE_FIELD_NUMBER: _ClassVar[int]
    BARRIER_FIELD_NUMBER: _ClassVar[int]
    ALARM_FIELD_NUMBER: _ClassVar[int]
    LEASE_KEEPALIVE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_PUBLISH_FIELD_NUMBER: _ClassVar[int]
    MEMBER_REMOVE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ADD_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    member_id: int
    put: _rpc_pb2.PutRequest
    delete_range: _rpc_pb2.DeleteRangeRequest
    txn: _rpc_pb2.TxnRequest
    compaction: _rpc_pb2.CompactionRequest
    lease_grant: _rpc_pb2.LeaseGrantRequest
    lease_revoke: _rpc_pb2.LeaseRevokeRequest
    barrier: Barrier
    alarm: _rpc_pb2.AlarmRequest
    lease_keepalive: _rpc_pb2.LeaseKeepAliveRequest
    member_publish: _rpc_pb2.Member
    member_remove: _rpc_pb2.MemberRemoveRequest
    member_add: _rpc_pb2.Member
    def __init__(self, request_id: _Optional[int] = ..., member_id: _Optional[int] = ..., put: _Optional[_Union[_rpc_pb2.PutRequest, _Mapping]] = ..., delete_range: _Optional[_Union[_rpc_pb2.DeleteRangeRequest, _Mapping]] = ..., txn: _Optional[_Union[_rpc_pb2.TxnRequest, _Mapping]] = ..., compaction: _Optional[_Union[_rpc_pb2.CompactionRequest, _Mapping]] = ..., lease_grant: _Optional[_Union[_rpc_pb2.LeaseGrantRequest, _Mapping]] = ..., lease_revoke: _Optional[_Union[_rpc_pb2.LeaseRevokeRequest, _Mapping]] = ..., barrier: _Optional[_Union[Barrier, _Mapping]] = ..., alarm: _Optional[_Union[_rpc_pb2.AlarmRequest, _Mapping]] = ..., lease_keepalive: _Optional[_Union[_rpc_pb2.LeaseKeepAliveRequest, _Mapping]] = ..., member_publish: _Optional[_Union[_rpc_pb2.Member, _Mapping]] = ..., member_remove: _Optional[_Union[_rpc_pb2.MemberRemoveRequest, _Mapping]] = ..., member_add: _Optional[_Union[_rpc_pb2.Member, _Mapping]] = ...) -> None: ...
