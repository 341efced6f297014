"""The state machine: exactly-once replay by index, and by request ID for retries."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kvstore.config import LeaseConfig
from kvstore.pb import command_pb2, rpc_pb2
from kvstore.raft.fsm import DUPLICATE, Applied, CorruptCommandError, Entry, StateMachine
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

    def release(results: list[Applied]) -> None:
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
