"""Copy a range of keys from one cluster to another and keep the copy current.

As etcd's mirror syncer (what ``etcdctl make-mirror`` runs): first every key
under the prefix as of one revision, read page by page at that revision; then
a watch from the next revision, each revision's events written at the
destination in one transaction (a revision with more operations than a
transaction takes is split). Keys are renamed from the source prefix to the
destination prefix. Leases are not carried over, as in etcd: a key written
with a lease at the source is a plain key at the destination.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kvstore.client._client import Client
from kvstore.client._ops import DeleteOp, PutOp, delete, put
from kvstore.client._types import EventType, KeyLike, to_bytes

#: operations in one transaction at the destination (etcd's default
#: --max-txn-ops is 128)
TXN_OPS = 64
#: bytes of keys and values in one transaction, below etcd's default 1.5 MiB
#: request limit (a single larger value goes alone)
TXN_BYTES = 1 << 20
#: keys read from the source per page of the first copy
PAGE_SIZE = 1000

Op = PutOp | DeleteOp


@dataclass
class Mirror:
    """``await mirror.copy()`` then ``await mirror.follow(revision)``;
    ``mirror.count`` is the keys and events written so far."""

    source: Client
    dest: Client
    prefix: bytes
    dest_prefix: bytes
    count: int = 0
    #: called with ``count`` after every transaction at the destination
    on_progress: Callable[[int], None] | None = None

    @classmethod
    def between(
        cls, source: Client, dest: Client, prefix: KeyLike, dest_prefix: KeyLike | None = None
    ) -> Mirror:
        """``dest_prefix`` None: the keys keep their names."""
        src = to_bytes(prefix)
        return cls(source, dest, src, src if dest_prefix is None else to_bytes(dest_prefix))

    def rename(self, key: bytes) -> bytes:
        return self.dest_prefix + key[len(self.prefix) :]

    async def copy(self) -> int:
        """Write every key under the prefix as of one revision; that revision."""
        revision = 0
        async for page in self.source.pages(self.prefix, prefix=True, page_size=PAGE_SIZE):
            revision = revision or page.header.revision
            await self._write([put(self.rename(kv.key), kv.value) for kv in page.kvs])
        return revision

    async def follow(self, revision: int) -> None:
        """Apply every change after ``revision``, until cancelled; a compacted
        ``revision`` raises ``CompactedError`` (copy again)."""
        watch = self.source.watch(self.prefix, prefix=True, start_revision=revision + 1)
        async with watch:
            async for response in watch.responses():
                ops: list[Op] = []
                at = 0
                for event in response.events:
                    if ops and event.revision != at:
                        await self._write(ops)
                        ops = []
                    at = event.revision
                    key = self.rename(event.key)
                    is_put = event.type is EventType.PUT
                    ops.append(put(key, event.kv.value) if is_put else delete(key))
                await self._write(ops)

    async def _write(self, ops: list[Op]) -> None:
        for chunk in _chunks(ops):
            await self.dest.txn().then(*chunk).commit()
            self.count += len(chunk)
            if self.on_progress is not None:
                self.on_progress(self.count)


def _size(op: Op) -> int:
    if isinstance(op, PutOp):
        return len(op.request.key) + len(op.request.value)
    return len(op.request.key)


def _chunks(ops: list[Op]) -> Iterator[list[Op]]:
    chunk: list[Op] = []
    size = 0
    for op in ops:
        if chunk and (len(chunk) == TXN_OPS or size + _size(op) > TXN_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(op)
        size += _size(op)
    if chunk:
        yield chunk
