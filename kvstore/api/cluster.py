"""etcdserverpb.Cluster: the member list and online membership changes.

Members live in the replicated state: each member publishes its name and URLs
once it runs; MemberAdd records the new member's peer URL before it starts.
Changes are serialized: one at a time.
"""

from __future__ import annotations

from kvstore.api.context import Member
from kvstore.api.edge import Ctx, unary
from kvstore.api.ids import member_id_of, peer_address
from kvstore.api.membership import Membership
from kvstore.errors import MemberError, MemberNotFoundError, UnsupportedError
from kvstore.pb import command_pb2, rpc_pb2, rpc_pb2_grpc
from kvstore.raft.replicated import Peer


class ClusterService(rpc_pb2_grpc.ClusterServicer):
    def __init__(self, member: Member, membership: Membership) -> None:
        self._m = member
        self._ms = membership

    def _header(self) -> rpc_pb2.ResponseHeader:
        return self._m.identity.header(self._m.store.revision, self._m.proposer.status().term)

    @unary
    async def MemberList(
        self, request: rpc_pb2.MemberListRequest, context: Ctx
    ) -> rpc_pb2.MemberListResponse:
        if request.linearizable:
            await self._m.proposer.read_barrier()
        return rpc_pb2.MemberListResponse(header=self._header(), members=self._ms.members())

    @unary
    async def MemberAdd(
        self, request: rpc_pb2.MemberAddRequest, context: Ctx
    ) -> rpc_pb2.MemberAddResponse:
        self._m.auth.state().check_admin(self._m.auth.user())
        if request.isLearner:
            raise UnsupportedError("isLearner (kvstore has no learners)")
        raft = self._ms.raft("MemberAdd")
        if len(request.peerURLs) != 1:
            raise MemberError("kvstore: a member needs exactly one peer URL")
        url = request.peerURLs[0]
        async with self._ms.change:
            if any(url in m.peerURLs for m in self._ms.members()):
                raise MemberError("etcdserver: Peer URLs already exists")
            mid = member_id_of(url)
            new = rpc_pb2.Member(ID=mid, peerURLs=[url])
            await raft.propose(command_pb2.Command(member_add=new))
            await raft.add_member(Peer(mid, "", peer_address(url)))
        return rpc_pb2.MemberAddResponse(
            header=self._header(), member=new, members=self._ms.members()
        )

    @unary
    async def MemberRemove(
        self, request: rpc_pb2.MemberRemoveRequest, context: Ctx
    ) -> rpc_pb2.MemberRemoveResponse:
        self._m.auth.state().check_admin(self._m.auth.user())
        raft = self._ms.raft("MemberRemove")
        async with self._ms.change:
            target = next((m for m in self._ms.members() if m.ID == request.ID), None)
            if target is None:
                raise MemberNotFoundError()
            if raft.status().leader_id == request.ID:
                raise MemberError(
                    "kvstore: cannot remove the leader; move leadership first (move-leader)"
                )
            await raft.remove_member(peer_address(target.peerURLs[0]))
            await raft.propose(
                command_pb2.Command(member_remove=rpc_pb2.MemberRemoveRequest(ID=request.ID))
            )
        return rpc_pb2.MemberRemoveResponse(header=self._header(), members=self._ms.members())

    @unary
    async def MemberUpdate(
        self, request: rpc_pb2.MemberUpdateRequest, context: Ctx
    ) -> rpc_pb2.MemberUpdateResponse:
        raise UnsupportedError("MemberUpdate (remove and re-add the member instead)")

    @unary
    async def MemberPromote(
        self, request: rpc_pb2.MemberPromoteRequest, context: Ctx
    ) -> rpc_pb2.MemberPromoteResponse:
        raise UnsupportedError("MemberPromote (kvstore has no learners)")
