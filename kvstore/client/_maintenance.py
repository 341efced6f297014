"""Cluster membership and maintenance: members, status, alarms, defragment,
snapshot, move-leader, hash-kv.

Calls aimed at one member (status, defragment, hash_kv, snapshot) take an optional
``endpoint``; without it they go to the client's current endpoint with failover.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped, unused-ignore]
import grpc.aio  # type: ignore[import-untyped, unused-ignore]

from kvstore.client._connection import Connection, make_config
from kvstore.client._errors import translate
from kvstore.client._types import Alarm, AlarmType, HashKV, Header, Member, Status
from kvstore.pb import rpc_pb2

SnapshotProgress = Callable[[int, int], None]
"""Called after each chunk with (bytes written so far, bytes the server says remain)."""


class MaintenanceMixin:
    _conn: Connection

    @contextlib.asynccontextmanager
    async def _one_member(self, endpoint: str | None) -> AsyncIterator[Connection]:
        """A connection pinned to ``endpoint`` (or the client's own when None)."""
        if endpoint is None:
            yield self._conn
            return
        base = self._conn.config
        conn = Connection(
            make_config(
                [endpoint],
                dial_timeout=base.dial_timeout,
                request_timeout=base.request_timeout,
                ca_cert=base.ca_cert,
                cert=base.cert,
                key=base.key,
                token=self._conn.metadata()[0][1] if self._conn.metadata() else None,
            )
        )
        try:
            yield conn
        finally:
            await conn.aclose()

    # --- cluster ---------------------------------------------------------------

    async def member_list(self) -> list[Member]:
        request = rpc_pb2.MemberListRequest()
        r = await self._conn.call(lambda s: s.cluster.MemberList, request, mutation=False)
        return [Member.from_pb(m) for m in r.members]

    async def member_add(self, peer_urls: list[str], *, is_learner: bool = False) -> Member:
        request = rpc_pb2.MemberAddRequest(peerURLs=peer_urls, isLearner=is_learner)
        r = await self._conn.call(lambda s: s.cluster.MemberAdd, request, mutation=True)
        return Member.from_pb(r.member)

    async def member_remove(self, member_id: int) -> list[Member]:
        request = rpc_pb2.MemberRemoveRequest(ID=member_id)
        r = await self._conn.call(lambda s: s.cluster.MemberRemove, request, mutation=True)
        return [Member.from_pb(m) for m in r.members]

    async def member_promote(self, member_id: int) -> list[Member]:
        """Make the learner ``member_id`` a voter (once it holds the leader's log)."""
        request = rpc_pb2.MemberPromoteRequest(ID=member_id)
        r = await self._conn.call(lambda s: s.cluster.MemberPromote, request, mutation=True)
        return [Member.from_pb(m) for m in r.members]

    async def member_update(self, member_id: int, peer_urls: list[str]) -> list[Member]:
        request = rpc_pb2.MemberUpdateRequest(ID=member_id, peerURLs=peer_urls)
        r = await self._conn.call(lambda s: s.cluster.MemberUpdate, request, mutation=True)
        return [Member.from_pb(m) for m in r.members]

    # --- maintenance -----------------------------------------------------------

    async def status(self, endpoint: str | None = None) -> Status:
        async with self._one_member(endpoint) as conn:
            r = await conn.call(
                lambda s: s.maintenance.Status, rpc_pb2.StatusRequest(), mutation=False
            )
        return Status(
            header=Header.from_pb(r.header),
            version=r.version,
            db_size=r.dbSize,
            db_size_in_use=r.dbSizeInUse,
            leader=r.leader,
            raft_index=r.raftIndex,
            raft_term=r.raftTerm,
            raft_applied_index=r.raftAppliedIndex,
            errors=list(r.errors),
            is_learner=r.isLearner,
        )

    async def _alarm(
        self, action: int, member_id: int = 0, alarm: AlarmType = AlarmType.NONE
    ) -> list[Alarm]:
        request = rpc_pb2.AlarmRequest(
            action=action,  # type: ignore[arg-type]
            memberID=member_id,
            alarm=int(alarm),  # type: ignore[arg-type]
        )
        mutation = action != rpc_pb2.AlarmRequest.GET
        r = await self._conn.call(lambda s: s.maintenance.Alarm, request, mutation=mutation)
        return [Alarm(a.memberID, AlarmType(a.alarm)) for a in r.alarms]

    async def alarms(self) -> list[Alarm]:
        """Active alarms (e.g. NOSPACE) on any member."""
        return await self._alarm(rpc_pb2.AlarmRequest.GET)

    async def alarm_disarm(
        self, member_id: int = 0, alarm: AlarmType = AlarmType.NONE
    ) -> list[Alarm]:
        """Clear an alarm (member 0 and NONE: every alarm); returns the ones cleared."""
        return await self._alarm(rpc_pb2.AlarmRequest.DEACTIVATE, member_id, alarm)

    async def defragment(self, endpoint: str | None = None) -> None:
        async with self._one_member(endpoint) as conn:
            await conn.call(
                lambda s: s.maintenance.Defragment,
                rpc_pb2.DefragmentRequest(),
                mutation=False,
                timeout=max(conn.config.request_timeout, 60.0),
            )

    async def hash_kv(self, revision: int = 0, endpoint: str | None = None) -> HashKV:
        """Hash of the MVCC keyspace up to ``revision`` (0 = latest), for consistency checks."""
        async with self._one_member(endpoint) as conn:
            r = await conn.call(
                lambda s: s.maintenance.HashKV,
                rpc_pb2.HashKVRequest(revision=revision),
                mutation=False,
            )
        return HashKV(Header.from_pb(r.header), r.hash, r.compact_revision)

    async def move_leader(self, target_member_id: int) -> None:
        """Hand leadership to ``target_member_id``; must be sent to the current leader."""
        leader_endpoint: str | None = None
        status = await self.status()
        if status.leader != status.header.member_id:
            for member in await self.member_list():
                if member.id == status.leader and member.client_urls:
                    leader_endpoint = member.client_urls[0]
        async with self._one_member(leader_endpoint) as conn:
            await conn.call(
                lambda s: s.maintenance.MoveLeader,
                rpc_pb2.MoveLeaderRequest(targetID=target_member_id),
                mutation=True,
            )

    async def snapshot(
        self,
        path: str | Path,
        *,
        progress: SnapshotProgress | None = None,
        endpoint: str | None = None,
    ) -> int:
        """Stream the member's backend database to ``path``; returns bytes written.

        The file is written to ``path + ".part"`` and renamed only when complete.
        """
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        written = 0
        async with self._one_member(endpoint) as conn:
            _, stubs = await conn.connect_any()
            call: Any = stubs.maintenance.Snapshot(
                rpc_pb2.SnapshotRequest(), metadata=conn.metadata()
            )
            try:
                with partial.open("wb") as out:
                    async for chunk in call:
                        out.write(chunk.blob)
                        written += len(chunk.blob)
                        if progress is not None:
                            progress(written, int(chunk.remaining_bytes))
                    out.flush()
                    os.fsync(out.fileno())
            except grpc.aio.AioRpcError as exc:
                partial.unlink(missing_ok=True)
                raise translate(exc) from exc
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        partial.replace(target)
        return written
