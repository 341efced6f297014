"""Who is in the cluster, and the Raft-side membership operations.

Shared by the Cluster service (member add/remove/list) and Maintenance
(MoveLeader); ``change`` serializes membership changes: one at a time.
"""

from __future__ import annotations

import asyncio

from kvstore.api.context import Member
from kvstore.api.ids import member_id_of, peer_address
from kvstore.errors import MemberError, MemberNotFoundError, RequestTimeoutError, UnsupportedError
from kvstore.pb import rpc_pb2
from kvstore.raft.replicated import RaftProposer

#: a question for the leader (with a member ID), see ``KvServer._answer``:
#: how far its learners are, and whether that member already votes
LEARNER_PROGRESS = "learner_progress"


class Membership:
    def __init__(self, member: Member) -> None:
        self._m = member
        self.change = asyncio.Lock()

    def members(self) -> list[rpc_pb2.Member]:
        cfg = self._m.config
        known: dict[int, rpc_pb2.Member] = {}
        if cfg.cluster is not None:
            for peer in cfg.cluster.initial_cluster:
                mid = member_id_of(peer.peer_url)
                known[mid] = rpc_pb2.Member(ID=mid, name=peer.name, peerURLs=[peer.peer_url])
        else:
            mid = self._m.identity.member_id
            known[mid] = rpc_pb2.Member(
                ID=mid,
                name=cfg.name,
                peerURLs=list(cfg.initial_advertise_peer_urls),
                clientURLs=list(cfg.advertise_client_urls),
            )
        with self._m.store.read() as view:
            stored = view.members()
        for mid, member in stored.items():
            if member is None:
                known.pop(mid, None)
            else:
                known[mid] = member
        return sorted(known.values(), key=lambda m: m.ID)

    def find(self, member_id: int) -> rpc_pb2.Member:
        """The member ``member_id``, or etcd's "member not found"."""
        member = next((m for m in self.members() if member_id == m.ID), None)
        if member is None:
            raise MemberNotFoundError()
        return member

    def raft(self, what: str) -> RaftProposer:
        proposer = self._m.proposer
        if not isinstance(proposer, RaftProposer):
            raise UnsupportedError(
                f"{what} on a member started without peers (a member that may grow "
                "starts with --initial-cluster and --peer-secret-file, even alone)"
            )
        return proposer

    async def move_leader(self, target_id: int) -> None:
        raft = self.raft("MoveLeader")
        if not raft.is_leader():
            raise MemberError("etcdserver: not leader")
        target = self.find(target_id)
        await raft.move_leader(peer_address(target.peerURLs[0]))
        deadline = asyncio.get_running_loop().time() + self._m.config.request_timeout
        while raft.status().leader_id != target_id:
            if asyncio.get_running_loop().time() > deadline:
                raise RequestTimeoutError()
            await asyncio.sleep(0.05)
