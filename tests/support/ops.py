"""Short builders for etcd requests and a compact view of responses."""

from __future__ import annotations

from kvstore.pb import kv_pb2, rpc_pb2

EVERYTHING = {"key": b"\0", "range_end": b"\0"}
"""Range/DeleteRange/Watch fields that select every key."""


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that selects every key starting with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    return stripped[:-1] + bytes([stripped[-1] + 1])


def op_put(key: bytes, value: bytes = b"", **fields: object) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value, **fields))  # type: ignore[arg-type]


def op_range(key: bytes, range_end: bytes = b"", **fields: object) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(
        request_range=rpc_pb2.RangeRequest(key=key, range_end=range_end, **fields)  # type: ignore[arg-type]
    )


def op_delete(key: bytes, range_end: bytes = b"", **fields: object) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(
        request_delete_range=rpc_pb2.DeleteRangeRequest(key=key, range_end=range_end, **fields)  # type: ignore[arg-type]
    )


def op_txn(
    compare: list[rpc_pb2.Compare] | None = None,
    success: list[rpc_pb2.RequestOp] | None = None,
    failure: list[rpc_pb2.RequestOp] | None = None,
) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(
        request_txn=rpc_pb2.TxnRequest(
            compare=compare or [], success=success or [], failure=failure or []
        )
    )


def kvt(kv: kv_pb2.KeyValue) -> tuple[bytes, bytes, int, int, int, int]:
    """(key, value, create_revision, mod_revision, version, lease)."""
    return (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def keys(kvs: object) -> list[bytes]:
    return [kv.key for kv in kvs]  # type: ignore[attr-defined]


def event_view(event: kv_pb2.Event) -> tuple[str, bytes, bytes, int]:
    """(PUT|DELETE, key, value, mod_revision)."""
    return (
        kv_pb2.Event.EventType.Name(event.type),
        event.kv.key,
        event.kv.value,
        event.kv.mod_revision,
    )
