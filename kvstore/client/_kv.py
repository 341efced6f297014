"""Key-value calls: range, put, delete, compact, transactions and paging."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Unpack

from kvstore.client._connection import Connection
from kvstore.client._ops import (
    RangeOptions,
    delete_request,
    put_request,
    range_request,
    resolve_range,
)
from kvstore.client._txn import Txn
from kvstore.client._types import (
    DeleteResult,
    KeyLike,
    PutResult,
    RangeResult,
    SortOrder,
    SortTarget,
    TxnResult,
)
from kvstore.pb import rpc_pb2


class KVMixin:
    """The KV service. Reads fail over freely; writes never repeat blindly."""

    _conn: Connection

    async def range(
        self,
        key: KeyLike,
        range_end: KeyLike | None = None,
        *,
        prefix: bool = False,
        **options: Unpack[RangeOptions],
    ) -> RangeResult:
        """Keys in ``[key, range_end)`` (see :mod:`kvstore.client._ops` for the forms)."""
        request = range_request(key, range_end, prefix=prefix, **options)
        response = await self._conn.call(lambda s: s.kv.Range, request, mutation=False)
        return RangeResult.from_pb(response)

    async def get(self, key: KeyLike, **options: Unpack[RangeOptions]) -> RangeResult:
        """The single ``key``; ``result.kv`` is None when it does not exist."""
        return await self.range(key, **options)

    async def get_prefix(self, prefix: KeyLike, **options: Unpack[RangeOptions]) -> RangeResult:
        return await self.range(prefix, prefix=True, **options)

    async def pages(
        self,
        key: KeyLike,
        range_end: KeyLike | None = None,
        *,
        prefix: bool = False,
        page_size: int = 500,
        **options: Unpack[RangeOptions],
    ) -> AsyncIterator[RangeResult]:
        """Yield a big range page by page, every page read at the first page's revision.

        Like Kubernetes' list: ``limit=page_size``, the next page starts at the last
        key + b"\\0", and stops when ``more`` is false. A compaction of the pinned
        revision between pages raises :class:`CompactedError` (re-list).
        """
        if page_size <= 0:
            raise ValueError("page_size must be positive")
        start, end = resolve_range(key, range_end, prefix)
        opts: RangeOptions = {**options, "limit": page_size}
        while True:
            page = await self.range(start, end, **opts)
            yield page
            if not page.more or not page.kvs:
                return
            if opts.get("revision", 0) <= 0:
                # Pin at the first page's revision (later headers show the current one).
                opts["revision"] = page.header.revision
            start = page.kvs[-1].key + b"\0"

    async def put(
        self,
        key: KeyLike,
        value: KeyLike = b"",
        *,
        lease: int = 0,
        prev_kv: bool = False,
        ignore_value: bool = False,
        ignore_lease: bool = False,
    ) -> PutResult:
        request = put_request(
            key,
            value,
            lease=lease,
            prev_kv=prev_kv,
            ignore_value=ignore_value,
            ignore_lease=ignore_lease,
        )
        response = await self._conn.call(lambda s: s.kv.Put, request, mutation=True)
        return PutResult.from_pb(response)

    async def delete(
        self,
        key: KeyLike,
        range_end: KeyLike | None = None,
        *,
        prefix: bool = False,
        prev_kv: bool = False,
    ) -> DeleteResult:
        """Delete ``key``, or the range ``[key, range_end)``, or every key under a prefix."""
        request = delete_request(key, range_end, prefix=prefix, prev_kv=prev_kv)
        response = await self._conn.call(lambda s: s.kv.DeleteRange, request, mutation=True)
        return DeleteResult.from_pb(response)

    async def delete_prefix(self, prefix: KeyLike, *, prev_kv: bool = False) -> DeleteResult:
        return await self.delete(prefix, prefix=True, prev_kv=prev_kv)

    async def compact(self, revision: int, *, physical: bool = False) -> int:
        """Discard history before ``revision``; returns the response header revision."""
        request = rpc_pb2.CompactionRequest(revision=revision, physical=physical)
        response = await self._conn.call(lambda s: s.kv.Compact, request, mutation=True)
        return int(response.header.revision)

    async def _commit(self, request: rpc_pb2.TxnRequest) -> TxnResult:
        # A txn with only reads in both branches is safe to retry elsewhere.
        mutation = _has_writes(request)
        response = await self._conn.call(lambda s: s.kv.Txn, request, mutation=mutation)
        return TxnResult.from_pb(response)

    def txn(self) -> Txn[Awaitable[TxnResult]]:
        """Start a transaction: ``await c.txn().if_(...).then(...).else_(...).commit()``."""
        return Txn(self._commit)


def _has_writes(request: rpc_pb2.TxnRequest) -> bool:
    for op in [*request.success, *request.failure]:
        which = op.WhichOneof("request")
        if which in ("request_put", "request_delete_range"):
            return True
        if which == "request_txn" and _has_writes(op.request_txn):
            return True
    return False


__all__ = ["KVMixin", "SortOrder", "SortTarget"]
