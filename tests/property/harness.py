"""Drives the real StateMachine and the model side by side and compares every result.

``stage(cmd)`` applies a command to the model at once (so the next command can be
drawn against the new model state) and queues it; ``flush()`` applies the queued
commands to the real store as one ``apply_batch`` (one LMDB write transaction) and
checks each entry's result and revision, the batch's ``Effects``, and the stored
metadata against the model.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from google.protobuf.message import Message
from hypothesis import event
from hypothesis.control import currently_in_test_context

from kvstore.config import LeaseConfig, StorageConfig
from kvstore.errors import KvError
from kvstore.pb import command_pb2, rpc_pb2
from kvstore.raft.fsm import Entry, StateMachine
from kvstore.storage.keys import KeyRange
from kvstore.storage.ranges import execute_range, execute_small_range
from kvstore.storage.store import MvccStore
from tests.property.model import Model
from tests.property.strategies import LEASE_IDS

COMPACT_TIMEOUT = 10.0


def show(x: object) -> str:
    if isinstance(x, Message):
        name = type(x).__name__
        return f"{name}<{text_format.MessageToString(x, as_one_line=True)}>"
    if isinstance(x, list | tuple):
        return "[" + ", ".join(show(i) for i in x) + "]"
    if isinstance(x, KvError):
        return f"{type(x).__name__}({x.message!r})"
    return repr(x)


def _event(label: str) -> None:
    """Label the run for ``--hypothesis-show-statistics`` (what did the test cover?)."""
    if currently_in_test_context():
        event(label)


def assert_same(got: object, expected: object, what: str) -> None:
    """Same response message, or an error of the same class."""
    if isinstance(expected, KvError):
        assert type(got) is type(expected), f"{what}: got {show(got)}, expected {show(expected)}"
        return
    assert type(got) is type(expected) and got == expected, (
        f"{what}:\n  got      {show(got)}\n  expected {show(expected)}"
    )


@dataclass
class _Staged:
    entry: Entry
    cmd: command_pb2.Command
    result: object
    revision: int


class Harness:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="kvstore-prop-"))
        self.model = Model()
        self.index = 0
        self.term = 1
        self.applied = (0, 0)  # (index, term) of the last applied entry
        self.batches: list[list[Entry]] = []
        self._staged: list[_Staged] = []
        self.store: MvccStore | None = None
        self._open()

    # ---- lifecycle -------------------------------------------------------------

    def _open(self) -> None:
        store = MvccStore(StorageConfig(data_dir=self.dir, sync=False))
        try:
            store.start()
        except BaseException:
            store.close()
            raise
        self.store = store
        self.fsm = StateMachine(store, LeaseConfig())

    def close(self) -> None:
        try:
            if self.store is not None:
                self.store.close()
                self.store = None
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def restart(self) -> None:
        """Close and reopen on the same directory; nothing may change."""
        before = self.hash()
        assert self.store is not None
        self.store.close()
        self.store = None
        self._open()
        self.term += 1
        assert self.fsm.applied_index() == self.applied[0]
        assert self.hash() == before, "hash_kv changed across a restart"
        self.check_state()

    # ---- writes ----------------------------------------------------------------

    def stage(self, cmd: command_pb2.Command) -> None:
        result, _ = self.model.apply(cmd)
        self.index += 1
        entry = Entry(self.index, self.term, cmd.SerializeToString())
        self._staged.append(_Staged(entry, cmd, result, self.model.head))

    def flush(self, replayed: list[Entry] | None = None) -> None:
        """Apply ``replayed`` (already applied: must be skipped) + the staged commands."""
        assert self.store is not None
        old = replayed or []
        staged, self._staged = self._staged, []
        revision_before = self.store.revision
        results, effects = self.fsm.apply_batch(old + [s.entry for s in staged])
        assert len(results) == len(old) + len(staged)
        for entry, applied in zip(old, results, strict=False):
            assert applied.index == entry.index
            assert applied.result is None, f"replayed entry {entry.index} was applied again"
            assert applied.revision == revision_before
        written: list[int] = []
        granted: list[tuple[int, int]] = []
        revoked: list[int] = []
        for s, applied in zip(staged, results[len(old) :], strict=True):
            what = f"entry {s.entry.index} {show(s.cmd)}"
            label = f"{s.cmd.WhichOneof('op')} -> {type(s.result).__name__}"
            if isinstance(s.result, rpc_pb2.TxnResponse):
                label += f" succeeded={s.result.succeeded}"
                if any(r.HasField("response_txn") for r in s.result.responses):
                    label += " nested"
            _event(label)
            assert applied.index == s.entry.index
            assert_same(applied.result, s.result, what)
            assert applied.revision == s.revision, f"{what}: revision after it"
            if s.revision not in written and s.revision > revision_before:
                written.append(s.revision)
            if isinstance(s.result, rpc_pb2.LeaseGrantResponse):
                granted.append((s.result.ID, s.result.TTL))
            if isinstance(s.result, rpc_pb2.LeaseRevokeResponse):
                revoked.append(s.cmd.lease_revoke.ID)
        expected_events = self.model.effects_events(written)
        assert effects.events == expected_events, (
            f"Effects.events:\n  got      {show(effects.events)}\n"
            f"  expected {show(expected_events)}"
        )
        assert effects.granted == granted
        assert effects.revoked == revoked
        assert effects.revision == self.model.head
        if staged:
            self.applied = (staged[-1].entry.index, staged[-1].entry.term)
            self.batches.append([s.entry for s in staged])
        assert self.store.revision == self.model.head
        assert self.store.compacted == self.model.compacted

    def replay(self, batch: int) -> None:
        """Re-apply an applied batch (then any staged commands), as pysyncobj does on
        restart: the old entries must be skipped, leaving no trace."""
        fresh = bool(self._staged)
        before = self.hash()
        self.flush(replayed=self.batches[batch])
        if not fresh:
            assert self.hash() == before, "replaying applied entries changed hash_kv"

    # ---- reads -----------------------------------------------------------------

    def hash(self) -> int:
        assert self.store is not None
        with self.store.read() as view:
            return view.hash_kv(view.revision)

    def check_physical_compaction(self) -> None:
        """hash_kv is the same before and after the compactor has removed old records."""
        assert self.store is not None
        before = self.hash()
        assert self.store.wait_compacted(self.model.compacted, COMPACT_TIMEOUT)
        with self.store.read() as view:
            assert view.compact_done == self.model.compacted
        assert self.hash() == before, "hash_kv changed by physical compaction"

    def range(self, req: rpc_pb2.RangeRequest) -> None:
        assert self.store is not None
        with self.store.read() as view:
            try:
                got: object = execute_range(view, req)
            except KvError as exc:
                got = exc
        try:
            expected: object = self.model.range(req)
        except KvError as exc:
            expected = exc
        assert_same(got, expected, f"range {show(req)}")
        if isinstance(expected, rpc_pb2.RangeResponse):
            self._small_range(req, expected)
            _event(f"range -> {len(expected.kvs)} kvs, more={expected.more}")
        else:
            _event(f"range -> {type(expected).__name__}")

    def _small_range(self, req: rpc_pb2.RangeRequest, expected: rpc_pb2.RangeResponse) -> None:
        """Bounded by the range's exact key count, the read is answered in
        full; bounded by one less, it is refused."""
        assert self.store is not None
        with self.store.read() as view:
            whole = execute_small_range(view, req, expected.count)
            refused = execute_small_range(view, req, expected.count - 1) if expected.count else None
        assert_same(whole, expected, f"range {show(req)} within {expected.count} keys")
        assert refused is None, f"range {show(req)} within {expected.count - 1} keys answered"

    def check_history(self, first: int, key: bytes, range_end: bytes) -> None:
        """Replay from ``first`` (retained) equals the model, with and without prev_kv."""
        assert self.store is not None
        assert self.model.retained(first)
        assert self.store.wait_compacted(self.model.compacted, COMPACT_TIMEOUT)
        head = self.model.head
        kr = KeyRange.of(key, range_end)
        with self.store.read() as view:
            for prev_kv in (True, False):
                got = view.events(first, head, kr, prev_kv=prev_kv)
                expected = self.model.watch_events(first, head, key, range_end, prev_kv)
                assert got == expected, (
                    f"events({first}, {head}, {key!r}..{range_end!r}, prev_kv={prev_kv}):\n"
                    f"  got      {show(got)}\n  expected {show(expected)}"
                )

    def check_state(self) -> None:
        """Metadata, the whole current key space and the leases equal the model's."""
        assert self.store is not None
        m = self.model
        with self.store.read() as view:
            assert view.revision == m.head
            assert view.compacted == m.compacted
            assert view.applied == self.applied
            live = list(view.iter_range(KeyRange.of(b"\0", b"\0")))
            assert live == [rec.kv(k) for k, rec in sorted(m.current.items())]
            assert sorted(view.leases()) == sorted(m.leases.items())
            for lease_id in LEASE_IDS:
                assert view.lease_keys(lease_id) == m.lease_keys(lease_id), f"lease {lease_id}"
