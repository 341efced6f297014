"""Who is in the cluster, and the Raft-side membership operations.

Shared by the Cluster service (member add/remove/list/promote), Maintenance
(MoveLeader) and the leader's own promotions (``promote_caught_up``);
``change`` serializes membership changes: one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kvstore.api.context import Member
from kvstore.api.ids import member_id_of, peer_address
from kvstore.errors import (
    BadLeaderTransfereeError,
    KvError,
    LeaderTransferTimeoutError,
    LearnerNotReadyError,
    MemberError,
    MemberNotFoundError,
    MemberNotLearnerError,
    NotEnoughStartedMembersError,
    UnhealthyClusterError,
    UnsupportedError,
)
from kvstore.pb import command_pb2, rpc_pb2
from kvstore.raft.proposer import Answer
from kvstore.raft.replicated import ALREADY_VOTER, Peer, RaftProposer

logger = logging.getLogger(__name__)

#: a question for the leader (with a member ID), see ``KvServer._answer``:
#: how far its learners are, and whether that member already votes
LEARNER_PROGRESS = "learner_progress"
#: the share of the leader's committed log a learner must hold to be promoted
LEARNER_READY = 0.9
#: seconds between the leader's looks at a learner it is to promote
AUTO_PROMOTE_INTERVAL = 0.5
#: a question for the leader (with its own member ID), from a member removing
#: it: hand leadership to another voter (see ``step_aside``)
STEP_DOWN = "step_down"
#: seconds between looks at who leads while the leader hands over
STEP_ASIDE_POLL = 0.05
#: how long a membership change waits for a missing peer link (one reconnecting)
#: before the strict reconfiguration check refuses it, and how often it looks
LINK_WAIT = 1.0
LINK_POLL = 0.05


def _started(voters: list[rpc_pb2.Member]) -> int:
    """Voters that have started: published their name (etcd's ``IsStarted``)."""
    return sum(bool(m.name) for m in voters)


def _require_started_quorum(members: int, started: int) -> None:
    """etcd's strict reconfiguration rule: ``started`` voters make a quorum of
    ``members``."""
    if started < members // 2 + 1:
        raise NotEnoughStartedMembersError()


class Membership:
    def __init__(self, member: Member) -> None:
        self._m = member
        self.change = asyncio.Lock()
        #: this leader handing leadership over, asked by a member removing it
        self._handover: asyncio.Task[None] | None = None

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

    # ---- etcd's strict reconfiguration check (--strict-reconfig-check) -------
    # A voter counts as started once it has published its name; a link counts
    # when this member's peer link to it is up now (etcd: up for 5 s).

    def _strict(self) -> bool:
        cluster = self._m.config.cluster
        return cluster is None or cluster.strict_reconfig_check

    def _voters(self) -> list[rpc_pb2.Member]:
        return [m for m in self.members() if not m.isLearner]

    async def _unlinked(self, raft: RaftProposer, voters: list[rpc_pb2.Member]) -> set[int]:
        """The voters other than this member it has no live link to (waiting
        up to ``LINK_WAIT`` for them)."""
        me = self._m.identity.member_id
        others = {m.ID: peer_address(m.peerURLs[0]) for m in voters if me != m.ID and m.peerURLs}
        deadline = asyncio.get_running_loop().time() + LINK_WAIT
        while True:
            linked = raft.linked()
            missing = {mid for mid, address in others.items() if address not in linked}
            if not missing or asyncio.get_running_loop().time() >= deadline:
                return missing
            await asyncio.sleep(LINK_POLL)

    async def check_add(self, raft: RaftProposer, learner: bool) -> None:
        """etcd refuses to add a voter unless the voters started, the new one
        counted, make a quorum; and any member unless this one is linked to
        every voter."""
        if not self._strict():
            return
        voters = self._voters()
        started = _started(voters)
        # (one started voter may take a second: etcd's case of restoring a cluster)
        if not learner and not (len(voters) == 1 and started == 1):
            _require_started_quorum(len(voters) + 1, started)
        if await self._unlinked(raft, voters):
            raise UnhealthyClusterError()

    async def check_remove(self, raft: RaftProposer, target: rpc_pb2.Member) -> None:
        """etcd refuses to remove a voter unless the started voters left make
        a quorum of those left, and, when the voter is linked (running), the
        linked voters other than it still make a quorum of today's voters."""
        if not self._strict() or target.isLearner:
            return
        voters = self._voters()
        rest = [m for m in voters if m.ID != target.ID]
        _require_started_quorum(len(rest), _started(rest))
        another = self._m.identity.member_id != target.ID and target.peerURLs
        if another and peer_address(target.peerURLs[0]) not in raft.linked():
            return  # a member down is not part of the active quorum
        unlinked = await self._unlinked(raft, voters)
        if target.ID in unlinked:
            return
        active = len(voters) - len(unlinked)  # (this member included)
        if active - 1 < 1 + (len(voters) - 1) // 2:
            raise UnhealthyClusterError()

    def check_promote(self) -> None:
        """etcd refuses to promote a learner unless the started voters and
        it make a quorum of the voters with it."""
        if not self._strict():
            return
        voters = self._voters()
        _require_started_quorum(len(voters) + 1, 1 + _started(voters))

    def record(
        self, member: rpc_pb2.Member, promote_when_caught_up: bool = False
    ) -> command_pb2.Command:
        """Record ``member`` (added, or promoted), with the cluster ID it joins."""
        return command_pb2.Command(
            member_add=member,
            cluster_id=self._m.identity.cluster_id,
            promote_when_caught_up=promote_when_caught_up,
        )

    async def promote(self, raft: RaftProposer, target: rpc_pb2.Member) -> None:
        """Make learner ``target`` a voter, once it holds nine tenths of the
        leader's committed log (as etcd). Under ``change``."""
        if not target.isLearner:
            raise MemberNotLearnerError()
        match, commit = await raft.ask_leader((LEARNER_PROGRESS, target.ID))
        if match != ALREADY_VOTER:
            self.check_promote()
        # the learner turns voter when it applies this record
        promoted = rpc_pb2.Member()
        promoted.CopyFrom(target)
        promoted.isLearner = False
        peer = Peer(target.ID, target.name, peer_address(target.peerURLs[0]))
        if match != ALREADY_VOTER:  # (a try that failed after this step)
            if match < 0 or match < commit * LEARNER_READY:
                raise LearnerNotReadyError()
            if raft.voters() == 1:
                # a lone voter needs the new one's acknowledgement to commit
                # the change: it must turn voter first, on its record
                await raft.propose(self.record(promoted))
                await raft.add_member(peer)
                return
            # the voters count it from this entry on, and know its
            # address before it turns voter: it never waits for a heartbeat
            await raft.add_member(peer)
        await raft.propose(self.record(promoted))

    async def step_aside(self, raft: RaftProposer, leader_id: int) -> None:
        """Have another voter lead before the leader ``leader_id`` is removed
        by this member (a follower). pysyncobj's leader cannot remove itself;
        etcd's is removed and then steps down. Here it is asked over the peer
        link to hand leadership to its most caught-up other voter first (as
        MoveLeader does). Under ``change``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._m.config.request_timeout
        await raft.ask_leader((STEP_DOWN, leader_id))
        while raft.status().leader_id in (leader_id, 0):
            if loop.time() >= deadline:
                raise LeaderTransferTimeoutError()
            await asyncio.sleep(STEP_ASIDE_POLL)
        # a leader takes membership changes once an entry of its term is
        # committed: a read barrier waits for that
        await raft.read_barrier()

    def answer_step_down(self, raft: RaftProposer, leader_id: int) -> Answer:
        """On the leader, asked by a member that is removing it (event loop):
        start handing leadership over, once at a time."""
        idle = self._handover is None or self._handover.done()
        if idle and raft.is_leader() and leader_id == self._m.identity.member_id:
            self._handover = asyncio.ensure_future(self._hand_over(raft, leader_id))
        return 0, 0

    async def _hand_over(self, raft: RaftProposer, leader_id: int) -> None:
        """MoveLeader to the voter other than ``leader_id`` that has
        acknowledged most of the log; the asking member waits for a new
        leader, and says so if none comes."""
        voters = {
            peer_address(m.peerURLs[0]): m.ID
            for m in self.members()
            if not m.isLearner and leader_id != m.ID and m.peerURLs
        }
        order = raft.caught_up_first(list(voters))
        try:
            if not order:
                raise MemberError("kvstore: cannot remove the only voter")
            await self.move_leader(voters[order[0]])
        except KvError as err:
            logger.warning("leadership not handed over for a removal: %s", err.message)

    async def aclose(self) -> None:
        if self._handover is not None:
            self._handover.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._handover

    async def promote_caught_up(self, raft: RaftProposer) -> None:
        """On the leader, for as long as this member runs: promote the learner
        that was added as a voter (to a one-voter cluster) once it has caught up."""
        while True:
            await asyncio.sleep(AUTO_PROMOTE_INTERVAL)
            if not raft.is_leader():
                continue
            with self._m.store.read() as view:
                pending = view.auto_promote
                target = view.members().get(pending) if pending else None
            if target is None or not target.isLearner:
                continue
            async with self.change:
                try:
                    await self.promote(raft, self.find(target.ID))
                except LearnerNotReadyError:
                    continue  # not caught up yet (or not started)
                except KvError as err:
                    logger.info("promotion retry member_id=%x error=%s", target.ID, err.message)
                    continue
            logger.info("promoted member_id=%x (added as a voter)", target.ID)

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
        try:
            target = self.find(target_id)
        except MemberNotFoundError as exc:
            raise BadLeaderTransfereeError() from exc
        if target.isLearner:
            raise BadLeaderTransfereeError()
        deadline = asyncio.get_running_loop().time() + self._m.config.request_timeout
        await raft.move_leader(peer_address(target.peerURLs[0]), target_id, deadline)
