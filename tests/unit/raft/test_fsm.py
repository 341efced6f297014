"""The state machine: exactly-once replay by index, and by request ID for retries."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kvstore.config import LeaseConfig, StorageConfig
from kvstore.pb import command_pb2, rpc_pb2
from kvstore.raft.fsm import DUPLICATE, Applied, CorruptCommandError, Entry, StateMachine
from kvstore.storage.effects import Effects
from kvstore.storage.store import MvccStore
from tests.support.stores import started_store


@pytest.fixture
def fsm(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = started_store(tmp_path)
    yield StateMachine(store, LeaseConfig())
    store.close()


def put(key: bytes, value: bytes, request_id: int = 0, member_id: int = 7) -> bytes:
    return command_pb2.Command(
        request_id=request_id, member_id=member_id, put=rpc_pb2.PutRequest(key=key, value=value)
    ).SerializeToString()


def test_replayed_indices_are_skipped(fsm: StateMachine) -> None:
    first, _ = fsm.apply_batch([Entry(1, 1, put(b"a", b"1")), Entry(2, 1, put(b"a", b"2"))])
    assert [a.revision for a in first] == [2, 3]
    again, effects = fsm.apply_batch([Entry(2, 1, put(b"a", b"2")), Entry(3, 1, put(b"b", b"x"))])
    assert again[0].result is None and again[1].revision == 4
    assert [rev for rev, _ in effects.events] == [4]
    assert fsm.applied_index() == 3


def test_a_retried_request_id_applies_once(fsm: StateMachine) -> None:
    results, _ = fsm.apply_batch([Entry(1, 1, put(b"k", b"v", request_id=42))])
    assert isinstance(results[0].result, rpc_pb2.PutResponse)
    # the same proposal again at a later index (re-proposed after LEADER_CHANGED)
    results, effects = fsm.apply_batch([Entry(5, 2, put(b"k", b"v", request_id=42))])
    assert results[0].result is DUPLICATE
    assert effects.events == []
    with fsm.store.read() as view:
        kv = view.get(b"k")
        assert kv is not None and kv.version == 1
    # the same request ID from another member is a different request
    results, _ = fsm.apply_batch([Entry(6, 2, put(b"k", b"v", request_id=42, member_id=8))])
    assert isinstance(results[0].result, rpc_pb2.PutResponse)


def test_an_undecodable_entry_stops_the_member(fsm: StateMachine) -> None:
    with pytest.raises(CorruptCommandError):
        fsm.apply_batch([Entry(1, 1, b"\xff\xff\xff")])
    assert fsm.applied_index() == 0


def _txn(*ops: rpc_pb2.RequestOp) -> bytes:
    return command_pb2.Command(txn=rpc_pb2.TxnRequest(success=list(ops))).SerializeToString()


def test_a_command_failing_before_writing_leaves_no_trace(fsm: StateMachine) -> None:
    missing_lease = command_pb2.Command(
        put=rpc_pb2.PutRequest(key=b"k", value=b"v", lease=99)
    ).SerializeToString()
    results, effects = fsm.apply_batch(
        [Entry(1, 1, put(b"a", b"1")), Entry(2, 1, missing_lease), Entry(3, 1, put(b"b", b"2"))]
    )
    assert [type(a.result).__name__ for a in results] == [
        "PutResponse",
        "LeaseNotFoundError",
        "PutResponse",
    ]
    assert [rev for rev, _ in effects.events] == [2, 3]
    with fsm.store.read() as view:
        assert view.get(b"k") is None and view.revision == 3


def test_a_command_failing_after_writing_is_rolled_back(fsm: StateMachine) -> None:
    """Validation keeps such a txn from the log; apply must still undo it whole."""
    fsm.apply_batch([Entry(1, 1, put(b"k", b"v"))])
    delete_then_keep_value = _txn(
        rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=b"k")),
        rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"k", ignore_value=True)),
    )
    results, effects = fsm.apply_batch(
        [
            Entry(2, 1, put(b"a", b"1")),
            Entry(3, 1, delete_then_keep_value),
            Entry(4, 1, put(b"b", b"2")),
        ]
    )
    assert type(results[1].result).__name__ == "KeyNotFoundError"
    assert isinstance(results[2].result, rpc_pb2.PutResponse)
    assert [rev for rev, _ in effects.events] == [3, 4]
    with fsm.store.read() as view:
        kv = view.get(b"k")
        assert kv is not None and kv.value == b"v" and kv.mod_revision == 2
        assert view.revision == 4
    assert fsm.applied_index() == 4


def _batch(*commands: bytes) -> bytes:
    parsed = []
    for data in commands:
        cmd = command_pb2.Command()
        cmd.ParseFromString(data)
        parsed.append(cmd)
    batch = command_pb2.CommandBatch(commands=parsed)
    return command_pb2.Command(batch=batch).SerializeToString()


def test_a_batch_entry_applies_each_command_as_its_own(fsm: StateMachine) -> None:
    fsm.apply_batch([Entry(1, 1, put(b"k", b"v"))])
    undo = _txn(
        rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=b"k")),
        rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"k", ignore_value=True)),
    )
    entry = _batch(put(b"a", b"1", request_id=1), undo, put(b"b", b"2", request_id=2))
    results, effects = fsm.apply_batch([Entry(2, 1, entry)])
    # one result per command, each with its own revision and request ID; the
    # failing one (after writing) is rolled back alone
    assert [type(a.result).__name__ for a in results] == [
        "PutResponse",
        "KeyNotFoundError",
        "PutResponse",
    ]
    assert [a.request_id for a in results] == [1, 0, 2]
    assert [rev for rev, _ in effects.events] == [3, 4]
    assert fsm.applied_index() == 2
    # the batch proposed again (its outcome was unknown): nothing applies twice
    again, effects = fsm.apply_batch([Entry(3, 2, entry)])
    assert again[0].result is DUPLICATE and again[2].result is DUPLICATE
    assert effects.events == []
    with fsm.store.read() as view:
        assert view.revision == 4
        kv = view.get(b"k")
        assert kv is not None and kv.mod_revision == 2


def test_results_are_released_before_the_batch_commits(fsm: StateMachine) -> None:
    """``release`` sees the final results while readers still see the store
    as it was: the answers can go out while LMDB commits and syncs."""
    seen: list[tuple[list[int], int]] = []

    def release(results: list[Applied], effects: Effects) -> None:
        # a reader on another thread, while the write transaction is open
        box: list[int] = []

        def read() -> None:
            with fsm.store.read() as view:
                box.append(view.revision)

        reader = threading.Thread(target=read)
        reader.start()
        reader.join()
        seen.append(([a.revision for a in results], box[0]))

    results, _ = fsm.apply_batch(
        [Entry(1, 1, put(b"a", b"1", request_id=1)), Entry(2, 1, put(b"b", b"2", request_id=2))],
        release,
    )
    assert seen == [([2, 3], 1)], "released late, or the batch was visible already"
    assert [a.revision for a in results] == [2, 3]
    with fsm.store.read() as view:
        assert view.revision == 3


def _revision_seen_elsewhere(store: MvccStore) -> int:
    """The revision a reader on another thread sees (the held transaction is not)."""
    box: list[int] = []

    def read() -> None:
        with store.read() as view:
            box.append(view.revision)

    reader = threading.Thread(target=read)
    reader.start()
    reader.join()
    return box[0]


def _grant(lease_id: int) -> bytes:
    return command_pb2.Command(
        lease_grant=rpc_pb2.LeaseGrantRequest(ID=lease_id, TTL=60)
    ).SerializeToString()


def test_held_batches_share_one_commit(fsm: StateMachine) -> None:
    """Batches that only write keys stay in one open transaction, unseen by
    readers, until ``commit_held``; their results are final meanwhile."""
    first, _ = fsm.apply_batch([Entry(1, 1, put(b"a", b"1"))], hold=True)
    second, _ = fsm.apply_batch([Entry(2, 1, put(b"b", b"2"))], hold=True)
    assert fsm.holding
    assert [first[0].revision, second[0].revision] == [2, 3]
    assert _revision_seen_elsewhere(fsm.store) == 1, "a held batch was committed"
    fsm.commit_held()
    assert not fsm.holding
    assert _revision_seen_elsewhere(fsm.store) == 3
    assert fsm.applied_index() == 2


def test_a_batch_that_does_more_than_write_keys_commits_the_held_ones(
    fsm: StateMachine,
) -> None:
    fsm.apply_batch([Entry(1, 1, put(b"a", b"1"))], hold=True)
    _, effects = fsm.apply_batch([Entry(2, 1, _grant(5))], hold=True)
    assert not fsm.holding, "a lease grant was left uncommitted"
    assert effects.granted == [(5, 60)]
    assert _revision_seen_elsewhere(fsm.store) == 2
    assert fsm.applied_index() == 2


def test_an_aborted_hold_leaves_its_entries_to_be_applied_again(fsm: StateMachine) -> None:
    """A member that stops drops the held transaction; the journal's entries
    apply again on restart (here: the same entries, later) with the same results."""
    entries = [Entry(1, 1, put(b"a", b"1")), Entry(2, 1, put(b"a", b"2"))]
    held, _ = fsm.apply_batch(entries, hold=True)
    fsm.abort_held()
    assert not fsm.holding
    assert fsm.applied_index() == 0
    again, _ = fsm.apply_batch(entries)
    assert [a.revision for a in again] == [a.revision for a in held] == [2, 3]
    with fsm.store.read() as view:
        kv = view.get(b"a")
        assert kv is not None and kv.value == b"2" and kv.version == 2


def test_held_entries_are_applied_again_after_the_map_grows(tmp_path: Path) -> None:
    """A full map aborts the whole held transaction, batches released long
    ago included: they are redone, silently, before the batch that hit it."""
    store = MvccStore(StorageConfig(data_dir=tmp_path, sync=False, initial_map_size=1 << 20))
    store.start()
    try:
        fsm = StateMachine(store, LeaseConfig())
        released: list[int] = []
        value = b"v" * 60_000
        for index in range(1, 41):  # ~2.4 MB into a 1 MiB map
            fsm.apply_batch(
                [Entry(index, 1, put(b"k%d" % index, value))],
                lambda results, _effects: released.extend(a.index for a in results),
                hold=True,
            )
        fsm.commit_held()
        assert store.backend.env.info()["map_size"] > 1 << 20, "the map never filled"
        # released once, except a batch that hit the full map (redone whole)
        assert sorted(set(released)) == list(range(1, 41))
        assert len(released) - 40 <= 2
        with store.read() as view:
            assert view.revision == 41
            assert view.applied[0] == 40
            for index in range(1, 41):
                kv = view.get(b"k%d" % index)
                assert kv is not None and kv.value == value and kv.mod_revision == index + 1
    finally:
        store.close()


def test_entries_redone_by_commit_held_record_their_index(fsm: StateMachine) -> None:
    """Held entries lost to a full map at commit are redone on their own: the
    store must say they are applied, or a restart would apply them twice."""
    entries = [Entry(1, 1, put(b"a", b"1")), Entry(2, 1, _grant(5))]
    fsm._redo = list(entries)  # as a full map at commit leaves them
    fsm.commit_held()
    assert not fsm.holding
    assert fsm.applied_index() == 2
    again, _ = fsm.apply_batch(entries)  # replayed from the journal on restart
    assert [a.result for a in again] == [None, None], "applied twice"
    with fsm.store.read() as view:
        assert view.revision == 2


def _member_cmd(kind: str, member: rpc_pb2.Member) -> bytes:
    return command_pb2.Command(**{kind: member}).SerializeToString()  # type: ignore[arg-type]


def test_a_learner_publishing_its_urls_stays_a_learner(fsm: StateMachine) -> None:
    url = "http://127.0.0.1:1"
    added = rpc_pb2.Member(ID=9, peerURLs=[url], isLearner=True)
    published = rpc_pb2.Member(ID=9, name="m4", peerURLs=[url], clientURLs=["http://c"])
    promoted = rpc_pb2.Member(ID=9, name="m4", peerURLs=[url], clientURLs=["http://c"])
    fsm.apply_batch([Entry(1, 1, _member_cmd("member_add", added))])
    fsm.apply_batch([Entry(2, 1, _member_cmd("member_publish", published))])
    with fsm.store.read() as view:
        record = view.members()[9]
    assert record is not None and record.isLearner and record.name == "m4"
    assert list(record.clientURLs) == ["http://c"]
    # MemberPromote records it again as a voter; a later publish keeps that
    fsm.apply_batch([Entry(3, 1, _member_cmd("member_add", promoted))])
    fsm.apply_batch([Entry(4, 1, _member_cmd("member_publish", published))])
    with fsm.store.read() as view:
        record = view.members()[9]
    assert record is not None and not record.isLearner


def test_a_learner_to_promote_is_recorded_until_promoted_or_removed(fsm: StateMachine) -> None:
    learner = rpc_pb2.Member(ID=9, peerURLs=["http://h:2380"], isLearner=True)
    add = command_pb2.Command(member_add=learner, promote_when_caught_up=True)
    fsm.apply_batch([Entry(1, 1, add.SerializeToString())])
    with fsm.store.read() as view:
        assert view.auto_promote == 9
    promoted = rpc_pb2.Member(ID=9, peerURLs=["http://h:2380"])
    fsm.apply_batch([Entry(2, 1, _member_cmd("member_add", promoted))])
    with fsm.store.read() as view:
        assert view.auto_promote == 0

    fsm.apply_batch([Entry(3, 1, add.SerializeToString())])
    remove = command_pb2.Command(member_remove=rpc_pb2.MemberRemoveRequest(ID=9))
    other = rpc_pb2.Member(ID=10, peerURLs=["http://g:2380"], isLearner=True)
    fsm.apply_batch([Entry(4, 1, _member_cmd("member_add", other))])  # another member
    with fsm.store.read() as view:
        assert view.auto_promote == 9
    fsm.apply_batch([Entry(5, 1, remove.SerializeToString())])
    with fsm.store.read() as view:
        assert view.auto_promote == 0
