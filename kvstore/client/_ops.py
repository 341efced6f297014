"""Request builders shared by the KV methods and the transaction builder.

A range is half-open, ``[key, range_end)``: an empty ``range_end`` means the single
``key``; ``range_end == b"\\0"`` means every key ≥ ``key``; ``prefix=True`` computes
the range_end covering every key that starts with ``key`` (``key`` b"" or b"\\0" with
``prefix=True`` means all keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict, Unpack

from kvstore.client._types import KeyLike, SortOrder, SortTarget, prefix_end, to_bytes
from kvstore.pb import rpc_pb2


class RangeOptions(TypedDict, total=False):
    """Options of a Range request (all optional; see etcd's RangeRequest)."""

    revision: int
    """Read at this revision; ≤ 0 means the latest."""
    limit: int
    """At most this many keys; 0 means no limit."""
    sort_order: SortOrder
    sort_target: SortTarget
    keys_only: bool
    count_only: bool
    serializable: bool
    """Answer from the member's local state, without a quorum read (may be stale)."""
    min_mod_revision: int
    max_mod_revision: int
    min_create_revision: int
    max_create_revision: int


def resolve_range(key: KeyLike, range_end: KeyLike | None, prefix: bool) -> tuple[bytes, bytes]:
    k = to_bytes(key)
    if prefix:
        if range_end is not None:
            raise ValueError("give either range_end or prefix=True, not both")
        if k in (b"", b"\0"):
            return b"\0", b"\0"
        return k, prefix_end(k)
    return k, b"" if range_end is None else to_bytes(range_end)


def range_request(
    key: KeyLike,
    range_end: KeyLike | None = None,
    *,
    prefix: bool = False,
    **options: Unpack[RangeOptions],
) -> rpc_pb2.RangeRequest:
    unknown = options.keys() - RangeOptions.__annotations__.keys()
    if unknown:
        # **options would otherwise drop a misspelt one silently (rev= for
        # revision= read the latest state instead of the one asked for)
        raise TypeError(f"unknown range option(s): {', '.join(sorted(unknown))}")
    k, end = resolve_range(key, range_end, prefix)
    return rpc_pb2.RangeRequest(
        key=k,
        range_end=end,
        limit=options.get("limit", 0),
        revision=options.get("revision", 0),
        sort_order=int(options.get("sort_order", SortOrder.NONE)),  # type: ignore[arg-type]
        sort_target=int(options.get("sort_target", SortTarget.KEY)),  # type: ignore[arg-type]
        serializable=options.get("serializable", False),
        keys_only=options.get("keys_only", False),
        count_only=options.get("count_only", False),
        min_mod_revision=options.get("min_mod_revision", 0),
        max_mod_revision=options.get("max_mod_revision", 0),
        min_create_revision=options.get("min_create_revision", 0),
        max_create_revision=options.get("max_create_revision", 0),
    )


def put_request(
    key: KeyLike,
    value: KeyLike = b"",
    *,
    lease: int = 0,
    prev_kv: bool = False,
    ignore_value: bool = False,
    ignore_lease: bool = False,
) -> rpc_pb2.PutRequest:
    return rpc_pb2.PutRequest(
        key=to_bytes(key),
        value=to_bytes(value),
        lease=lease,
        prev_kv=prev_kv,
        ignore_value=ignore_value,
        ignore_lease=ignore_lease,
    )


def delete_request(
    key: KeyLike,
    range_end: KeyLike | None = None,
    *,
    prefix: bool = False,
    prev_kv: bool = False,
) -> rpc_pb2.DeleteRangeRequest:
    k, end = resolve_range(key, range_end, prefix)
    return rpc_pb2.DeleteRangeRequest(key=k, range_end=end, prev_kv=prev_kv)


@dataclass(frozen=True, slots=True)
class RangeOp:
    request: rpc_pb2.RangeRequest

    def to_pb(self) -> rpc_pb2.RequestOp:
        return rpc_pb2.RequestOp(request_range=self.request)


@dataclass(frozen=True, slots=True)
class PutOp:
    request: rpc_pb2.PutRequest

    def to_pb(self) -> rpc_pb2.RequestOp:
        return rpc_pb2.RequestOp(request_put=self.request)


@dataclass(frozen=True, slots=True)
class DeleteOp:
    request: rpc_pb2.DeleteRangeRequest

    def to_pb(self) -> rpc_pb2.RequestOp:
        return rpc_pb2.RequestOp(request_delete_range=self.request)


def get(
    key: KeyLike,
    range_end: KeyLike | None = None,
    *,
    prefix: bool = False,
    **options: Unpack[RangeOptions],
) -> RangeOp:
    """A Range operation for a transaction."""
    return RangeOp(range_request(key, range_end, prefix=prefix, **options))


def put(
    key: KeyLike,
    value: KeyLike = b"",
    *,
    lease: int = 0,
    prev_kv: bool = False,
    ignore_value: bool = False,
    ignore_lease: bool = False,
) -> PutOp:
    """A Put operation for a transaction."""
    return PutOp(
        put_request(
            key,
            value,
            lease=lease,
            prev_kv=prev_kv,
            ignore_value=ignore_value,
            ignore_lease=ignore_lease,
        )
    )


def delete(
    key: KeyLike,
    range_end: KeyLike | None = None,
    *,
    prefix: bool = False,
    prev_kv: bool = False,
) -> DeleteOp:
    """A DeleteRange operation for a transaction."""
    return DeleteOp(delete_request(key, range_end, prefix=prefix, prev_kv=prev_kv))
