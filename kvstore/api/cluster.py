"""etcdserverpb.Cluster: the member list (membership changes need Raft)."""

from __future__ import annotations

from kvstore.api.context import Member
from kvstore.api.edge import Ctx, unary
from kvstore.errors import UnsupportedError
from kvstore.pb import rpc_pb2, rpc_pb2_grpc


class ClusterService(rpc_pb2_grpc.ClusterServicer):
    def __init__(self, member: Member) -> None:
        self._m = member

    def _members(self) -> list[rpc_pb2.Member]:
        cfg = self._m.config
        return [
            rpc_pb2.Member(
                ID=self._m.identity.member_id,
                name=cfg.name,
                peerURLs=list(cfg.initial_advertise_peer_urls),
                clientURLs=list(cfg.advertise_client_urls),
            )
        ]

    def _header(self) -> rpc_pb2.ResponseHeader:
        return self._m.identity.header(self._m.store.revision, self._m.proposer.status().term)

    @unary
    async def MemberList(
        self, request: rpc_pb2.MemberListRequest, context: Ctx
    ) -> rpc_pb2.MemberListResponse:
        return rpc_pb2.MemberListResponse(header=self._header(), members=self._members())

    @unary
    async def MemberAdd(
        self, request: rpc_pb2.MemberAddRequest, context: Ctx
    ) -> rpc_pb2.MemberAddResponse:
        raise UnsupportedError("MemberAdd on a member started without --initial-cluster")

    @unary
    async def MemberRemove(
        self, request: rpc_pb2.MemberRemoveRequest, context: Ctx
    ) -> rpc_pb2.MemberRemoveResponse:
        raise UnsupportedError("MemberRemove on a member started without --initial-cluster")

    @unary
    async def MemberUpdate(
        self, request: rpc_pb2.MemberUpdateRequest, context: Ctx
    ) -> rpc_pb2.MemberUpdateResponse:
        raise UnsupportedError("MemberUpdate on a member started without --initial-cluster")

    @unary
    async def MemberPromote(
        self, request: rpc_pb2.MemberPromoteRequest, context: Ctx
    ) -> rpc_pb2.MemberPromoteResponse:
        raise UnsupportedError("MemberPromote (kvstore has no learners)")
