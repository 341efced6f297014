"""etcdserverpb.Maintenance: status, alarms, defragment, hashes, snapshot."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from kvstore.api.context import Member
from kvstore.api.edge import Ctx, abort, unary
from kvstore.api.membership import Membership
from kvstore.errors import KvError, MaintenanceAuthError, UnsupportedError
from kvstore.pb import command_pb2, rpc_pb2, rpc_pb2_grpc
from kvstore.storage.ranges import check_revision

#: The etcd API version we speak (Status.version); etcdctl shows it.
ETCD_API_VERSION = "3.4.0"
SNAPSHOT_CHUNK = 1 << 20
SNAPSHOT_ALIGN = 512  # etcd's snapshot files are 512-aligned, then a sha256 follows


class MaintenanceService(rpc_pb2_grpc.MaintenanceServicer):
    def __init__(self, member: Member, membership: Membership) -> None:
        self._m = member
        self._membership = membership

    @unary
    async def Status(self, request: rpc_pb2.StatusRequest, context: Ctx) -> rpc_pb2.StatusResponse:
        await self._m.proposer.settled()
        raft = self._m.proposer.status()
        backend = self._m.store.backend
        resp = rpc_pb2.StatusResponse(
            header=self._m.header(),
            version=ETCD_API_VERSION,
            dbSize=backend.file_size(),
            dbSizeInUse=backend.size_in_use(),
            leader=raft.leader_id,
            raftIndex=raft.commit_index,
            raftTerm=raft.term,
            raftAppliedIndex=raft.applied_index,
            isLearner=raft.learner,
            dbSizeQuota=self._m.config.storage.quota_bytes,
        )
        if self._m.store.nospace_alarm:
            resp.errors.append(f"memberID:{self._m.identity.member_id} alarm:NOSPACE ")
        return resp

    @unary
    async def Alarm(self, request: rpc_pb2.AlarmRequest, context: Ctx) -> rpc_pb2.AlarmResponse:
        # as in etcd 3.4: anyone may list and disarm alarms, with auth on
        if request.action != rpc_pb2.AlarmRequest.GET:
            result = await self._m.proposer.propose(command_pb2.Command(alarm=request))
            assert isinstance(result, rpc_pb2.AlarmResponse)
        resp = rpc_pb2.AlarmResponse(header=self._m.header())
        if self._m.store.nospace_alarm and request.alarm in (rpc_pb2.NONE, rpc_pb2.NOSPACE):
            resp.alarms.append(
                rpc_pb2.AlarmMember(memberID=self._m.identity.member_id, alarm=rpc_pb2.NOSPACE)
            )
        return resp

    def _check_admin(self) -> None:
        """As etcd 3.4's maintenance service: admins only, refused with the auth
        package's own error (code Unknown, "auth: permission denied")."""
        reason = self._m.auth.state().admin_error(self._m.auth.user())
        if reason is not None:
            raise MaintenanceAuthError(reason)

    @unary
    async def Defragment(
        self, request: rpc_pb2.DefragmentRequest, context: Ctx
    ) -> rpc_pb2.DefragmentResponse:
        self._check_admin()
        await asyncio.to_thread(self._m.store.backend.defragment)
        return rpc_pb2.DefragmentResponse(header=self._m.header())

    @unary
    async def Hash(self, request: rpc_pb2.HashRequest, context: Ctx) -> rpc_pb2.HashResponse:
        self._check_admin()
        await self._m.proposer.settled()
        value, _ = await asyncio.to_thread(self._hash, 0)
        return rpc_pb2.HashResponse(header=self._m.header(), hash=value)

    @unary
    async def HashKV(self, request: rpc_pb2.HashKVRequest, context: Ctx) -> rpc_pb2.HashKVResponse:
        self._check_admin()
        await self._m.proposer.settled()
        value, compacted = await asyncio.to_thread(self._hash, request.revision)
        return rpc_pb2.HashKVResponse(
            header=self._m.header(),
            hash=value,
            compact_revision=compacted or -1,  # etcd: -1 when never compacted
            hash_revision=request.revision or self._m.store.revision,
        )

    def _hash(self, revision: int) -> tuple[int, int]:
        with self._m.store.read() as view:
            rev = revision if revision > 0 else view.revision
            check_revision(view, rev)
            return view.hash_kv(rev), view.compacted

    async def Snapshot(
        self, request: rpc_pb2.SnapshotRequest, context: Ctx
    ) -> AsyncIterator[rpc_pb2.SnapshotResponse]:
        """Stream a consistent copy of the LMDB file, then its sha256 (as etcd does)."""
        try:
            self._check_admin()
        except KvError as err:
            await abort(context, err)
            return
        await self._m.proposer.settled()
        header = self._m.header()
        with tempfile.TemporaryDirectory(prefix="kvstore-snapshot-") as tmp:
            path = Path(tmp) / "snapshot.db"
            try:
                size = await asyncio.to_thread(self._copy, path)
            except KvError as err:
                await abort(context, err)
                return
            digest = hashlib.sha256()
            remaining = size + digest.digest_size
            with path.open("rb") as f:
                while True:
                    blob = await asyncio.to_thread(f.read, SNAPSHOT_CHUNK)
                    if not blob:
                        break
                    digest.update(blob)
                    remaining -= len(blob)
                    yield rpc_pb2.SnapshotResponse(
                        header=header, remaining_bytes=remaining, blob=blob
                    )
            yield rpc_pb2.SnapshotResponse(header=header, remaining_bytes=0, blob=digest.digest())

    def _copy(self, path: Path) -> int:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            self._m.store.backend.copy_to_fd(fd, compact=True)
            size = os.fstat(fd).st_size
            pad = (-size) % SNAPSHOT_ALIGN
            if pad:  # LMDB ignores bytes past its last page
                os.write(fd, b"\0" * pad)
            return size + pad
        finally:
            os.close(fd)

    @unary
    async def MoveLeader(
        self, request: rpc_pb2.MoveLeaderRequest, context: Ctx
    ) -> rpc_pb2.MoveLeaderResponse:
        # admins only; etcd 3.4 checks nothing here (see README, compatibility)
        self._m.auth.state().check_admin(self._m.auth.user())
        if request.targetID == self._m.identity.member_id and self._m.proposer.is_leader():
            return rpc_pb2.MoveLeaderResponse(header=self._m.header())
        async with self._membership.change:
            await self._membership.move_leader(request.targetID)
        return rpc_pb2.MoveLeaderResponse(header=self._m.header())

    @unary
    async def Downgrade(
        self, request: rpc_pb2.DowngradeRequest, context: Ctx
    ) -> rpc_pb2.DowngradeResponse:
        raise UnsupportedError("Downgrade")
