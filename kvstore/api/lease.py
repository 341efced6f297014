"""etcdserverpb.Lease: grant, revoke, keep-alive, time-to-live, list.

With auth on, etcd 3.4 checks only LeaseRevoke (WRITE on every key of the
lease): granting, keeping alive, reading a lease's TTL and keys, and listing
leases need no permission and no user. kvstore does the same.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

from kvstore.api import validate
from kvstore.api.context import Member
from kvstore.api.edge import Ctx, abort, unary
from kvstore.api.kv import check_space
from kvstore.errors import KvError
from kvstore.lease.lessor import KEEP_ALIVE, NOT_FOUND, TIME_TO_LIVE
from kvstore.pb import command_pb2, rpc_pb2, rpc_pb2_grpc

MAX_ID = (1 << 63) - 1
#: keep-alive requests of one stream served at the same time
KEEPALIVE_IN_FLIGHT = 256


class LeaseService(rpc_pb2_grpc.LeaseServicer):
    def __init__(self, member: Member) -> None:
        self._m = member

    @unary
    async def LeaseGrant(
        self, request: rpc_pb2.LeaseGrantRequest, context: Ctx
    ) -> rpc_pb2.LeaseGrantResponse:
        validate.check_lease_grant(request)
        req = rpc_pb2.LeaseGrantRequest()
        req.CopyFrom(request)
        if req.ID == 0:
            # Chosen here, before proposing, so that apply stays deterministic.
            req.ID = self._fresh_id()
        cmd = command_pb2.Command(lease_grant=req)
        await check_space(self._m, cmd)
        self._m.auth.authorize(cmd)
        resp = await self._m.proposer.propose(cmd)
        assert isinstance(resp, rpc_pb2.LeaseGrantResponse)
        self._m.identity.stamp(resp.header, self._m.proposer.term())
        return resp

    def _fresh_id(self) -> int:
        while True:
            candidate = secrets.randbelow(MAX_ID) + 1
            if self._m.lessor.remaining(candidate) is None:
                return candidate

    @unary
    async def LeaseRevoke(
        self, request: rpc_pb2.LeaseRevokeRequest, context: Ctx
    ) -> rpc_pb2.LeaseRevokeResponse:
        cmd = command_pb2.Command(lease_revoke=request)
        # revoking deletes the lease's keys: WRITE on each of them is needed
        self._m.auth.authorize(cmd, lambda lease_id: self._keys(lease_id))
        resp = await self._m.proposer.propose(cmd)
        assert isinstance(resp, rpc_pb2.LeaseRevokeResponse)
        self._m.identity.stamp(resp.header, self._m.proposer.term())
        return resp

    async def LeaseKeepAlive(
        self,
        request_iterator: AsyncIterator[rpc_pb2.LeaseKeepAliveRequest],
        context: Ctx,
    ) -> AsyncIterator[rpc_pb2.LeaseKeepAliveResponse]:
        # Requests are served concurrently (on a follower each one waits for
        # the leader's answer); responses go out as they complete, as etcd's do.
        # Bounded: when the client does not read its answers and the sends
        # wait, the stream stops reading requests once this is full, instead
        # of queueing answers without bound (as etcd's receive-then-send loop).
        done: asyncio.Queue[rpc_pb2.LeaseKeepAliveResponse | KvError | None] = asyncio.Queue(
            KEEPALIVE_IN_FLIGHT
        )
        slots = asyncio.Semaphore(KEEPALIVE_IN_FLIGHT)
        tasks: set[asyncio.Task[None]] = set()

        async def renew(lease_id: int) -> None:
            try:
                ttl = await self._keep_alive(lease_id)
            except KvError as err:
                await done.put(err)
            else:
                resp = rpc_pb2.LeaseKeepAliveResponse(header=self._m.header(), ID=lease_id, TTL=ttl)
                await done.put(resp)
            finally:
                slots.release()

        async def receive() -> None:
            try:
                async for req in request_iterator:
                    await slots.acquire()
                    task = asyncio.get_running_loop().create_task(renew(req.ID))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                while tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                await done.put(None)

        receiver = asyncio.get_running_loop().create_task(receive())
        try:
            while (item := await done.get()) is not None:
                if isinstance(item, KvError):
                    await abort(context, item)
                    return
                yield item
        finally:
            receiver.cancel()
            for task in (receiver, *tasks):
                task.cancel()
            await asyncio.gather(receiver, *tasks, return_exceptions=True)

    async def _keep_alive(self, lease_id: int) -> int:
        """Renew on the leader's lessor, the only one that expires leases (a
        new leader gives every lease a full TTL, so nothing is replicated).
        Elsewhere, or for a lease the leader may not have applied yet, the
        question goes to the leader."""
        if self._m.proposer.is_leader():
            ttl = self._m.lessor.keep_alive(lease_id)
            if ttl:
                return ttl
        ttl, _ = await self._m.proposer.ask_leader((KEEP_ALIVE, lease_id))
        return ttl

    async def _remaining(self, lease_id: int) -> tuple[int, int]:
        """(remaining, granted TTL) by the leader's lessor, or ``NOT_FOUND``."""
        question = (TIME_TO_LIVE, lease_id)
        if self._m.proposer.is_leader():
            return self._m.lessor.answer(question)
        return await self._m.proposer.ask_leader(question)

    @unary
    async def LeaseTimeToLive(
        self, request: rpc_pb2.LeaseTimeToLiveRequest, context: Ctx
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        await self._m.proposer.read_barrier()
        remaining, granted = await self._remaining(request.ID)
        resp = rpc_pb2.LeaseTimeToLiveResponse(header=self._m.header(), ID=request.ID)
        if (remaining, granted) == NOT_FOUND:
            resp.TTL = -1
            return resp
        resp.TTL, resp.grantedTTL = remaining, granted
        if request.keys:
            resp.keys.extend(await asyncio.to_thread(self._keys, request.ID))
        return resp

    def _keys(self, lease_id: int) -> list[bytes]:
        with self._m.store.read() as view:
            return view.lease_keys(lease_id)

    @unary
    async def LeaseLeases(
        self, request: rpc_pb2.LeaseLeasesRequest, context: Ctx
    ) -> rpc_pb2.LeaseLeasesResponse:
        await self._m.proposer.read_barrier()
        leases = await asyncio.to_thread(self._leases)
        return rpc_pb2.LeaseLeasesResponse(
            header=self._m.header(), leases=[rpc_pb2.LeaseStatus(ID=i) for i, _ in leases]
        )

    def _leases(self) -> list[tuple[int, int]]:
        with self._m.store.read() as view:
            return view.leases()
