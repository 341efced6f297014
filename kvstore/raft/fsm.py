"""The replicated state machine: decode a committed command, apply it, record it.

One ``apply_batch`` call is one LMDB write transaction (group commit): the
entries, their results and the last applied index/term become durable together.
A command that fails leaves no trace. Every command checks what can fail before
it writes, so entries run straight in the batch transaction; should a command
ever fail after writing, the whole batch is redone with each entry in its own
nested transaction (slower, same result: apply is deterministic). Entries at or
below the stored applied index are skipped: that makes
replay after a restart exactly-once. Apply is deterministic (no clock, no
randomness) and never raises for a bad request — it returns the error as the
entry's result. A command that cannot be decoded is a bug: it raises
``CorruptCommandError`` and the member must stop.

A Raft member may also *hold* a batch's transaction open (``hold=True``) when
the batch only writes keys: the next batches join it, and ``commit_held``
commits them together, with one sync. The Raft journal, synced on a majority
before an entry commits, is the durable record meanwhile: entries lost with an
open transaction (a crash) are applied again from it on restart.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError, Message

from kvstore.auth.mgmt import AUTH_OPS, apply_auth
from kvstore.auth.perms import AuthState
from kvstore.config import LeaseConfig
from kvstore.errors import (
    CompactedError,
    FutureRevisionError,
    KvError,
    LeaseExistsError,
    LeaseNotFoundError,
    NoSpaceError,
)
from kvstore.pb import command_pb2, rpc_pb2
from kvstore.raft import kvops
from kvstore.storage.backend import MapFullRetry
from kvstore.storage.effects import Effects
from kvstore.storage.store import MvccStore
from kvstore.storage.write import WriteView

logger = logging.getLogger(__name__)


#: request IDs remembered per member for de-duplication of retried proposals
REQUEST_WINDOW = 100_000


class Duplicate:
    """The result of a proposal applied earlier: its first result already went out."""


DUPLICATE = Duplicate()

Result = Message | KvError | Duplicate | None


class CorruptCommandError(RuntimeError):
    """A committed entry could not be decoded: replicas would drift; stop."""


class _Aborted(Exception):
    """Thrown into a held write transaction to abort it."""


class _FailedAfterWriting(Exception):
    """A command raised its error after it had written: redo the batch isolated."""

    def __init__(self, index: int, error: KvError) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error


@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    term: int
    data: bytes


@dataclass(slots=True)
class Applied:
    index: int
    result: Result
    revision: int
    #: who proposed it: the proposing member resolves its caller by request id
    member_id: int = 0
    request_id: int = 0


#: sees a batch's results and effects once they are final, before its
#: transaction commits
ReleaseFn = Callable[[list[Applied], Effects], None]

#: the commands a held transaction may take: they only write keys
KEY_COMMANDS = frozenset(("put", "delete_range", "txn"))


@dataclass(slots=True)
class _Open:
    """A write transaction left open after its batch (see ``hold``)."""

    stack: contextlib.ExitStack
    view: WriteView
    #: the entries applied in it, to redo them should it be lost to a full map
    entries: list[Entry] = field(default_factory=list)


class StateMachine:
    def __init__(self, store: MvccStore, lease: LeaseConfig) -> None:
        self._store = store
        self._lease = lease
        self._open: _Open | None = None
        #: entries of a held transaction that was aborted: applied again,
        #: silently (their results went out), before anything else
        self._redo: list[Entry] = []

    @property
    def store(self) -> MvccStore:
        return self._store

    @property
    def holding(self) -> bool:
        """A batch's transaction is open, uncommitted (see ``apply_batch``)."""
        return self._open is not None or bool(self._redo)

    def applied_index(self) -> int:
        with self._store.read() as view:
            return view.applied[0]

    def apply_batch(
        self, entries: list[Entry], release: ReleaseFn | None = None, hold: bool = False
    ) -> tuple[list[Applied], Effects]:
        """Apply ``entries`` in one write transaction; their results and effects.

        ``release`` sees the results before the transaction commits (and
        syncs): they are final by then, as apply is deterministic and the
        entries are committed in the Raft log. It may see them twice, if the
        batch is redone after a full map.

        ``hold``: if every command of the batch writes keys, the transaction
        stays open (``holding``) and the next batches join it, until a batch
        that does more, or ``commit_held``. Only for entries durable
        elsewhere (a Raft journal).
        """
        isolate = False
        while True:
            try:
                return self._apply_once(entries, isolate, release, hold)
            except MapFullRetry:
                logger.info("map grown; re-applying batch entries=%d", len(entries))
            except _FailedAfterWriting as exc:
                logger.warning(
                    "command failed after writing; re-applying batch with nested "
                    "transactions index=%d error=%r",
                    exc.index,
                    exc.error,
                )
                isolate = True

    def commit_held(self) -> None:
        """Commit the held transaction, if one is open."""
        while self.holding:
            opened = self._begin()
            self._open = None
            try:
                opened.stack.close()
            except MapFullRetry:
                logger.info("map grown; re-applying held entries=%d", len(opened.entries))
                self._redo = opened.entries

    def abort_held(self) -> None:
        """Drop the held transaction (the member stops: the journal replays it)."""
        opened, self._open, self._redo = self._open, None, []
        if opened is not None:
            with contextlib.suppress(_Aborted):
                opened.stack.__exit__(_Aborted, _Aborted(), None)

    def _begin(self) -> _Open:
        """The held transaction, or a new one with the entries to redo in it."""
        if self._open is not None:
            return self._open
        stack = contextlib.ExitStack()
        opened = _Open(stack, stack.enter_context(self._store.write()))
        redo, self._redo = self._redo, []
        self._open = opened
        if not redo:
            return opened
        try:
            self._apply_entries(opened.view, redo, True, [], Effects())
        except BaseException as exc:
            self._abort(opened, redo, exc)
            raise
        opened.entries.extend(redo)
        return opened

    def _abort(self, opened: _Open, redo: list[Entry], exc: BaseException) -> None:
        """Abort ``opened`` after ``exc``; ``redo`` is applied again in the next
        transaction. The write context maps a full map to ``MapFullRetry``."""
        self._open = None
        self._redo = redo
        opened.stack.__exit__(type(exc), exc, exc.__traceback__)

    def _apply_once(
        self, entries: list[Entry], isolate: bool, release: ReleaseFn | None, hold: bool
    ) -> tuple[list[Applied], Effects]:
        """Apply ``entries`` in the held write transaction, or a new one.

        ``isolate``: run each entry in a nested transaction (the slow path, taken
        only after a command failed once it had written something).
        """
        results: list[Applied] = []
        effects = Effects()
        opened = self._begin()
        mark = len(opened.entries)
        try:
            batch = opened.view
            keys_only = self._apply_entries(batch, entries, isolate, results, effects)
            effects.revision = batch.revision
            opened.entries.extend(entries)
            if release is not None:
                release(results, effects)
        except BaseException as exc:
            self._abort(opened, opened.entries[:mark], exc)
            raise
        if hold and keys_only:
            return results, effects
        self._open = None
        try:
            opened.stack.close()
        except MapFullRetry:
            self._redo = opened.entries[:mark]
            raise
        return results, effects

    def _apply_entries(
        self,
        batch: WriteView,
        entries: list[Entry],
        isolate: bool,
        results: list[Applied],
        effects: Effects,
    ) -> bool:
        """Apply the entries not applied before and record the last one's
        index; whether their commands only write keys (see ``hold``)."""
        applied_index = batch.applied[0]
        last: Entry | None = None
        keys_only = True
        for entry in entries:
            applied = self._apply_entry(batch, applied_index, entry, isolate, results, effects)
            if applied is not None:
                last = entry
                keys_only = keys_only and applied
        if last is not None:
            batch.set_applied(last.index, last.term)
        return keys_only

    def _apply_entry(
        self,
        batch: WriteView,
        applied_index: int,
        entry: Entry,
        isolate: bool,
        results: list[Applied],
        effects: Effects,
    ) -> bool | None:
        """Apply one entry's commands: None if it was applied before, else
        whether they only write keys (see ``hold``)."""
        if entry.index <= applied_index:
            results.append(Applied(entry.index, None, batch.revision))
            return None
        cmd = _decode(entry)
        commands = cmd.batch.commands if cmd.WhichOneof("op") == "batch" else (cmd,)
        keys_only = True
        for one in commands:
            results.append(self._apply_command(batch, entry.index, one, isolate, effects))
            keys_only = keys_only and one.WhichOneof("op") in KEY_COMMANDS
        return keys_only

    def _apply_command(
        self,
        batch: WriteView,
        index: int,
        cmd: command_pb2.Command,
        isolate: bool,
        effects: Effects,
    ) -> Applied:
        """One command of entry ``index`` (an entry holds one, or a batch of them)."""
        if cmd.request_id and not batch.remember_request(
            cmd.member_id, cmd.request_id, index, REQUEST_WINDOW
        ):
            return Applied(index, DUPLICATE, batch.revision)
        result: Result
        if isolate:
            backend = self._store.backend
            child = backend.env.begin(write=True, parent=batch.txn)
            view = WriteView(backend, child)
            try:
                result = self._dispatch(view, cmd, effects)
            except KvError as exc:
                child.abort()
                result = exc
            else:
                child.commit()
        else:
            writes = batch.writes
            try:
                result = self._dispatch(batch, cmd, effects)
            except KvError as exc:
                if batch.writes != writes:
                    raise _FailedAfterWriting(index, exc) from exc
                batch.discard_revision()
                result = exc
        return Applied(index, result, batch.revision, cmd.member_id, cmd.request_id)

    def _dispatch(self, view: WriteView, cmd: command_pb2.Command, effects: Effects) -> Result:
        kind = cmd.WhichOneof("op")
        if cmd.HasField("auth_revision") and cmd.auth_revision != view.auth_revision:
            # users or roles changed since the edge checked: check again, here,
            # so a revoked permission never lets a write through
            AuthState.load(view).check_command(cmd, view.lease_keys)
        if kind in AUTH_OPS:
            return apply_auth(view, cmd, effects)
        if view.nospace_alarm and kvops.needs_space(cmd):
            # decided by the replicated alarm, so every member refuses alike
            raise NoSpaceError()
        if kind in ("put", "delete_range", "txn"):
            view.begin_revision()
            if kind == "put":
                resp: Message = kvops.apply_put(view, cmd.put)
            elif kind == "delete_range":
                resp = kvops.apply_delete(view, cmd.delete_range)
            else:
                resp = kvops.apply_txn(view, cmd.txn)
            rev, events = view.end_revision()
            resp.header.revision = rev  # type: ignore[attr-defined]
            if events:
                effects.events.append((rev, events))
            return resp
        if kind == "compaction":
            return self._compact(view, cmd.compaction)
        if kind == "lease_grant":
            return self._grant(view, cmd.lease_grant, effects)
        if kind == "lease_revoke":
            return self._revoke(view, cmd.lease_revoke, effects)
        if kind == "alarm":
            return self._alarm(view, cmd.alarm)
        if kind == "lease_keepalive":
            return self._keepalive(view, cmd.lease_keepalive, effects)
        if kind == "member_publish":
            view.member_put(cmd.member_publish)
            return None
        if kind == "member_add":
            member = cmd.member_add
            view.member_put(member, revive=True)
            if cmd.cluster_id:
                view.set_cluster_id(cmd.cluster_id)
            if cmd.promote_when_caught_up and member.isLearner:
                view.set_auto_promote(member.ID)
            elif view.auto_promote == member.ID:
                view.set_auto_promote(0)  # promoted (or added again, as itself)
            return None
        if kind == "member_remove":
            view.member_remove(cmd.member_remove.ID)
            if view.auto_promote == cmd.member_remove.ID:
                view.set_auto_promote(0)
            return None
        if kind == "barrier":
            return None
        raise CorruptCommandError(f"unknown command type {kind!r}")

    def _compact(self, view: WriteView, req: rpc_pb2.CompactionRequest) -> Message:
        if req.revision <= view.compacted:
            raise CompactedError()
        if req.revision > view.revision:
            raise FutureRevisionError()
        view.set_compacted(req.revision)
        resp = rpc_pb2.CompactionResponse()
        resp.header.revision = view.revision
        return resp

    def _grant(self, view: WriteView, req: rpc_pb2.LeaseGrantRequest, effects: Effects) -> Message:
        if view.lease_ttl(req.ID) is not None:
            raise LeaseExistsError()
        ttl = max(req.TTL, self._lease.min_ttl)
        view.lease_grant(req.ID, ttl)
        effects.granted.append((req.ID, ttl))
        resp = rpc_pb2.LeaseGrantResponse(ID=req.ID, TTL=ttl)
        resp.header.revision = view.revision
        return resp

    def _revoke(
        self, view: WriteView, req: rpc_pb2.LeaseRevokeRequest, effects: Effects
    ) -> Message:
        if view.lease_ttl(req.ID) is None:
            raise LeaseNotFoundError()
        view.begin_revision()
        view.lease_revoke(req.ID)
        rev, events = view.end_revision()
        if events:
            effects.events.append((rev, events))
        effects.revoked.append(req.ID)
        resp = rpc_pb2.LeaseRevokeResponse()
        resp.header.revision = rev
        return resp

    def _keepalive(
        self, view: WriteView, req: rpc_pb2.LeaseKeepAliveRequest, effects: Effects
    ) -> Message:
        """A keep-alive in the log: no longer proposed (the leader renews in
        memory, see ``kvstore.lease.lessor``), still applied for journals and
        snapshots written before."""
        ttl = view.lease_ttl(req.ID)
        if ttl is not None:
            effects.renewed.append(req.ID)
        resp = rpc_pb2.LeaseKeepAliveResponse(ID=req.ID, TTL=ttl or 0)
        resp.header.revision = view.revision
        return resp

    def _alarm(self, view: WriteView, req: rpc_pb2.AlarmRequest) -> Message:
        if req.alarm in (rpc_pb2.NOSPACE, rpc_pb2.NONE):
            if req.action == rpc_pb2.AlarmRequest.ACTIVATE and req.alarm == rpc_pb2.NOSPACE:
                view.set_nospace_alarm(True)
            elif req.action == rpc_pb2.AlarmRequest.DEACTIVATE:
                view.set_nospace_alarm(False)
        resp = rpc_pb2.AlarmResponse()
        resp.header.revision = view.revision
        return resp


def _decode(entry: Entry) -> command_pb2.Command:
    cmd = command_pb2.Command()
    try:
        cmd.ParseFromString(entry.data)
    except DecodeError as exc:
        raise CorruptCommandError(f"entry {entry.index} cannot be decoded") from exc
    return cmd
