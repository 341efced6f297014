"""The Raft proposer: commands go through pysyncobj to every member.

Results come back through the local apply: every member applies every command,
and the member that proposed it (``member_id``) resolves its waiting caller by
``request_id``. pysyncobj's callback is used only for failures. Writes to keys
are answered before their batch's LMDB commit (and sync) is done: they are
durable in the Raft journals already. Their watch events go out then too.
Local reads wait on ``settled``, so that they never miss a write this member
has answered or an event it has sent; a batch held uncommitted (see
``RaftNode``) is committed for them.

Linearizable reads wait for a shared read barrier, one at a time per member:
ReadIndex (``kvstore.raft.readindex``), or where that cannot answer a no-op
command proposed after the read arrived; either way, once the barrier is
passed, everything committed before the read is applied here too. A leader cut
off from the others can pass neither, so it never serves a stale read — it
times out instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import Message
from pysyncobj import FAIL_REASON, SyncObjConf, SyncObjException

from kvstore.config import TLSConfig
from kvstore.errors import (
    KvError,
    LeaderTransferTimeoutError,
    NoLeaderError,
    RequestTimeoutError,
    StoppedError,
    UnavailableError,
)
from kvstore.pb import command_pb2, kv_pb2, rpc_pb2
from kvstore.raft import clock, leaderask
from kvstore.raft.frames import FrameCipher
from kvstore.raft.fsm import Applied, Duplicate, StateMachine
from kvstore.raft.learnerlinks import LearnerLinks
from kvstore.raft.node import RaftNode
from kvstore.raft.peertls import PeerTLS
from kvstore.raft.peertraffic import PeerReport
from kvstore.raft.proposer import (
    Answer,
    EffectsListener,
    ProposerMetrics,
    Question,
    QuestionHandler,
    RaftStatus,
    notify,
)
from kvstore.raft.removal import AFTER_TIMEOUTS, RemovalCheck
from kvstore.storage.effects import Effects

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Peer:
    member_id: int
    name: str
    address: str  # host:port of the Raft transport


@dataclass(frozen=True)
class RaftSettings:
    """What a member's Raft node runs with; the defaults are ``ClusterConfig``'s."""

    data_dir: str
    secret: str | None
    #: host:port the Raft transport listens on (None: the advertised one)
    bind_address: str | None
    #: seconds between heartbeats while every follower has acknowledged everything
    heartbeat: float
    #: seconds between append-entries while one has not (pysyncobj's period)
    append_entries_period: float
    tick_period: float
    election_timeout_min: float
    election_timeout_max: float
    log_compaction_entries: int
    log_compaction_seconds: float
    #: TLS on the peer transport (on top of the secret)
    peer_tls: TLSConfig | None
    #: start as a learner: a non-voting member that receives the log (see
    #: ``RaftProposer.become_voter``)
    learner: bool
    #: seconds a batch that only writes keys may stay uncommitted in LMDB,
    #: for later batches to share its commit (0: commit every batch)
    commit_hold: float = 0.01


#: failures after which the command may or may not be in the log: re-propose it
RETRYABLE = frozenset(
    (FAIL_REASON.LEADER_CHANGED, FAIL_REASON.DISCARDED, FAIL_REASON.UNKNOWN_OUTCOME)
)
MAX_RETRIES = 5
#: a batch entry stays below the size pysyncobj sends in pieces (64 KiB)
MAX_BATCH_BYTES = 48 * 1024
MAX_BATCH = 256
#: seconds between tries to reach the leader with a question
ASK_RETRY_DELAY = 0.05
#: how often MoveLeader looks again at its transferee (caught up? leading?)
TRANSFER_POLL = 0.02
#: ``learner_progress``: the learner is a voter in the leader's membership already
ALREADY_VOTER = -2


def _failure(reason: int) -> KvError:
    if reason in (FAIL_REASON.MISSING_LEADER, FAIL_REASON.NOT_LEADER):
        return NoLeaderError()
    if reason == FAIL_REASON.QUEUE_FULL:
        return UnavailableError("etcdserver: too many requests")
    if reason in (FAIL_REASON.LEADER_CHANGED, FAIL_REASON.DISCARDED):
        return UnavailableError("etcdserver: leader changed")
    return RequestTimeoutError()


#: results answered before their batch is visible in the store (writes to keys,
#: and refusals; a read that may follow them waits on ``RaftProposer.settled``)
EARLY_RESULTS = (
    rpc_pb2.PutResponse,
    rpc_pb2.DeleteRangeResponse,
    rpc_pb2.TxnResponse,
    KvError,
)


class RaftProposer:
    def __init__(
        self,
        fsm: StateMachine,
        me: Peer,
        peers: list[Peer],
        settings: RaftSettings,
        listeners: list[EffectsListener],
        request_timeout: float,
        on_fatal: Callable[[BaseException], None],
        answer: QuestionHandler,
        resolve: Callable[[str], int | None] | None = None,
        is_removed: Callable[[int], bool] | None = None,
    ) -> None:
        self._fsm = fsm
        self._answer = answer
        #: the member ID of a peer address this member was not started with
        #: (one added later), from the replicated member list
        self._resolve_member = resolve
        #: whether the replicated member list says a member was removed
        self._is_removed = is_removed
        self._me = me
        self._peers = peers
        self._settings = settings
        self._listeners = listeners
        self._timeout = request_timeout
        self._on_fatal = on_fatal
        self._loop: asyncio.AbstractEventLoop | None = None
        self._node: RaftNode | None = None
        self._waiting: dict[int, asyncio.Future[Message | None]] = {}
        self._next_request = secrets.randbits(62) << 1
        self._by_address = {p.address: p.member_id for p in peers}
        self._barrier_waiters: list[asyncio.Future[None]] = []
        self._barrier_running = False
        self._stopped = False
        #: proposals not yet handed to pysyncobj (appended on the loop, drained
        #: on the tick thread by ``_drain_outbox``)
        self._outbox: deque[tuple[int, command_pb2.Command]] = deque()
        self._drain_scheduled = False
        #: proposals that got no outcome (for /metrics)
        self._failed = 0
        #: questions for the leader not yet handed to the tick thread (the same way)
        self._questions: deque[tuple[Question, asyncio.Future[Answer | None]]] = deque()
        self._questions_scheduled = False
        #: the highest log index whose results went out before their batch
        #: was visible in the store, and the highest visible one (loop thread)
        self._released = 0
        self._visible = 0
        self._settle_waiters: list[asyncio.Future[None]] = []
        #: a commit of the held batches is asked of the tick thread
        self._commit_asked = False
        #: the last revision whose events went to the listeners (a batch
        #: redone after a full map is released twice)
        self._published = 0
        #: a learner: pysyncobj's read-only node (see ``RaftSettings.learner``)
        self._learner = False
        #: the leader a promoted learner knew, reported until its voter node
        #: hears from one (see ``become_voter``)
        self._swap_leader = 0

    @property
    def node(self) -> RaftNode:
        assert self._node is not None, "not started"
        return self._node

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._learner = self._settings.learner
        await self._start_node()

    async def _start_node(self) -> None:
        s = self._settings
        conf = SyncObjConf(
            journalFile=f"{s.data_dir}/journal",
            fullDumpFile=f"{s.data_dir}/snapshot",
            dynamicMembershipChange=True,
            appendEntriesPeriod=s.append_entries_period,
            autoTickPeriod=s.tick_period,
            raftMinTimeout=s.election_timeout_min,
            raftMaxTimeout=s.election_timeout_max,
            logCompactionMinEntries=s.log_compaction_entries,
            logCompactionMinTime=s.log_compaction_seconds,
            commandsWaitLeader=True,
            connectionRetryTime=0.5,
            # a link that read nothing for this long is closed as dead (1.5 s
            # at etcd's default election timeout)
            connectionTimeout=3 * s.election_timeout_min,
            leaderFallbackTimeout=max(3 * s.election_timeout_max, 2.0),
            useFork=False,
            # give up (and stop the member) if the peer port stays taken ~5 s
            maxBindRetries=10,
            bindRetryTime=0.5,
            bindAddress=s.bind_address or self._me.address,
        )
        others = [p.address for p in self._peers if p.member_id != self._me.member_id]
        node = self._node = await asyncio.to_thread(
            RaftNode,
            # pysyncobj's read-only node: it connects to the voters, the
            # leader sends it the log, and no count (votes, commits, reads)
            # includes it; it listens on no peer port
            None if self._learner else self._me.address,
            others,
            conf,
            self._fsm,
            self._on_applied_threadsafe,
            self._on_fatal_threadsafe,
            self._on_questions_threadsafe,
            PeerTLS.from_config(s.peer_tls) if s.peer_tls is not None else None,
            FrameCipher(s.secret) if s.secret is not None else None,
            self._on_released_threadsafe,
            s.commit_hold,
            s.heartbeat,
            LearnerLinks(self._me.address, self._is_member),
            None if self._learner else self._removal_check(),
        )
        if self._learner:
            return
        try:
            await asyncio.to_thread(node.waitBinded)
        except SyncObjException as exc:
            address = s.bind_address or self._me.address
            raise OSError(f"cannot listen for peers on {address}: {exc}") from exc

    async def aclose(self) -> None:
        self._stopped = True
        if self._node is not None:
            await asyncio.to_thread(self._node.destroy_synchronous)
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(StoppedError())
        for barrier in self._barrier_waiters + self._settle_waiters:
            if not barrier.done():
                barrier.set_exception(StoppedError())
        self._waiting.clear()

    # ---- proposing ------------------------------------------------------------

    async def propose(self, cmd: command_pb2.Command) -> Message | None:
        return await self._propose(cmd, self._timeout)

    async def _propose(self, cmd: command_pb2.Command, wait: float) -> Message | None:
        if self._stopped:
            raise StoppedError()
        self._next_request += 1
        request_id = self._next_request
        cmd.request_id = request_id
        cmd.member_id = self._me.member_id
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Message | None] = loop.create_future()
        self._waiting[request_id] = fut
        self._outbox.append((request_id, cmd))
        if not self._drain_scheduled and self._node is not None:
            self._drain_scheduled = True
            self._node.call_on_tick(self._drain_outbox)
        try:
            # asyncio.timeout, not wait_for(shield(...)): no extra future,
            # task and callback chain (loop iterations) on every answer
            async with asyncio.timeout(wait):
                return await fut
        except TimeoutError as exc:
            self._failed += 1
            no_leader = self.status().leader_id == 0
            raise (NoLeaderError() if no_leader else RequestTimeoutError()) from exc
        except UnavailableError:  # no outcome (not a refusal by the state machine)
            self._failed += 1
            raise
        finally:
            self._waiting.pop(request_id, None)

    def _drain_outbox(self) -> None:
        """Propose what arrived since the tick thread last looked (tick thread):
        one log entry for all of it (a batch), so that pysyncobj's work per
        entry (journal record, forwarding, answer, apply call) is paid once
        per batch. Under load the tick thread is busy and batches grow."""
        self._drain_scheduled = False
        pending = []
        while self._outbox:
            pending.append(self._outbox.popleft())
        for group in _batches(pending):
            ids = tuple(request_id for request_id, _ in group)
            if len(group) == 1:
                data = group[0][1].SerializeToString()
            else:
                batch = command_pb2.CommandBatch(commands=[cmd for _, cmd in group])
                data = command_pb2.Command(batch=batch).SerializeToString()
            self._submit(ids, data, MAX_RETRIES)

    def _submit(self, request_ids: tuple[int, ...], data: bytes, retries: int) -> None:
        """Hand the entry to pysyncobj. If its fate is unknown (the leader
        changed, the entry was discarded), propose the same bytes again: the
        state machine applies one request ID once, so a retry never doubles it."""
        if self._stopped or not any(r in self._waiting for r in request_ids):
            return

        def callback(result: object, reason: int) -> None:  # tick thread
            if reason == FAIL_REASON.SUCCESS or self._loop is None:
                return
            if reason in RETRYABLE and retries > 0:
                self._loop.call_soon_threadsafe(self._submit, request_ids, data, retries - 1)
            else:
                self._loop.call_soon_threadsafe(self._fail, request_ids, _failure(reason))

        self.node.apply_command(data, callback=callback)

    def _fail(self, request_ids: tuple[int, ...], err: KvError) -> None:
        for request_id in request_ids:
            fut = self._waiting.get(request_id)
            if fut is not None and not fut.done():
                fut.set_exception(err)

    def _on_released_threadsafe(self, results: list[Applied], effects: Effects) -> None:
        """A batch's results and effects, before its transaction commits
        (tick thread).

        This member's writes to keys, and its refused commands (which change
        nothing), are answered now: the entries are committed (on a majority
        of journals, synced) and their results are final, so the answers
        overlap the store's commit and sync. The batch's watch events go out
        now too. The rest (leases, auth, membership) are answered once their
        effects are in place, by ``_deliver``."""
        me = self._me.member_id
        early = [a for a in results if a.member_id == me and isinstance(a.result, EARLY_RESULTS)]
        if (early or effects.events) and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(
                self._release, early, results[-1].index, effects.events, effects.revision
            )

    def _release(
        self,
        early: list[Applied],
        index: int,
        events: list[tuple[int, list[kv_pb2.Event]]],
        revision: int,
    ) -> None:
        self._released = max(self._released, index)
        new = [e for e in events if e[0] > self._published]
        if new:
            self._published = new[-1][0]
            notify(self._listeners, Effects(events=new, revision=revision))
        self._resolve(early)

    def _on_applied_threadsafe(self, results: list[Applied], effects: Effects) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._deliver, results, effects)

    def _on_fatal_threadsafe(self, exc: BaseException) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_fatal, exc)

    def _deliver(self, results: list[Applied], effects: Effects) -> None:
        """A batch is visible in the store: its other effects (the watch
        events went out with ``_release``), the reads waiting for it, and
        the answers that waited for its effects."""
        if effects.reset:
            self._published = effects.revision
        notify(self._listeners, dataclasses.replace(effects, events=[]))
        if results:
            self._visible = max(self._visible, results[-1].index)
            if self._settle_waiters:
                if self._released <= self._visible:
                    waiters, self._settle_waiters = self._settle_waiters, []
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)
                else:
                    self._ask_commit()
        self._resolve(results)

    def _ask_commit(self) -> None:
        """Have the tick thread commit the batches held open (loop thread)."""
        if self._commit_asked or self._node is None:
            return
        self._commit_asked = True

        def commit() -> None:  # tick thread
            self._commit_asked = False
            self.node.commit_held()

        self._node.call_on_tick(commit)

    def _resolve(self, results: list[Applied]) -> None:
        for applied in results:
            if applied.member_id != self._me.member_id:
                continue
            fut = self._waiting.get(applied.request_id)
            if fut is None or fut.done():
                continue
            if isinstance(applied.result, Duplicate):
                continue
            if isinstance(applied.result, KvError):
                fut.set_exception(applied.result)
            else:
                fut.set_result(applied.result)

    # ---- reads ------------------------------------------------------------------

    async def settled(self) -> None:
        """Return once every write this member has answered is visible in
        its store, and its effects (watch events, lease keys) are out: a
        read here then sees what its caller was told was written."""
        if self._released <= self._visible:
            return
        if self._stopped:
            raise StoppedError()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._settle_waiters.append(waiter)
        self._ask_commit()
        await waiter

    async def read_barrier(self) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._barrier_waiters.append(fut)
        if not self._barrier_running:
            asyncio.get_running_loop().create_task(self._run_barriers())
        await fut

    async def _run_barriers(self) -> None:
        self._barrier_running = True
        try:
            while self._barrier_waiters:
                waiters, self._barrier_waiters = self._barrier_waiters, []
                try:
                    await self._barrier()
                except KvError as err:
                    for fut in waiters:
                        if not fut.done():
                            fut.set_exception(err)
                    continue
                for fut in waiters:
                    if not fut.done():
                        fut.set_result(None)
        finally:
            self._barrier_running = False

    async def _barrier(self) -> None:
        """ReadIndex first (a heartbeat round, no log entry); where it cannot
        answer (a new leader, no leader, a lost message) a barrier entry
        through the log, in what is left of the request timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        if await self._read_index():
            return
        remaining = deadline - loop.time()
        await self._propose(command_pb2.Command(barrier=command_pb2.Barrier()), max(remaining, 0.0))

    async def _read_index(self) -> bool:
        if self._node is None:
            return False  # a learner turning voter: a barrier entry instead
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        self.node.call_on_tick(functools.partial(self.node.request_read, _settler(loop, fut)))
        try:
            async with asyncio.timeout(self._timeout):
                return await fut
        except TimeoutError:
            return False

    # ---- questions about the leader's memory -------------------------------------

    async def ask_leader(self, question: Question) -> Answer:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while not self._stopped:
            fut: asyncio.Future[Answer | None] = loop.create_future()
            self._questions.append((question, fut))
            if not self._questions_scheduled and self._node is not None:
                self._questions_scheduled = True
                self._node.call_on_tick(self._drain_questions)
            try:
                answer = await asyncio.wait_for(fut, max(deadline - loop.time(), 0.0))
            except TimeoutError:
                break
            if answer is not None:
                return answer
            if loop.time() + ASK_RETRY_DELAY >= deadline:
                break
            await asyncio.sleep(ASK_RETRY_DELAY)  # no leader yet, or a lost message
        if self._stopped:
            raise StoppedError()
        raise NoLeaderError() if self.status().leader_id == 0 else RequestTimeoutError()

    def _drain_questions(self) -> None:
        """Ask what arrived since the tick thread last looked, in as few
        messages as possible (tick thread)."""
        self._questions_scheduled = False
        pending = []
        while self._questions:
            pending.append(self._questions.popleft())
        for start in range(0, len(pending), leaderask.MAX_BATCH):
            chunk = pending[start : start + leaderask.MAX_BATCH]
            futures = [fut for _, fut in chunk]
            self.node.ask_leader(
                [question for question, _ in chunk],
                functools.partial(self._answered_threadsafe, futures),
            )

    def _answered_threadsafe(
        self, futures: list[asyncio.Future[Answer | None]], answers: list[Any] | None
    ) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(_settle_all, futures, answers)

    def _on_questions_threadsafe(
        self, questions: list[Any], reply: Callable[[list[Any] | None], None]
    ) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_questions, questions, reply)

    def _on_questions(
        self, questions: list[Any], reply: Callable[[list[Any] | None], None]
    ) -> None:
        """Answer on the leader; ``None`` (ask again) if it no longer leads,
        or for a question it cannot answer."""
        if not self.is_leader():
            reply(None)
            return
        answers: list[Answer | None] = []
        for question in questions:
            try:
                answers.append(self._answer(question))
            except Exception:
                logger.exception("cannot answer a member's question question=%r", question)
                answers.append(None)
        reply(answers)

    # ---- state ----------------------------------------------------------------

    def caught_up_first(self, addresses: list[str]) -> list[str]:
        """``addresses`` (of voters), the one that has acknowledged most of
        this leader's log first."""
        acknowledged = {
            str(getattr(node, "address", "")): index
            for node, index in self.node.match_indexes().items()
        }
        return sorted(addresses, key=lambda address: -acknowledged.get(address, -1))

    def linked(self) -> set[str]:
        """The peer addresses this member has a live link to now."""
        node = self._node
        if node is None:
            return set()
        return {address for address, _, up in node.peer_links() if up}

    def voters(self) -> int:
        """How many voters this member's Raft membership has (itself included)."""
        node = self._node
        return 0 if node is None else len(node.otherNodes) + int(not self._learner)

    def is_leader(self) -> bool:
        return self._node is not None and not self._stopped and self._node.is_leader()

    def status(self) -> RaftStatus:
        if self._node is None:
            return RaftStatus(self._swap_leader, 0, 0, 0)
        leader = self._node.leader_address()
        leader_id = self._member_at(leader) if leader else 0
        if leader_id:
            self._swap_leader = 0
        else:
            leader_id = self._swap_leader  # a promoted learner's new node has not heard yet
        return RaftStatus(
            leader_id,
            int(self._node.raftCurrentTerm),
            int(self._node.raftCommitIndex),
            int(self._node.raftLastApplied),
            self._learner,
        )

    def metrics(self) -> ProposerMetrics:
        node = self._node
        return ProposerMetrics(
            leader_changes=node.leader_changes if node is not None else 0,
            proposals_pending=len(self._waiting),
            proposals_failed=self._failed,
            wal_fsync=node.fsync_durations if node is not None else None,
            peers=self._peer_reports(),
        )

    def _peer_reports(self) -> tuple[PeerReport, ...]:
        if self._node is None:
            return ()
        reports = []
        for address, counts, active in self._node.peer_links():
            member_id = self._member_at(address)
            if member_id:
                reports.append(PeerReport(member_id, counts, active))
        return tuple(reports)

    def term(self) -> int:
        return 0 if self._node is None else int(self._node.raftCurrentTerm)

    @property
    def learner(self) -> bool:
        return self._learner

    async def become_voter(self) -> None:
        """A learner promoted (its member record says voter): restart the Raft
        node in this process as a voter on the same journal and store, as a
        restart of the member would. Proposals still queued go to the new
        node; one already handed to the old node ends in a timeout (a learner
        proposes only its own name and URLs, and that retries)."""
        if not self._learner or self._stopped:
            return
        old = self._node
        self._swap_leader = self.status().leader_id
        self._node = None
        if old is not None:
            await asyncio.to_thread(old.destroy_synchronous)
        self._learner = False
        self._drain_scheduled = False
        self._questions_scheduled = False
        self._commit_asked = False
        # Its links to the leader come up only on a connection retry (the
        # leader could not reach it while it was read-only). If its election
        # timeout passes first, its pre-vote is refused: the voters hear the leader.
        await self._start_node()
        if self._outbox:
            self._drain_scheduled = True
            self.node.call_on_tick(self._drain_outbox)
        if self._questions:
            self._questions_scheduled = True
            self.node.call_on_tick(self._drain_questions)
        logger.info("learner promoted: now a voter member_id=%x", self._me.member_id)

    def caught_up(self, slack: int) -> bool:
        """This member has applied all but ``slack`` entries of what the
        leader last said it committed."""
        node = self._node
        if node is None:
            return False
        leader_commit = node.leader_commit()
        if leader_commit is None or node.leader_address() is None:
            return False
        return int(node.raftLastApplied) >= leader_commit - slack

    def learner_progress(self, address: str | None) -> tuple[int, int]:
        """On the leader: (the log index the learner at ``address``, a
        read-only node, has acknowledged, its commit index); -1 when it is not
        connected, ``ALREADY_VOTER`` if ``address`` is in its membership."""
        node = self.node
        commit = int(node.raftCommitIndex)
        if address is not None and any(n.address == address for n in node.otherNodes):
            return ALREADY_VOTER, commit
        links = node.learner_links
        learners = [n for n in node.readonlyNodes if links.address_of(n.id) == address]
        if address is None or not learners:
            return -1, commit
        match = node.match_indexes()
        return max(match.get(n, 0) for n in learners), commit

    def learn_peer(self, peer: Peer) -> None:
        self._by_address[peer.address] = peer.member_id

    # ---- membership ---------------------------------------------------------------

    async def _membership(self, start: Callable[[Callable[[object, int], None]], None]) -> None:
        reason = await self._on_tick(start)
        if reason != FAIL_REASON.SUCCESS:
            if reason == FAIL_REASON.REQUEST_DENIED:
                raise UnavailableError("etcdserver: request denied by the Raft leader")
            raise _failure(reason)

    async def _on_tick(self, start: Callable[[Callable[[object, int], None]], None]) -> int:
        """Run ``start(callback)`` on the tick thread; pysyncobj's reason code."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()

        def settle(reason: int) -> None:
            if not fut.done():
                fut.set_result(reason)

        def done(result: object, reason: int) -> None:  # tick thread
            loop.call_soon_threadsafe(settle, reason)

        self.node.call_on_tick(lambda: start(done))
        try:
            return await asyncio.wait_for(fut, self._timeout)
        except TimeoutError as exc:
            raise RequestTimeoutError() from exc

    async def add_member(self, peer: Peer) -> None:
        self.learn_peer(peer)
        await self._membership(lambda cb: self.node.addNodeToCluster(peer.address, callback=cb))

    async def remove_member(self, address: str) -> None:
        await self._membership(lambda cb: self.node.removeNodeFromCluster(address, callback=cb))

    async def move_leader(self, address: str, member_id: int, deadline: float) -> None:
        """Make the voter at ``address`` (``member_id``) the leader by the
        time ``deadline`` (loop time) comes, as etcd's MoveLeader does.

        The leader sends it TimeoutNow once it holds the leader's whole log:
        pysyncobj refuses a target that is behind, which a member is for a
        round trip after every write, and every member is right after an
        election. While leadership has not moved, the leader sends it again
        every minimum election timeout: the target ignores a TimeoutNow that
        comes before it has heard this leader (it just restarted), and one
        lost with its link."""
        loop = asyncio.get_running_loop()
        send_at = loop.time()
        while self.status().leader_id != member_id:
            now = loop.time()
            if now >= deadline:
                raise LeaderTransferTimeoutError()
            if now >= send_at and self.is_leader():
                reason = await self._on_tick(
                    lambda cb: self.node.transferLeadership(address, callback=cb)
                )
                if reason == FAIL_REASON.SUCCESS:
                    send_at = now + self._settings.election_timeout_min
                elif reason not in (FAIL_REASON.REQUEST_DENIED, FAIL_REASON.NOT_LEADER):
                    raise _failure(reason)
            await asyncio.sleep(TRANSFER_POLL)

    def _removal_check(self) -> RemovalCheck:
        """How this voter learns it was removed (see ``removal``)."""
        removed = self._is_removed
        return RemovalCheck(
            self._me.member_id,
            removed if removed is not None else (lambda member_id: False),
            after=AFTER_TIMEOUTS * self._settings.election_timeout_max,
            started=clock.now(),
        )

    def _is_member(self, address: str) -> bool:
        """The replicated member list has a member at ``address`` (tick thread):
        only such a member's read-only link is accepted."""
        return self._resolve_member is None or self._resolve_member(address) is not None

    def _member_at(self, address: str) -> int:
        known = self._by_address.get(address)
        if known is None and self._resolve_member is not None:
            known = self._resolve_member(address)
            if known:
                self._by_address[address] = known
        return known or 0

    def address_of(self, member_id: int) -> str | None:
        for address, known in self._by_address.items():
            if known == member_id:
                return address
        return None


def _settle_all(futures: list[asyncio.Future[Answer | None]], answers: Any) -> None:
    """One answer per future; ``None`` to all (ask again) when there are none,
    or when they do not match the questions."""
    if not isinstance(answers, list) or len(answers) != len(futures):
        answers = [None] * len(futures)
    for fut, answer in zip(futures, answers, strict=True):
        if not fut.done():
            fut.set_result(answer)


def _settler(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[T]) -> Callable[[T], None]:
    """A callback for the tick thread that resolves ``fut`` on ``loop``."""

    def settle(value: T) -> None:
        if not fut.done():
            fut.set_result(value)

    def done(value: T) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(settle, value)

    return done


def _batches(
    pending: list[tuple[int, command_pb2.Command]],
) -> list[list[tuple[int, command_pb2.Command]]]:
    """Consecutive groups small enough to travel as one message (pysyncobj
    splits larger entries into pieces)."""
    groups: list[list[tuple[int, command_pb2.Command]]] = []
    size = 0
    for item in pending:
        item_size = item[1].ByteSize()
        if not groups or size + item_size > MAX_BATCH_BYTES or len(groups[-1]) >= MAX_BATCH:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += item_size
    return groups
