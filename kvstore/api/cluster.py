"""etcdserverpb.Cluster: the member list and online membership changes.

Members live in the replicated state: each member publishes its name and URLs
once it runs; MemberAdd records the new member's peer URL before it starts.
Changes are serialized: one at a time.

A learner (MemberAdd with isLearner) receives the log but counts for nothing
(pysyncobj's read-only node); at most one at a time, as etcd's default
``--max-learners``. MemberPromote makes it a voter once it holds at least
nine tenths of the leader's committed log, as etcd requires. A voter added to
a one-voter cluster joins as a learner that the leader promotes itself.
"""

from __future__ import annotations

from kvstore.api.context import Member
from kvstore.api.edge import Ctx, unary
from kvstore.api.ids import member_id_of, peer_address
from kvstore.api.membership import Membership
from kvstore.errors import MemberError, TooManyLearnersError, UnsupportedError
from kvstore.pb import command_pb2, rpc_pb2, rpc_pb2_grpc
from kvstore.raft.replicated import Peer

#: learners at once (etcd's default ``--max-learners``)
MAX_LEARNERS = 1


class ClusterService(rpc_pb2_grpc.ClusterServicer):
    def __init__(self, member: Member, membership: Membership) -> None:
        self._m = member
        self._ms = membership

    def _header(self) -> rpc_pb2.ResponseHeader:
        """As etcd's Cluster service: identity and term, no revision (0)."""
        return self._m.identity.header(0, self._m.proposer.term())

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
        raft = self._ms.raft("MemberAdd")
        if len(request.peerURLs) != 1:
            raise MemberError("kvstore: a member needs exactly one peer URL")
        url = request.peerURLs[0]
        async with self._ms.change:
            members = self._ms.members()
            if any(url in m.peerURLs for m in members):
                raise MemberError("etcdserver: Peer URLs already exists")
            # A voter added to one voter would count at once, before it runs:
            # the lone voter would lose its quorum, and the newcomer, which
            # learns from the log that it votes, could never hear it. It joins
            # as a learner, and the leader promotes it once it has caught up.
            voter_later = not request.isLearner and raft.voters() == 1
            learner = request.isLearner or voter_later
            if learner and sum(m.isLearner for m in members) >= MAX_LEARNERS:
                raise TooManyLearnersError()
            await self._ms.check_add(raft, request.isLearner)
            mid = member_id_of(url)
            new = rpc_pb2.Member(ID=mid, peerURLs=[url], isLearner=learner)
            await raft.propose(self._ms.record(new, promote_when_caught_up=voter_later))
            peer = Peer(mid, "", peer_address(url))
            if learner:
                raft.learn_peer(peer)  # Raft's membership is the voters'
            else:
                await raft.add_member(peer)
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
            target = self._ms.find(request.ID)
            await self._ms.check_remove(raft, target)  # (etcd checks this first too)
            if self._m.identity.member_id == request.ID:
                # pysyncobj's leader drops a removed voter's links as it
                # appends the change: this member would never hear its removal
                # commit (its request timed out, its record stayed listed)
                raise MemberError(
                    "kvstore: a member cannot remove itself; send the removal to another member"
                )
            if raft.status().leader_id == request.ID:
                await self._ms.step_aside(raft, request.ID)
            if not target.isLearner:  # a learner is in no Raft membership
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
        self._m.auth.state().check_admin(self._m.auth.user())
        raft = self._ms.raft("MemberPromote")
        async with self._ms.change:
            await self._ms.promote(raft, self._ms.find(request.ID))
        return rpc_pb2.MemberPromoteResponse(header=self._header(), members=self._ms.members())
