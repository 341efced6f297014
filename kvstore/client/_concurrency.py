"""Sessions, locks and elections with etcd's clientv3/concurrency semantics.

They interoperate with ``etcdctl lock NAME`` and ``etcdctl elect NAME`` because they
use the same keys and the same protocol:

* A :class:`Session` is a lease kept alive in the background; every key a lock or
  election writes is attached to it, so a crashed holder's keys vanish with its lease.
* A lock or election named ``NAME`` owns the keys under ``NAME + "/"``; a
  participant's key is ``NAME/<lease id in lowercase hex>``.
* Ordering is by create revision. To acquire, a participant creates its key (or
  finds it from an earlier attempt of the same session) and then waits until no key
  under the prefix has a smaller create revision: it repeatedly looks up the key
  with the greatest create revision below its own and waits for that key's delete.
  Worked example: keys created at revisions 10 (A), 12 (B), 15 (C). C waits for B's
  delete; when B leaves at 20, C looks again, finds A (10) and waits for it; when A
  leaves, nothing below 15 remains and C holds the lock. The fencing token is C's
  create revision, 15.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

from kvstore.client._errors import (
    ClientError,
    LeaseExpiredError,
    LeaseNotFoundError,
    NoElectedLeaderError,
    NotLeaderError,
)
from kvstore.client._lease import KeepAlive
from kvstore.client._ops import RangeOp, delete, get, put
from kvstore.client._txn import Compare
from kvstore.client._types import (
    DeleteResult,
    EventType,
    KeyLike,
    KeyValue,
    PutResult,
    RangeResult,
    SortOrder,
    SortTarget,
    TxnResult,
    to_bytes,
)

if TYPE_CHECKING:
    from kvstore.client._client import Client

T = TypeVar("T")


class Session:
    """A lease kept alive until ``aclose()``, which revokes it (deleting its keys)."""

    def __init__(self, client: Client, *, ttl: int = 60, lease_id: int = 0) -> None:
        self.client = client
        self.ttl = ttl
        self._requested_id = lease_id
        self.lease_id = 0
        self._keepalive: KeepAlive | None = None

    async def open(self) -> Self:
        if self._requested_id:
            self.lease_id = self._requested_id
        else:
            self.lease_id = (await self.client.grant(self.ttl)).id
        self._keepalive = await self.client.keep_alive(self.lease_id).start()
        return self

    @property
    def keepalive(self) -> KeepAlive:
        if self._keepalive is None:
            raise ClientError("session is not open")
        return self._keepalive

    async def aclose(self) -> None:
        keepalive, self._keepalive = self._keepalive, None
        if keepalive is None:
            return
        await keepalive.aclose()
        with contextlib.suppress(LeaseNotFoundError):
            await self.client.revoke(self.lease_id)

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` unless the session's lease is lost first."""
        keepalive = self.keepalive
        task = asyncio.ensure_future(awaitable)
        lost = asyncio.ensure_future(keepalive.lost.wait())
        try:
            await asyncio.wait([task, lost], return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task.done() and not task.cancelled():
            return task.result()
        raise keepalive.error or LeaseExpiredError(self.lease_id)


def _first_created(prefix: bytes) -> RangeOp:
    """The key under ``prefix`` with the smallest create revision (the owner)."""
    return get(
        prefix, prefix=True, sort_target=SortTarget.CREATE, sort_order=SortOrder.ASCEND, limit=1
    )


def _kvs(result: RangeResult | PutResult | DeleteResult | TxnResult) -> list[KeyValue]:
    if not isinstance(result, RangeResult):
        raise TypeError(f"expected a range result, got {type(result).__name__}")
    return result.kvs


async def _wait_delete(client: Client, key: bytes, revision: int) -> None:
    """Return once ``key`` is deleted at a revision after ``revision``."""
    async with client.watch(key, start_revision=revision + 1) as watch:
        async for event in watch:
            if event.type is EventType.DELETE:
                return


async def wait_deletes(client: Client, prefix: bytes, max_create_revision: int) -> None:
    """Wait until no key under ``prefix`` has create revision ≤ ``max_create_revision``."""
    while True:
        result = await client.get_prefix(
            prefix,
            sort_target=SortTarget.CREATE,
            sort_order=SortOrder.DESCEND,
            limit=1,
            max_create_revision=max_create_revision,
        )
        if not result.kvs:
            return
        await _wait_delete(client, result.kvs[0].key, result.header.revision)


class Lock:
    """A fair distributed mutex, compatible with ``etcdctl lock NAME``.

    ``async with Lock(session, "name") as lock: lock.revision`` — the revision is
    the fencing token (our key's create revision).
    """

    def __init__(self, session: Session, name: KeyLike) -> None:
        self.session = session
        self.prefix = to_bytes(name) + b"/"
        self.key = b""
        self.revision = 0

    async def _enqueue(self) -> bool:
        """Create (or find) our key; True when it is already the owner."""
        client = self.session.client
        lease = self.session.lease_id
        key = self.prefix + f"{lease:x}".encode()
        owner = _first_created(self.prefix)
        result = await (
            client.txn()
            .if_(Compare.create(key) == 0)
            .then(put(key, b"", lease=lease), owner)
            .else_(get(key), owner)
            .commit()
        )
        if result.succeeded:
            my_revision = result.revision
        else:
            mine = _kvs(result.responses[0])
            if not mine:
                raise LeaseExpiredError(lease, "lock key vanished (session expired)")
            my_revision = mine[0].create_revision
        self.key, self.revision = key, my_revision
        first = _kvs(result.responses[1])
        return bool(first) and first[0].create_revision == my_revision

    async def acquire(self) -> int:
        """Block until held; returns the fencing revision."""
        if await self._enqueue():
            return self.revision
        client = self.session.client
        try:
            await self.session.guard(wait_deletes(client, self.prefix, self.revision - 1))
            if (await client.get(self.key)).kv is None:
                raise LeaseExpiredError(
                    self.session.lease_id, "lock key deleted while waiting (session expired)"
                )
        except BaseException:
            await asyncio.shield(self._delete_key())
            raise
        return self.revision

    async def try_acquire(self) -> bool:
        """Take the lock only if it is free right now; never waits."""
        if await self._enqueue():
            return True
        await self._delete_key()
        return False

    async def _delete_key(self) -> None:
        if self.key:
            with contextlib.suppress(ClientError):
                await self.session.client.delete(self.key)
            self.key, self.revision = b"", 0

    async def release(self) -> None:
        await self._delete_key()

    async def __aenter__(self) -> Self:
        await self.acquire()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.release()


class Election:
    """Leader election, compatible with ``etcdctl elect NAME [PROPOSAL]``."""

    def __init__(self, session: Session, name: KeyLike) -> None:
        self.session = session
        self.prefix = to_bytes(name) + b"/"
        self.key = b""
        self.revision = 0

    async def campaign(self, value: KeyLike) -> None:
        """Block until elected; then ``value`` is the leader's proclamation."""
        client = self.session.client
        lease = self.session.lease_id
        key = self.prefix + f"{lease:x}".encode()
        data = to_bytes(value)
        result = await (
            client.txn()
            .if_(Compare.create(key) == 0)
            .then(put(key, data, lease=lease))
            .else_(get(key))
            .commit()
        )
        revision = result.revision
        self.key = key
        if not result.succeeded:
            existing = _kvs(result.responses[0])
            if not existing:
                raise LeaseExpiredError(lease, "election key vanished (session expired)")
            revision = existing[0].create_revision
            self.revision = revision
            if existing[0].value != data:
                await self.proclaim(data)
        self.revision = revision
        try:
            await self.session.guard(wait_deletes(client, self.prefix, revision - 1))
        except BaseException:
            await asyncio.shield(self._delete_key())
            raise

    async def proclaim(self, value: KeyLike) -> None:
        """Change the leader's value without an election; only the leader may."""
        if not self.key:
            raise NotLeaderError("election: not leader")
        client = self.session.client
        result = await (
            client.txn()
            .if_(Compare.create(self.key) == self.revision)
            .then(put(self.key, value, lease=self.session.lease_id))
            .commit()
        )
        if not result.succeeded:
            self.key, self.revision = b"", 0
            raise NotLeaderError("election: not leader")

    async def resign(self) -> None:
        """Give up leadership (or the candidacy); a no-op when not campaigning."""
        if not self.key:
            return
        client = self.session.client
        await (
            client.txn()
            .if_(Compare.create(self.key) == self.revision)
            .then(delete(self.key))
            .commit()
        )
        self.key, self.revision = b"", 0

    async def _delete_key(self) -> None:
        with contextlib.suppress(ClientError):
            await self.resign()

    async def leader(self) -> KeyValue:
        """The current leader's key and value; :class:`NoElectedLeaderError` if none."""
        client = self.session.client
        result = await client.get_prefix(
            self.prefix, sort_target=SortTarget.CREATE, sort_order=SortOrder.ASCEND, limit=1
        )
        if not result.kvs:
            raise NoElectedLeaderError("election: no leader")
        return result.kvs[0]

    async def observe(self) -> AsyncGenerator[KeyValue, None]:
        """Yield the leader each time it changes (new leader or new proclamation)."""
        client = self.session.client
        while True:
            result = await client.get_prefix(
                self.prefix, sort_target=SortTarget.CREATE, sort_order=SortOrder.ASCEND, limit=1
            )
            current: KeyValue | None = None
            if result.kvs:
                current = result.kvs[0]
                revision = result.header.revision
            else:
                async with client.watch(
                    self.prefix, prefix=True, start_revision=result.header.revision + 1
                ) as watch:
                    async for event in watch:
                        if event.type is EventType.PUT:
                            current = event.kv
                            revision = event.kv.mod_revision
                            break
            if current is None:
                continue
            yield current
            async with client.watch(current.key, start_revision=revision + 1) as watch:
                async for event in watch:
                    if event.type is EventType.DELETE:
                        break
                    if event.kv.value != current.value:
                        current = event.kv
                        yield event.kv
