"""pysyncobj integration: the Raft node that drives the state machine.

Facts this relies on (see shared/pysyncobj-notes.md):

- ``apply_command`` runs on pysyncobj's tick thread for each committed REGULAR
  entry, in log order; the entry's index is ``raftLastApplied + 1`` and its term
  is in the in-memory log. It must never raise (pysyncobj would retry forever).
- Entries are collected and applied as one LMDB batch when the commit index is
  reached, or at the end of the tick (a tick callback), whichever comes first.
  The batch's results are handed to ``on_released`` before its transaction
  commits, so that answers overlap LMDB's sync (see ``RaftProposer.settled``).
- A batch that only writes keys is left uncommitted for up to ``commit_hold``
  seconds, and the batches applied meanwhile join its transaction: one LMDB
  commit and sync for all of them. Committed entries are durable in the
  journals already. Whatever needs the store to show them commits at once:
  ``commit_held`` (a local read), a linearizable read here, a snapshot, a
  batch that does more than write keys, and stopping.
- pysyncobj's journal is an mmap that is never synced. ``DurableTransport``
  syncs it before any Raft message leaves this node, so an entry is on disk
  before its append-entries (leader) or its acknowledgement (follower) is
  sent: a committed entry is durable on a majority. One sync covers a whole
  batch. Forwarded proposals and the leader's answers to them promise nothing
  about the log and go out unsynced (one sync per forwarded command before).
- pysyncobj's follower truncates entries that agree with the leader's, and its
  replies carry no term; ``appendentries`` restores Raft's rules in front of
  its message handler (incoming messages) and on its replies (outgoing).
- pysyncobj's ``appendEntriesPeriod`` is its heartbeat, and also how often
  (and how long) it sends to a follower that is behind. An idle leader, whose
  followers have acknowledged everything, waits ``heartbeat`` instead; and
  when nothing at all is under way, the tick thread sleeps a quarter of it
  between ticks rather than ``autoTickPeriod`` (a proposal, a read, a
  message or a stop wakes it at once). Measured idle, a follower then costs
  about a quarter of the CPU it did with pysyncobj's period alone, the
  leader about 40%.
- Peer links carry ``frames`` (sealed with the cluster secret) instead of
  pysyncobj's zlib'd, Fernet-encrypted pickles: ``peerlink``'s connections,
  which also speak TLS when peer TLS is configured (``peertls``).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.config import SERIALIZER_STATE
from pysyncobj.pipe_notifier import PipeNotifier
from pysyncobj.syncobj import _RAFT_STATE
from pysyncobj.tcp_connection import CONNECTION_STATE
from pysyncobj.transport import TCPTransport

from kvstore.durations import Durations
from kvstore.errors import MemberRemovedError
from kvstore.fsync import fsync_path
from kvstore.raft import (
    clock,
    journalcompact,
    leaderask,
    paircommit,
    prevote,
    readindex,
    removal,
    rtt,
    transfer,
)
from kvstore.raft.appendentries import Reassembly, cap_reply, normalize, stale_reply, stamp_reply
from kvstore.raft.frames import FrameCipher
from kvstore.raft.fsm import Applied, Entry, ReleaseFn, StateMachine
from kvstore.raft.learnerlinks import LearnerLinks
from kvstore.raft.peerlink import PeerConnection, PeerServer, connection_like
from kvstore.raft.peertls import PeerTLS
from kvstore.raft.peertraffic import PeerCounts, PeerTraffic
from kvstore.raft.snapshots import (
    SnapshotCorrupt,
    is_marker,
    read_snapshot,
    replace_with_marker,
    write_marker,
    write_snapshot,
)
from kvstore.raft.snapshotsend import SnapshotSender
from kvstore.raft.snapshotwriter import SnapshotWriter
from kvstore.storage.effects import Effects

logger = logging.getLogger(__name__)

#: seconds between append-entries sent ahead of the heartbeat period
EARLY_SEND_INTERVAL = 0.002
#: bytes a peer link may hold unsent before the leader leaves it out of a send
#: round (see ``RaftNode._SyncObj__sendAppendEntries``)
LINK_BACKLOG = 1 << 20
#: the leader's term and synced index on an answer to a forwarded proposal (``paircommit``)
STAMP_TERM = "kv_term"
STAMP_SYNCED = "kv_synced"
#: marks a commit announcement that needs no reply (see ``RaftNode.quiet_reply``)
QUIET = "kv_quiet"
#: messages that promise nothing about this member's log or vote: forwarding a
#: proposal to the leader, the leader's answer with its log position,
#: questions about the leader's memory, and pre-votes (no term or vote changes)
UNSYNCED_MESSAGES = frozenset(
    {
        "apply_command",
        "apply_command_response",
        readindex.REQUEST,
        readindex.RESPONSE,
        leaderask.REQUEST,
        leaderask.RESPONSE,
        transfer.PROGRESS,
        prevote.REQUEST,
        prevote.RESPONSE,
        rtt.PING,
        rtt.PONG,
    }
)
AppliedFn = Callable[[list[Applied], Effects], None]
FatalFn = Callable[[BaseException], None]
#: the leader's answers (any thread): ``reply(answers)`` once, ``None`` for "ask again"
ReplyFn = Callable[[list[Any] | None], None]
#: hands questions to whoever answers them on the leader (tick thread)
QuestionsFn = Callable[[list[Any], ReplyFn], None]


class DurableTransport(TCPTransport):  # type: ignore[misc]
    """pysyncobj's TCP transport, syncing the journal before each send, and
    counting what each peer link carries (``peertraffic``)."""

    _server: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.traffic = PeerTraffic()
        super().__init__(*args, **kwargs)

    def send(self, node: Any, message: Any) -> bool:
        if not self._handshaken(node):
            self.counts_of(node).sent_failures += 1
            return False
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "apply_command_response" and self._syncObj.defer_answer(node, message):
            return True
        if kind == "next_node_idx" and self._syncObj.quiet_reply(node, message):
            return True
        if kind not in UNSYNCED_MESSAGES and not (
            kind == "append_entries" and self._syncObj.sending_entries
        ):
            self._syncObj.flush_journal()
        self._syncObj.outgoing(node, message)
        sent = bool(super().send(node, message))
        counts = self._take_counts(node)
        if not sent:
            counts.sent_failures += 1
        return sent

    def _onNodeConnected(self, node: Any) -> None:
        super()._onNodeConnected(node)
        self._syncObj.link_restored(node)

    def counts_of(self, node: Any) -> PeerCounts:
        """What ``node``'s link has carried, under its member's address."""
        return self.traffic.of(self.peer_address(node))

    def _take_counts(self, node: Any) -> PeerCounts:
        """``node``'s counts, with what its link carried since last asked."""
        counts = self.counts_of(node)
        conn = self._connections.get(node)
        if isinstance(conn, PeerConnection):
            sent, received = conn.take_counts()
            counts.sent_bytes += sent
            counts.received_bytes += received
        return counts

    def connected(self) -> list[Any]:
        """The peers (nodes) whose links are connected and keyed (tick thread)."""
        return [
            node
            for node, conn in list(self._connections.items())
            if conn.state == CONNECTION_STATE.CONNECTED and self._handshaken(node)
        ]

    def active(self) -> set[str]:
        """The addresses of the peers connected now (safe off the tick thread)."""
        return {
            self.peer_address(node)
            for node, conn in list(self._connections.items())
            if conn.state == CONNECTION_STATE.CONNECTED
        }

    def peer_address(self, node: Any) -> str:
        """A voter's Raft address; a learner's read-only link has only a
        number (pysyncobj's ``Node``), and its member's address is looked up."""
        address = getattr(node, "address", None)
        if address is None:
            address = self._syncObj.learner_links.address_of(node.id) or f"learner {node.id}"
        return str(address)

    def backlog(self, node: Any) -> int:
        """Bytes queued on the link to ``node`` and not yet sent (0: no link)."""
        conn = self._connections.get(node)
        return 0 if conn is None else int(conn.backlog())

    def _handshaken(self, node: Any) -> bool:
        """pysyncobj sends on a link as soon as TCP connects, but with a
        cipher the two ends first swap keys, and a message sent meanwhile goes
        out without its key: the peer drops the link for it. A member that
        reconnected after a stall then lost every new link to its own
        heartbeats or votes, and called elections until one stuck. Until the
        keys are swapped the link counts as not connected (Raft sends again)."""
        conn = self._connections.get(node)
        return conn is None or conn.encryptor is None or bool(conn.sendRandKey)

    def _onMessageReceived(self, node: Any, message: Any) -> None:
        self._take_counts(node)
        message = self._syncObj.incoming(node, message)
        if message is None:
            return
        try:
            super()._onMessageReceived(node, message)
        finally:
            self._syncObj.handled()

    def _onDisconnected(self, conn: Any) -> None:
        node = self._connToNode(conn)
        super()._onDisconnected(conn)
        if node is not None:
            self._syncObj.link_lost(node)
            if node not in self._nodes:
                self._syncObj.learner_links.left(node.id)

    def _sendSelfAddress(self, conn: Any) -> None:
        if self._selfIsReadonlyNode:
            conn.send(self._syncObj.learner_links.hello)  # a named read-only link
        else:
            super()._sendSelfAddress(conn)

    def _onIncomingMessageReceived(self, conn: Any, message: Any) -> None:
        """A read-only link is accepted only from a member (``learnerlinks``)."""
        if conn.encryptor is not None and not conn.sendRandKey:
            super()._onIncomingMessageReceived(conn, message)  # the key exchange comes first
            return
        if isinstance(message, list) and (
            not message or message[0] not in self._onUtilityMessageCallbacks
        ):
            # a question this member does not know (pysyncobj would take the
            # list for a node address and fail on it)
            conn.disconnect()
            self._unknownConnections.discard(conn)
            return
        links = self._syncObj.learner_links
        address = links.named(message)
        if address is None and message != "readonly":
            super()._onIncomingMessageReceived(conn, message)
            return
        if address is None or not links.admits(address):
            conn.disconnect()
            self._unknownConnections.discard(conn)
            return
        node_id = str(self._readonlyNodesCounter)
        super()._onIncomingMessageReceived(conn, "readonly")
        links.joined(node_id, address)

    def drop_readonly(self, node_id: str) -> None:
        """Close the read-only link ``node_id`` (its member is gone)."""
        for node in list(self._readonlyNodes):
            conn = self._connections.get(node)
            if node.id == node_id and conn is not None:
                conn.disconnect()

    def _createServer(self) -> None:
        """As pysyncobj's, but accepted links speak ``frames`` (and TLS when configured)."""
        super()._createServer()
        tls: PeerTLS | None = self._syncObj.peer_tls
        self._server = PeerServer(self._server, tls.server if tls is not None else None)

    def addNode(self, node: Any) -> None:
        """As pysyncobj's, but the outgoing link speaks ``frames`` (and TLS when configured)."""
        super().addNode(node)
        tls: PeerTLS | None = self._syncObj.peer_tls
        plain = self._connections.get(node)
        if plain is None or isinstance(plain, PeerConnection):
            return
        conn = connection_like(plain, tls.client if tls is not None else None)
        conn.encryptor = plain.encryptor
        conn.setOnConnectedCallback(functools.partial(self._onOutgoingConnected, conn))
        conn.setOnMessageReceivedCallback(functools.partial(self._onMessageReceived, node))
        conn.setOnDisconnectedCallback(functools.partial(self._onDisconnected, conn))
        self._connections[node] = conn


def _sync_journal(journal: Any) -> None:
    """fdatasync the journal file. The journal is written through a shared mmap,
    and Linux's fdatasync writes back those pages as msync would; unlike
    ``mmap.flush`` it lets go of the GIL while the disk works."""
    handle = getattr(getattr(journal, "_FileJournal__journalFile", None), "_ResizableFile__f", None)
    if handle is None:
        journal.flush()
    else:
        os.fdatasync(handle.fileno())


class RaftNode(SyncObj):  # type: ignore[misc]
    def __init__(
        self,
        self_address: str | None,
        peers: list[str],
        conf: SyncObjConf,
        fsm: StateMachine,
        on_applied: AppliedFn,
        on_fatal: FatalFn,
        on_questions: QuestionsFn,
        peer_tls: PeerTLS | None = None,
        frame_cipher: FrameCipher | None = None,
        on_released: ReleaseFn | None = None,
        commit_hold: float = 0.0,
        heartbeat: float = 0.0,
        learner_links: LearnerLinks | None = None,
        removal_check: removal.RemovalCheck | None = None,
    ) -> None:
        #: read by DurableTransport while pysyncobj builds it (inside __init__)
        self.peer_tls = peer_tls
        #: default: named after this node, admitting every named link
        self.learner_links = learner_links or LearnerLinks(self_address or "", None)
        self._frame_cipher = frame_cipher
        #: a voter that hears no leader asks whether it was removed (``removal``)
        self._removal = removal_check
        self._fsm = fsm
        self._on_applied = on_applied
        self._on_released = on_released
        self._commit_hold = commit_hold
        #: an idle leader's heartbeat period (at least pysyncobj's period)
        self._send_period = float(conf.appendEntriesPeriod)
        self._heartbeat = max(heartbeat, self._send_period)
        #: the longest sleep between ticks when nothing is under way
        self._idle_wait = self._heartbeat / 4
        #: while a batch's transaction is held open: when it was opened, the
        #: last result and the revision in it
        self._held: tuple[float, Applied, int] | None = None
        self._on_fatal = on_fatal
        self._on_questions = on_questions
        self._asks = leaderask.Outstanding()
        self._pending: list[Entry] = []
        self._fatal = False
        self._flushed_state: object = None
        #: pysyncobj rewrote its term/vote file since this member last synced it
        self._meta_dirty = True
        self._journal_path: str | None = conf.journalFile
        self._reassembly = Reassembly()
        #: (peer, cap) while handling an append-entries whose reply must be capped
        self._reply_cap: tuple[Any, int] | None = None
        self._reads = readindex.ReadIndex()
        self._pair = paircommit.PairCommit()
        self._prevote = prevote.PreVote(lease=float(conf.raftMinTimeout))
        self._progress = transfer.ProgressPacer(conf.connectionTimeout / 4)
        self._prober = rtt.Prober()
        #: the highest commit index this member, as leader, has sent to followers
        self._announced_commit = 0
        #: the leader is announcing a commit; on a follower: the leader whose
        #: announcement is being handled (see ``quiet_reply``)
        self._announcing = False
        self._quiet: Any = None
        #: (member, its next index before an acknowledgement was handled)
        self._next_floor: tuple[Any, int] | None = None
        #: the leader is sending append-entries; it syncs once they are out
        self.sending_entries = False
        self._snapshots = SnapshotWriter(str(conf.fullDumpFile), self._write_marker)
        self._sender = SnapshotSender(
            str(conf.fullDumpFile), self._write_snapshot, conf.logCompactionBatchSize
        )
        conf.serializer = self._serialize
        conf.serializeChecker = self._check_snapshot
        conf.deserializer = self._deserialize
        super().__init__(self_address, peers, conf, transportClass=DurableTransport)
        serializer = self._SyncObj__serializer
        serializer.getTransmissionData = self._sender.piece
        serializer.cancelTransmisstion = self._sender.cancel
        self._watch_meta()
        self._watch_rewrites()
        if removal_check is not None:
            self._SyncObj__transport.setOnUtilityMessageCallback(
                removal.QUESTION, self._answer_removal
            )
        # pysyncobj (in batch mode) only looks at new proposals on its next tick
        # and sends them on its next heartbeat; wake it up instead.
        self._waker = PipeNotifier(self._poller)
        self._last_early_send = 0.0
        #: answers to forwarded proposals held back while the leader queues
        #: proposals (see ``_checkCommandsToApply``); None: not queueing
        self._held_answers: list[tuple[Any, Any]] | None = None
        self._tick_calls: deque[Callable[[], None]] = deque()
        self.addOnTickCallback(self._on_tick)
        #: for /metrics: the journal's syncs, and the leaders this member has seen
        self.fsync_durations = Durations()
        self.leader_changes = 0
        self._seen_leader: Any = None

    def _onTick(self, timeToWait: float = 0.0) -> None:
        # Proposals that woke this thread go into the log first, and out in
        # an append-entries at once if the leader is idle. pysyncobj's tick
        # would first send a due heartbeat without them, and only then look
        # at new commands: one message round more for a lone write.
        if self._tick_calls and self._SyncObj__transport.ready:
            self._run_tick_calls()
            self._checkCommandsToApply()
        if self._election_due():
            # pysyncobj decides on an election before it reads its sockets. A
            # member that stalled (stopped, paused, swapped out) past its
            # election timeout would depose a leader whose append-entries are
            # waiting unread: read them first.
            self._poller.poll(0)
            self._pre_vote()
        super()._onTick(self._tick_wait(timeToWait))

    def _pre_vote(self) -> None:
        """Let pysyncobj campaign only once a majority said it would vote for
        this member; until then, ask them and put the election off (see
        ``prevote``)."""
        if not self._election_due() or self._SyncObj__selfNode is None:
            return
        term = int(self.raftCurrentTerm)
        if self._SyncObj__transferInProgress or self._prevote.may_campaign(term):
            return
        others = list(self._SyncObj__otherNodes)
        if not others:
            self._prevote.allow(term)
            return
        message = self._prevote.ask(
            term, int(self._SyncObj__getCurrentLogTerm()), int(self._SyncObj__getCurrentLogIndex())
        )
        for node in others:
            self._SyncObj__transport.send(node, dict(message))
        self._SyncObj__raftElectionDeadline = clock.now() + self._election_timeout()

    def _election_due(self) -> bool:
        """A follower or candidate whose election timeout has passed."""
        return (
            self._SyncObj__raftState != _RAFT_STATE.LEADER
            and self._SyncObj__transport.ready
            and float(self._SyncObj__raftElectionDeadline) < clock.now()
        )

    def _tick_wait(self, busy: float) -> float:
        """How long the tick may sleep: ``busy`` while anything is under way
        (see the module docstring), longer when nothing is."""
        if busy <= 0 or self._idle_wait <= busy:
            return busy
        if (
            self._tick_calls
            or self._pending
            or self._held is not None
            or self._reads.waiting
            or len(self._asks)
            or int(self.raftLastApplied) < int(self.raftCommitIndex)
        ):
            return busy
        if not self._isLeader():
            return self._idle_wait
        if not self._followers_caught_up():
            return busy
        until_heartbeat = float(self._SyncObj__newAppendEntriesTime) - clock.now()
        return max(busy, min(self._idle_wait, until_heartbeat))

    def _followers_caught_up(self) -> bool:
        """Every connected follower and learner has acknowledged the whole log
        (leader): one behind is sent to every period, not every heartbeat."""
        last = self._log_length()
        match = self._SyncObj__raftMatchIndex
        connected = self._SyncObj__connectedNodes
        nodes = self._SyncObj__otherNodes | self._SyncObj__readonlyNodes
        return all(match.get(node, 0) >= last for node in nodes if node in connected)

    def _on_tick(self) -> None:
        leader = self._SyncObj__raftLeader
        if leader is not None and leader != self._seen_leader:
            self.leader_changes += 1
        self._seen_leader = leader
        self.flush_pending()
        for node_id in self.learner_links.revoked(clock.now()):
            self._SyncObj__transport.drop_readonly(node_id)
        if self._held is not None and clock.now() - self._held[0] >= self._commit_hold:
            self.commit_held()
        self._run_tick_calls()
        self._reads_tick()
        self._probe_peers()
        self._check_removal()

    def _probe_peers(self) -> None:
        """Ping every linked peer once per probe interval (see ``rtt``)."""
        now = clock.now()
        if not self._prober.due(now):
            return
        transport = self._SyncObj__transport
        for node in transport.connected():
            transport.send(node, rtt.ping(now))

    def _check_removal(self) -> None:
        """A voter that has heard no leader for a while asks the others
        whether it was removed, and stops if so (``removal``)."""
        check = self._removal
        if check is None or self._SyncObj__selfNode is None or self._isLeader():
            return
        now = clock.now()
        if not check.due(now, self._prevote.heard_at):
            return
        conf = self._SyncObj__conf
        tls: PeerTLS | None = self.peer_tls

        def link() -> PeerConnection:
            conn = PeerConnection(
                poller=self._poller,
                timeout=conf.connectionTimeout,
                sendBufferSize=conf.sendBufferSize,
                recvBufferSize=conf.recvBufferSize,
                keepalive=conf.tcp_keepalive,
                ssl_context=tls.client if tls is not None else None,
            )
            conn.encryptor = self._frame_cipher
            return conn

        peers = [(node.ip, node.port) for node in self._SyncObj__otherNodes]
        check.ask(now, peers, link, lambda: int(self.raftLastApplied), self._removed)

    def _answer_removal(self, args: list[Any], callback: Callable[[Any, Any], None]) -> None:
        """A peer asks whether a member was removed (pysyncobj utility message)."""
        assert self._removal is not None
        callback(self._removal.answer(args, int(self.raftLastApplied)), None)

    def _removed(self) -> None:
        logger.error(
            "this member was removed from the cluster (a peer that applied the "
            "removal said so) member_id=%x",
            self._removal.member_id if self._removal is not None else 0,
        )
        self._on_fatal(MemberRemovedError())

    def _run_tick_calls(self) -> None:
        while self._tick_calls:
            call = self._tick_calls.popleft()
            try:
                call()
            except Exception:
                logger.exception("tick call failed")

    def call_on_tick(self, call: Callable[[], None]) -> None:
        """Run ``call`` on the tick thread (pysyncobj's state is not thread-safe)."""
        self._tick_calls.append(call)
        self._waker.notify()

    @property
    def encryptor(self) -> FrameCipher | None:
        """What pysyncobj's transport hands every link as its ``encryptor`` (and
        whose presence turns on pysyncobj's random-key handshake): the frame
        cipher. pysyncobj's own Fernet is never made (``password`` stays unset)."""
        return self._frame_cipher

    # ---- linearizable reads (see readindex) -----------------------------------

    def request_read(self, done: readindex.ReadDone) -> None:
        """``done(True)`` once this member has applied everything committed
        before now; ``done(False)`` if ReadIndex cannot tell (tick thread)."""
        if self._isLeader():
            self._read_index(lambda index: self._after_index(index, done))
            return
        leader = self._getLeader()
        if leader is None:
            done(False)
            return
        request_id = self._reads.ask(leader, done, clock.now())
        request = {"type": readindex.REQUEST, "id": request_id, "term": int(self.raftCurrentTerm)}
        sent = self._SyncObj__transport.send(leader, request)
        if not sent:
            self._reads.answered(request_id, None)

    def _after_index(self, index: int | None, done: readindex.ReadDone) -> None:
        if index is None:
            done(False)
        else:
            self._reads.after_applied(index, done)

    def _read_index(self, done: readindex.IndexDone, asker: Any = None) -> None:
        commit = int(self.raftCommitIndex)
        if not self._isLeader() or self._term_at(commit) != int(self.raftCurrentTerm):
            done(None)  # no entry of this term committed yet: the index may be short
            return
        self._reads.confirm(self._read_floor(), done, asker)
        if asker is not None:
            self._reads.settle(True, set(self._SyncObj__otherNodes))

    def _read_floor(self) -> int:
        """What this leader's reads, and its answers to followers' questions,
        wait for: its commit index, or more where a follower may already have
        applied more (``paircommit``)."""
        return max(int(self.raftCommitIndex), self._pair.floor(int(self.raftCurrentTerm)))

    def _reads_tick(self) -> None:
        leader = bool(self._isLeader())
        if leader and self._reads.needs_round():
            self._SyncObj__sendAppendEntries()
        self._reads.settle(leader, set(self._SyncObj__otherNodes))
        current = self._getLeader()
        now = clock.now()
        self._reads.forget_asked(current, now)
        self._asks.forget(current, now)
        if self._reads.applying:
            self.commit_held()  # the reads go to the store
        self._reads.applied(int(self.raftLastApplied))

    # ---- questions about the leader's memory (see leaderask) -------------------

    def ask_leader(self, questions: list[Any], reply: ReplyFn) -> None:
        """``reply(answers)`` from the leader, one per question, or ``reply(None)``
        when they cannot be had now (no leader, a lost message): ask again."""
        if self._isLeader():
            self._serve_questions(questions, reply)
            return
        leader = self._getLeader()
        if leader is None:
            reply(None)
            return
        request_id = self._asks.ask(leader, reply, clock.now())
        message = {"type": leaderask.REQUEST, "id": request_id, "questions": questions}
        if not self._SyncObj__transport.send(leader, message):
            self._asks.answered(request_id, None)

    def _serve_questions(self, questions: list[Any], reply: ReplyFn) -> None:
        """Answer once this leader has applied everything committed, so that
        the answers reflect every command the askers have seen applied."""
        if not self._isLeader():
            reply(None)
            return
        self.flush_pending()
        commit = self._read_floor()
        if int(self.raftLastApplied) >= commit:
            self._on_questions(questions, reply)
        else:
            self._reads.after_applied(commit, lambda _: self._on_questions(questions, reply))

    def _send_answer(self, node: Any, request_id: Any, answers: list[Any] | None) -> None:
        message = {"type": leaderask.RESPONSE, "id": request_id, "answers": answers}
        self.call_on_tick(lambda: self._SyncObj__transport.send(node, message))

    def _SyncObj__sendAppendEntries(self) -> None:
        """As pysyncobj's, but the leader syncs its journal after sending, not
        before: its own write overlaps the followers'. It counts itself for a
        commit only later on this thread, after the sync. When every follower
        has acknowledged the whole log, the next send is a heartbeat away."""
        self._reads.round += 1
        started = clock.now()
        self._count_unreachable()
        self.sending_entries = True
        held = self._hold_backlogged()
        try:
            SyncObj._SyncObj__sendAppendEntries(self)
        finally:
            self.sending_entries = False
            self._SyncObj__otherNodes.update(held[0])
            self._SyncObj__readonlyNodes.update(held[1])
        self.flush_journal()
        if self._heartbeat > self._send_period and self._followers_caught_up():
            # nothing left to send or to hear about: the next one is a heartbeat
            self._SyncObj__newAppendEntriesTime = started + self._heartbeat

    def _count_unreachable(self) -> None:
        """pysyncobj leaves a member it is not connected to out of a send
        round; etcd counts such a message as a failed send to that peer
        (what its members-down alert reads): so does this."""
        connected = self._SyncObj__connectedNodes
        for node in self._SyncObj__otherNodes | self._SyncObj__readonlyNodes:
            if node not in connected:
                self._SyncObj__transport.counts_of(node).sent_failures += 1

    def _hold_backlogged(self) -> tuple[set[Any], set[Any]]:
        """Take out of this send round (voters, read-only nodes) whose links
        still hold more than ``LINK_BACKLOG`` bytes unsent. pysyncobj sends a
        member that is behind as much of the log as fits in its period, every
        period, whatever the link drains: a restarted member missing 140 MB of
        log had the leader queue 287 MB for it, copied again as the buffer
        grew, and it caught up in 18-42 s. The member's next entries, or the
        next piece of its snapshot, go out in a later round, once its link
        has drained below the bound (its place in the log is kept)."""
        transport = self._SyncObj__transport
        held: tuple[set[Any], set[Any]] = (set(), set())
        for nodes, out in zip(
            (self._SyncObj__otherNodes, self._SyncObj__readonlyNodes), held, strict=True
        ):
            for node in nodes:
                if transport.backlog(node) > LINK_BACKLOG:
                    out.add(node)
            nodes.difference_update(out)
        return held

    # ---- latency: propose, replicate and commit without waiting for a period ----

    def _applyCommand(self, command: Any, callback: Any, commandType: Any = None) -> None:
        super()._applyCommand(command, callback, commandType)
        self._waker.notify()  # runs _checkCommandsToApply on the tick thread now

    def _checkCommandsToApply(self) -> None:
        before = self._log_length()
        # pysyncobj answers each forwarded proposal (with its log position) as
        # it queues it; those answers go out after the append-entries below,
        # which is what the forwarding member's write waits for.
        self._held_answers = []
        try:
            super()._checkCommandsToApply()
            if self._isLeader() and self._log_length() != before:
                # Everything queued this tick leaves in one append-entries
                # message: at once when nothing is in flight (a lone write
                # waits for nothing); otherwise at most every
                # EARLY_SEND_INTERVAL, or with the next commit announcement,
                # so that entries batch under load.
                idle = int(self.raftCommitIndex) >= before
                if idle or self._may_send_early():
                    self._last_early_send = clock.now()
                    self._SyncObj__sendAppendEntries()
        finally:
            held, self._held_answers = self._held_answers, None
            for node, message in held:
                self._SyncObj__transport.send(node, message)

    def defer_answer(self, node: Any, message: Any) -> bool:
        """Hold an answer to a forwarded proposal until the append-entries
        carrying it is out (True), when the leader is queueing proposals."""
        if self._held_answers is None:
            return False
        self._held_answers.append((node, message))
        return True

    def _SyncObj__applyLogEntries(self) -> bool:
        # A leader that just committed tells the followers at once, before it
        # applies the entries itself, so that they apply (and answer their
        # forwarded proposals and reads) in parallel with it. Not throttled: a
        # commit follows an acknowledgement, so this sends at most one message
        # per round trip; waiting for the heartbeat, or for the leader's own
        # apply, would add to every write sent to a follower.
        commit = int(self.raftCommitIndex)
        if self._isLeader() and commit > self._announced_commit:
            self._announced_commit = commit
            self._last_early_send = clock.now()
            self._announcing = True
            try:
                self._SyncObj__sendAppendEntries()
            finally:
                self._announcing = False
        elif self._SyncObj__selfNode is not None:
            self._commit_from_leader_journal()
        return bool(SyncObj._SyncObj__applyLogEntries(self))

    def _commit_from_leader_journal(self) -> None:
        """A voting follower's commit, as its own journal and the leader's
        stamped one tell it (see ``paircommit``)."""
        voters = len(self._SyncObj__otherNodes) + 1
        commit = self._pair.commit(
            int(self.raftCurrentTerm), int(self.raftCommitIndex), voters, self._term_at
        )
        if commit is not None:
            self._SyncObj__raftCommitIndex = commit
            self._SyncObj__raftLog.setRaftCommitIndex(commit)

    def _may_send_early(self) -> bool:
        """At most one early append-entries per ``EARLY_SEND_INTERVAL``: under
        load, batches form by themselves and extra messages only cost CPU."""
        now = clock.now()
        if now - self._last_early_send < EARLY_SEND_INTERVAL:
            return False
        self._last_early_send = now
        return True

    def _log_length(self) -> int:
        log = self._SyncObj__raftLog
        return int(log[-1][1]) if len(log) else 0

    # ---- Raft's follower rules (see appendentries) --------------------------

    def incoming(self, node: Any, message: Any) -> Any:
        """The message pysyncobj should see, or None to drop it (tick thread)."""
        if not isinstance(message, dict):
            return message
        term = int(self.raftCurrentTerm)
        if stale_reply(message, term):
            return None
        kind = message.get("type")
        if kind == "next_node_idx":
            if self._isLeader():
                if "rseq" in message:
                    self._reads.acked(node, int(message["rseq"]))
                if message.get("success") and not message.get("reset"):
                    self._next_floor = (node, int(self._SyncObj__raftNextIndex.get(node, 0)))
            return message
        if kind == "apply_command_response":
            if message.get(STAMP_TERM) == term and node == self._SyncObj__raftLeader:
                self._pair.heard(term, int(message[STAMP_SYNCED]))
            return message
        if kind == readindex.REQUEST:
            request_id = message.get("id")
            # a voter asking in this term has answered for its read (see readindex)
            voter = message.get("term") == term and node in self._SyncObj__otherNodes
            answer = functools.partial(self._answer_read, node, request_id)
            self._read_index(answer, node if voter else None)
            return None
        if kind == readindex.RESPONSE:
            self._reads.answered(int(message["id"]), message.get("index"))
            return None
        if kind == leaderask.REQUEST:
            request_id = message.get("id")
            questions = list(message.get("questions") or ())
            self._serve_questions(questions, lambda a: self._send_answer(node, request_id, a))
            return None
        if kind == leaderask.RESPONSE:
            self._asks.answered(int(message["id"]), message.get("answers"))
            return None
        if kind == transfer.PROGRESS:
            return None  # read: the link stays up; nothing else to do
        if kind == rtt.PING:
            self._SyncObj__transport.send(node, rtt.pong(message))
            return None
        if kind == rtt.PONG:
            took = rtt.round_trip(message, clock.now())
            if took is not None:
                self._SyncObj__transport.counts_of(node).round_trips.observe(took)
            return None
        if kind == prevote.REQUEST:
            self._answer_pre_vote(node, message, term)
            return None
        if kind == prevote.RESPONSE:
            self._pre_vote_answered(node, message, term)
            return None
        if kind != "append_entries":
            return message
        if transfer.is_snapshot_piece(message) and self._progress.due(node, clock.now()):
            self._SyncObj__transport.send(node, {"type": transfer.PROGRESS})
        self._reads.echo = message.get("rseq")
        # set or cleared by every append-entries, whatever became of the last one
        self._quiet = node if message.get(QUIET) else None
        message = self._reassembly.feed(node, message)
        if int(message.get("term", -1)) < term:
            return message  # pysyncobj ignores it
        self._prevote.heard_leader(clock.now())
        normalized = normalize(message, self._term_at, self._log_length())
        if normalized.reply_cap is not None:
            self._reply_cap = (node, normalized.reply_cap)
        return normalized.message

    def _answer_pre_vote(self, node: Any, message: dict[str, Any], term: int) -> None:
        granted = self._prevote.grants(
            message,
            clock.now(),
            leader=bool(self._isLeader()),
            term=term,
            last_term=int(self._SyncObj__getCurrentLogTerm()),
            last_index=int(self._SyncObj__getCurrentLogIndex()),
        )
        answer = {
            "type": prevote.RESPONSE,
            "term": message.get("term"),
            "granted": granted,
            "current_term": term,
        }
        self._SyncObj__transport.send(node, answer)

    def _pre_vote_answered(self, node: Any, message: dict[str, Any], term: int) -> None:
        if self._isLeader():
            return
        voters = len(self._SyncObj__otherNodes) + 1
        if self._prevote.answered(node, message, term, voters):
            self._SyncObj__raftElectionDeadline = 0  # campaign on the next tick
            return
        higher = int(message.get("current_term", -1))
        if not message.get("granted") and higher > term:
            # Raft's rule for a message from a higher term: take it, as a follower
            self._SyncObj__setCurrentTerm(higher, None)
            self._SyncObj__setState(_RAFT_STATE.FOLLOWER)
            self._SyncObj__raftLeader = None

    def link_lost(self, node: Any) -> None:
        """The connection to ``node`` dropped, and the messages queued on it
        with it: a snapshot transfer to it starts over (see ``transfer``)."""
        self._SyncObj__serializer.cancelTransmisstion(node)

    def link_restored(self, node: Any) -> None:
        """A link to ``node`` is up (again). If ``node`` leads, the proposals
        forwarded to it that await its answer may have been lost with the old
        link, or dropped unsent while there was none: pysyncobj would leave
        them waiting for the request timeout though the leader is back within
        a reconnect. They fail as after a leader change, and the proposer
        sends them again (it applies a request ID once)."""
        if node == self._getLeader() and self._SyncObj__commandsWaitingReply:
            self._SyncObj__onLeaderChanged()

    def handled(self) -> None:
        self._reply_cap = None
        self._reads.echo = None
        self._quiet = None
        if self._next_floor is not None:
            self._keep_next_index(*self._next_floor)
            self._next_floor = None

    def _keep_next_index(self, node: Any, before: int) -> None:
        """pysyncobj sets a member's next index to just past what it
        acknowledged, behind the entries already sent and not yet
        acknowledged: the next round sent those again. Under load each
        acknowledgement arrives after further sends, and a member catching up
        was sent its missing log about twice. A success only moves the next
        index forward; a refusal (``reset``) still moves it back, as does a
        link lost with entries on it (the member refuses what follows a gap)."""
        next_index = self._SyncObj__raftNextIndex
        if node in next_index and next_index[node] < before:
            next_index[node] = before

    def quiet_reply(self, node: Any, message: Any) -> bool:
        """A follower does not acknowledge a commit announcement that it
        took without trouble: the leader learns nothing from the reply (an
        empty append-entries moves no index), and on 2 shared cores two
        replies per write competed with the leader's answer. Heartbeats and
        entries are still acknowledged; so are announcements while reads
        wait for a round (``readindex``)."""
        return self._quiet == node and bool(message.get("success")) and not message.get("reset")

    def _answer_read(self, node: Any, request_id: Any, index: int | None) -> None:
        response = {"type": readindex.RESPONSE, "id": request_id, "index": index}
        self._SyncObj__transport.send(node, response)

    def outgoing(self, node: Any, message: Any) -> None:
        if not isinstance(message, dict):
            return
        stamp_reply(message, int(self.raftCurrentTerm))
        kind = message.get("type")
        if kind == "apply_command_response" and "error" not in message and self._isLeader():
            term = int(self.raftCurrentTerm)
            message[STAMP_TERM] = term
            message[STAMP_SYNCED] = self._pair.stamp(term, self._term_at)
        if kind == "append_entries":
            message["rseq"] = self._reads.round
            if (
                self._announcing
                and "prevLogIdx" in message
                and not message.get("entries")
                and "transmission" not in message
                and not self._reads.confirming
            ):
                message[QUIET] = True
        elif kind == "next_node_idx" and self._reads.echo is not None:
            message["rseq"] = self._reads.echo
        if self._reply_cap is not None and self._reply_cap[0] == node:
            cap_reply(message, self._reply_cap[1])

    def _term_at(self, index: int) -> int | None:
        log = self._SyncObj__raftLog
        if not len(log):
            return None
        first = int(log[0][1])
        if index < first or index > int(log[-1][1]):
            return None
        return int(log[index - first][2])

    # ---- apply ----------------------------------------------------------------

    @replicated  # type: ignore[untyped-decorator]
    def apply_command(self, data: bytes) -> None:
        if self._fatal:
            return
        try:
            index = self.raftLastApplied + 1
            log = self._SyncObj__raftLog
            entry = log[index - log[0][1]]
            if entry[1] != index:
                raise RuntimeError(f"raft log lookup returned {entry[1]} for index {index}")
            self._pending.append(Entry(index, entry[2], data))
            if index >= self.raftCommitIndex:
                self.flush_pending()
        except BaseException as exc:  # never let pysyncobj retry forever
            self._die(exc)

    def flush_pending(self) -> None:
        """Apply the collected entries as one batch (tick thread only)."""
        if not self._pending or self._fatal:
            return
        batch, self._pending = self._pending, []
        held = self._held
        hold = self._commit_hold > 0 and (held is None or clock.now() - held[0] < self._commit_hold)
        try:
            results, effects = self._fsm.apply_batch(batch, self._on_released, hold)
        except BaseException as exc:
            self._die(exc)
            return
        if self._fsm.holding:
            since = clock.now() if held is None else held[0]
            self._held = (since, results[-1], effects.revision)
        else:
            self._held = None
            self._on_applied(results, effects)

    def commit_held(self) -> None:
        """Commit the batches held open, and say they are visible (tick thread)."""
        held, self._held = self._held, None
        if held is None or self._fatal:
            return
        try:
            self._fsm.commit_held()
        except BaseException as exc:
            self._die(exc)
            return
        self._on_applied([held[1]], Effects(revision=held[2]))

    def _die(self, exc: BaseException) -> None:
        self._fatal = True
        self._held = None
        self._fsm.abort_held()
        logger.critical("apply failed; this member stops error=%r", exc)
        self._on_fatal(exc)

    # ---- durability -------------------------------------------------------

    def flush_journal(self) -> None:
        """Sync the journal if it changed; fsync the term/vote file if it changed."""
        journal = self._SyncObj__raftLog
        offset = getattr(journal, "_FileJournal__currentOffset", None)
        if offset is not None:
            # the offset alone can come back to an old value after a truncation
            last = journal[-1] if len(journal) else (None, 0, 0)
            state = (offset, len(journal), last[1], last[2])
            if state != self._flushed_state:
                started = time.perf_counter()
                _sync_journal(journal)
                self.fsync_durations.observe(time.perf_counter() - started)
                self._flushed_state = state
                self._pair.synced = (int(last[1]), int(last[2]))
        if self._meta_dirty and self._journal_path is not None:
            meta = self._journal_path + ".meta"
            try:
                fsync_path(meta)
            except FileNotFoundError:
                return
            # pysyncobj replaces the file by a rename: the directory entry too
            fsync_path(os.path.dirname(meta) or ".")
            self._meta_dirty = False

    def _watch_meta(self) -> None:
        """Note each time pysyncobj rewrites its term/vote file, so that the
        next send syncs it, without a stat of the file before every send
        (~30 µs right after a journal sync here, on every write's path)."""
        storer = getattr(self._SyncObj__raftLog, "_FileJournal__metaStorer", None)
        if storer is None:
            return
        store = storer.storeMeta

        def stored(meta: Any) -> None:
            store(meta)
            self._meta_dirty = True

        storer.storeMeta = stored

    def _watch_rewrites(self) -> None:
        """pysyncobj writes its journal again from the start when it installs a
        snapshot (``clear``, then the snapshot's two entries): they are at new
        places in the file, unsynced, even where their indexes, terms and the
        file's length come out as before. Until the next sync nothing in it
        counts as synced (``paircommit``), and that sync is not skipped.

        It would compact the log the same way, where a crash halfway loses
        entries this member may have acknowledged: compaction writes the kept
        entries to a second file, synced, and renames it over the journal
        instead (``journalcompact``)."""
        journal = self._SyncObj__raftLog
        if self._journal_path is not None:
            journal.deleteEntriesTo = functools.partial(
                journalcompact.compact_to, journal, self._journal_path
            )
        clear = journal.clear

        def cleared() -> None:
            self._pair.synced = (0, 0)
            self._flushed_state = None
            clear()

        journal.clear = cleared

    # ---- snapshots ------------------------------------------------------------

    def _serialize(self, path: str, raft_data: Any) -> None:
        """Everything applied and committed first, then the store is synced and
        the marker written on a thread of its own (``snapshotwriter``): the
        tick thread goes on sending heartbeats."""
        self.flush_pending()
        self.commit_held()
        self._snapshots.start(path, raft_data)

    def _write_marker(self, path: str, raft_data: Any) -> None:
        write_marker(self._fsm.store, path, raft_data)

    def _check_snapshot(self) -> int:
        state = self._snapshots.check()
        if state == SERIALIZER_STATE.SUCCESS:
            self._sender.drop_stale()
        return state

    def _write_snapshot(self, path: str, raft_data: Any) -> None:
        """A whole snapshot, for a member behind the log (``snapshotsend``):
        not synced, since only a transfer reads it (an fsync of the whole
        copy would hold up the journal's syncs on the same disk)."""
        write_snapshot(self._fsm.store, path, raft_data, sync=False)

    def destroy(self) -> None:
        """As pysyncobj's, and the tick thread hears of it now, not after its sleep."""
        super().destroy()
        if self._SyncObj__conf.autoTick:
            self._waker.notify()

    def _doDestroy(self) -> None:
        self.commit_held()
        if self._removal is not None:
            self._removal.close()
        super()._doDestroy()
        self._snapshots.stop()
        self._sender.stop()

    def _deserialize(self, path: str) -> Any:
        self.commit_held()  # the store is read, and may be replaced
        self._snapshots.abandon()  # the dump file is the leader's now
        try:
            raft_data, installed = read_snapshot(self._fsm.store, path)
        except SnapshotCorrupt as exc:
            # pysyncobj gives up on this dump; the leader sends one again
            logger.warning("snapshot refused path=%s error=%s", path, exc)
            raise
        if not is_marker(path):
            # the store holds it now; the copy would only take disk space
            replace_with_marker(self._fsm.store, path, raft_data)
        with self._fsm.store.read() as view:
            revision, applied = view.revision, view.applied[0]
        snapshot_index = int(raft_data[0][1])
        if applied < snapshot_index:
            # pysyncobj will not replay entries up to ``snapshot_index`` through
            # apply. No-op and membership entries explain a gap; a command among
            # them would be missing here. Logged so that a divergence (seen once
            # in the chaos suite) can be traced.
            logger.warning(
                "snapshot raft index ahead of the state machine snapshot_index=%d "
                "applied_index=%d pysyncobj_last_applied=%d",
                snapshot_index,
                applied,
                self.raftLastApplied,
            )
        if installed:
            self._on_applied([], Effects(revision=revision, reset=True))
            # Installing took this thread a while, with no append-entries read
            # meanwhile: do not take the leader for lost on that account.
            self._SyncObj__raftElectionDeadline = clock.now() + self._election_timeout()
        if self._SyncObj__needLoadDumpFile:
            self._align_journal(raft_data)
        return raft_data

    def _align_journal(self, raft_data: Any) -> None:
        """At start-up: cut the journal to the dump's two entries when it holds
        them past its start.

        The dump replaces the old one just before the journal is compacted
        (pysyncobj, on the tick thread). A member killed in between restarts
        with a dump newer than its journal's first entries, and pysyncobj,
        finding that the journal does not start with the dump's entries,
        clears it and keeps only those two: the entries after them, which
        this member may have acknowledged, were gone from its log. Compacted
        here first, the journal starts with the dump's entries and is kept."""
        journal = self._SyncObj__raftLog
        last, before = raft_data[0], raft_data[1]
        if len(journal) < 2:
            return
        at = int(before[1]) - int(journal[0][1])
        if at <= 0 or at + 1 >= len(journal):
            return  # starts with them already, or does not hold both
        if journal[at] != before or journal[at + 1] != last:
            return  # another history: pysyncobj replaces it with the dump's
        logger.info(
            "journal compacted to the snapshot at start-up first=%d snapshot_index=%d",
            int(journal[0][1]),
            int(last[1]),
        )
        self._SyncObj__deleteEntriesTo(int(before[1]))

    def _election_timeout(self) -> float:
        return float(self._SyncObj__generateRaftTimeout())

    # ---- state ----------------------------------------------------------------

    def leader_commit(self) -> int | None:
        """The commit index the leader last announced (None: not heard yet);
        unlike ``raftCommitIndex`` not capped by this member's own log."""
        value = self._SyncObj__leaderCommitIndex
        return None if value is None else int(value)

    def peer_links(self) -> list[tuple[str, PeerCounts, bool]]:
        """(address, what its link carried, connected now) of every voting
        peer and every peer counted so far (safe off the tick thread).
        Every member links to every other, whether or not Raft has sent on
        the link yet (followers seldom send to each other)."""
        transport = self._SyncObj__transport
        active = transport.active()
        counted = dict(transport.traffic.items())
        addresses = {str(node.address) for node in list(self._SyncObj__otherNodes)} | set(counted)
        return [
            (address, counted.get(address) or PeerCounts(), address in active)
            for address in sorted(addresses)
        ]

    def match_indexes(self) -> dict[Any, int]:
        """The leader's view of what each follower and learner has acknowledged
        (a copy; safe to call off the tick thread)."""
        return dict(self._SyncObj__raftMatchIndex)

    def leader_address(self) -> str | None:
        """The leader this member hears; None while it has none, or is looking
        for one because its election timeout passed without hearing it (so a
        member cut off from the cluster says it has no leader, as in etcd)."""
        if not self._isLeader() and self._prevote.searching:
            return None
        leader = self._getLeader()
        return None if leader is None else str(leader.address)

    def is_leader(self) -> bool:
        return bool(self._isLeader())
