"""etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact."""

from __future__ import annotations

import asyncio

from kvstore.api import validate
from kvstore.api.context import Member
from kvstore.api.edge import Ctx, unary
from kvstore.errors import NoSpaceError
from kvstore.pb import command_pb2, rpc_pb2, rpc_pb2_grpc
from kvstore.raft import kvops
from kvstore.storage.ranges import execute_range, execute_small_range

# A range over at most this many keys is read on the event loop (all 4,096
# KeyValues of 256 bytes take ~5 ms here); a bigger one on a worker thread, so
# that it does not hold up other calls for long. Handing a read to a thread
# costs more than such a read: both threads then take turns at the GIL.
INLINE_RANGE_KEYS = 4096


async def check_space(member: Member, cmd: command_pb2.Command) -> None:
    """As etcd: with the NOSPACE alarm on, what needs space is refused; a member
    whose db would pass the quota raises the alarm (cluster-wide, through the
    log) and refuses. Apply refuses too, by the alarm, so members agree."""
    if not kvops.needs_space(cmd):
        return
    if member.store.nospace_alarm:
        raise NoSpaceError()
    if member.store.backend.over_quota(cmd.ByteSize()):
        alarm = rpc_pb2.AlarmRequest(
            action=rpc_pb2.AlarmRequest.ACTIVATE,
            memberID=member.identity.member_id,
            alarm=rpc_pb2.NOSPACE,
        )
        await member.proposer.propose(command_pb2.Command(alarm=alarm))
        raise NoSpaceError()


class KVService(rpc_pb2_grpc.KVServicer):
    def __init__(self, member: Member) -> None:
        self._m = member

    async def _propose(self, cmd: command_pb2.Command) -> object:
        if cmd.WhichOneof("op") != "txn" or validate.txn_writes(cmd.txn):
            # as in etcd, only what changes the store is limited in size
            validate.check_size(cmd.ByteSize(), self._m.config.max_request_bytes)
        await check_space(self._m, cmd)
        self._m.auth.authorize(cmd)
        return await self._m.proposer.propose(cmd)

    def _stamp(self, resp: object) -> None:
        self._m.identity.stamp(resp.header, self._m.proposer.term())  # type: ignore[attr-defined]

    @unary
    async def Range(self, request: rpc_pb2.RangeRequest, context: Ctx) -> rpc_pb2.RangeResponse:
        validate.check_range(request)
        if request.serializable:
            await self._m.proposer.settled()
        else:
            await self._m.proposer.read_barrier()
        # checked after the barrier: a permission revoked before this read is seen
        self._m.auth.state().check_range(self._m.auth.user(), request)
        with self._m.store.read() as view:
            resp = execute_small_range(view, request, INLINE_RANGE_KEYS)
        if resp is None:
            resp = await asyncio.to_thread(self._range, request)
        self._stamp(resp)
        return resp

    def _range(self, request: rpc_pb2.RangeRequest) -> rpc_pb2.RangeResponse:
        with self._m.store.read() as view:
            return execute_range(view, request)

    @unary
    async def Put(self, request: rpc_pb2.PutRequest, context: Ctx) -> rpc_pb2.PutResponse:
        validate.check_put(request)
        resp = await self._propose(command_pb2.Command(put=request))
        assert isinstance(resp, rpc_pb2.PutResponse)
        self._stamp(resp)
        return resp

    @unary
    async def DeleteRange(
        self, request: rpc_pb2.DeleteRangeRequest, context: Ctx
    ) -> rpc_pb2.DeleteRangeResponse:
        validate.check_delete(request)
        resp = await self._propose(command_pb2.Command(delete_range=request))
        assert isinstance(resp, rpc_pb2.DeleteRangeResponse)
        self._stamp(resp)
        return resp

    @unary
    async def Txn(self, request: rpc_pb2.TxnRequest, context: Ctx) -> rpc_pb2.TxnResponse:
        validate.check_txn(request, self._m.config.max_txn_ops)
        # Read-only txns go through the log too: their compares and reads are
        # then linearizable, and they leave the revision unchanged.
        resp = await self._propose(command_pb2.Command(txn=request))
        assert isinstance(resp, rpc_pb2.TxnResponse)
        self._stamp(resp)
        return resp

    @unary
    async def Compact(
        self, request: rpc_pb2.CompactionRequest, context: Ctx
    ) -> rpc_pb2.CompactionResponse:
        resp = await self._propose(command_pb2.Command(compaction=request))
        assert isinstance(resp, rpc_pb2.CompactionResponse)
        if request.physical:
            await asyncio.to_thread(self._m.store.wait_compacted, request.revision)
        self._stamp(resp)
        return resp
