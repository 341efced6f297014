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
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

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


#: sees a batch's results once they are final, before its transaction commits
ReleaseFn = Callable[[list[Applied]], None]


class StateMachine:
    def __init__(self, store: MvccStore, lease: LeaseConfig) -> None:
        self._store = store
        self._lease = lease

    @property
    def store(self) -> MvccStore:
        return self._store

    def applied_index(self) -> int:
        with self._store.read() as view:
            return view.applied[0]

    def apply_batch(
        self, entries: list[Entry], release: ReleaseFn | None = None
    ) -> tuple[list[Applied], Effects]:
        """Apply ``entries`` in one write transaction; their results and effects.

        ``release`` sees the results before the transaction commits (and
        syncs): they are final by then, as apply is deterministic and the
        entries are committed in the Raft log. It may see them twice, if the
        batch is redone after a full map.
        """
        isolate = False
        while True:
            try:
                return self._apply_once(entries, isolate, release)
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

    def _apply_once(
        self, entries: list[Entry], isolate: bool, release: ReleaseFn | None
    ) -> tuple[list[Applied], Effects]:
        """Apply ``entries`` in one write transaction.

        ``isolate``: run each entry in a nested transaction (the slow path, taken
        only after a command failed once it had written something).
        """
        results: list[Applied] = []
        effects = Effects()
        with self._store.write() as batch:
            applied_index = batch.applied[0]
            last: Entry | None = None
            for entry in entries:
                if entry.index <= applied_index:
                    results.append(Applied(entry.index, None, batch.revision))
                    continue
                cmd = _decode(entry)
                last = entry
                commands = cmd.batch.commands if cmd.WhichOneof("op") == "batch" else (cmd,)
                for one in commands:
                    results.append(self._apply_command(batch, entry.index, one, isolate, effects))
            if last is not None:
                batch.set_applied(last.index, last.term)
            effects.revision = batch.revision
            if release is not None:
                release(results)
        return results, effects

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
            view.member_put(cmd.member_add, revive=True)
            return None
        if kind == "member_remove":
            view.member_remove(cmd.member_remove.ID)
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
