"""Snapshots as markers (``snapshots.write_marker``) and the copies made to
send them (``snapshotsend``), on real stores and files."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kvstore.config import LeaseConfig
from kvstore.pb import command_pb2, rpc_pb2
from kvstore.raft.fsm import Entry, StateMachine
from kvstore.raft.snapshots import (
    SnapshotCorrupt,
    read_metadata,
    read_snapshot,
    write_marker,
    write_snapshot,
)
from kvstore.raft.snapshotsend import COPY_SUFFIX, SnapshotSender
from kvstore.storage.store import MvccStore
from tests.support.stores import started_store

RAFT_DATA = ("raft", 42)
BATCH = 4096


def _apply(fsm: StateMachine, first: int, last: int) -> None:
    entries = []
    for i in range(first, last + 1):
        put = rpc_pb2.PutRequest(key=b"k%04d" % i, value=b"v" * 200)
        cmd = command_pb2.Command(request_id=i, member_id=1, put=put).SerializeToString()
        entries.append(Entry(i, 1, cmd))
    fsm.apply_batch(entries)


@pytest.fixture
def fsm(tmp_path: Path) -> Iterator[StateMachine]:
    store = started_store(tmp_path / "leader")
    machine = StateMachine(store, LeaseConfig())
    _apply(machine, 1, 300)
    yield machine
    store.close()


@pytest.fixture
def follower(tmp_path: Path) -> Iterator[MvccStore]:
    store = started_store(tmp_path / "follower")
    yield store
    store.close()


def _applied(store: MvccStore) -> int:
    with store.read() as view:
        return int(view.applied[0])


class CountingWrite:
    """``write_snapshot`` of a store, counted, and held until released."""

    def __init__(self, store: MvccStore) -> None:
        self.store = store
        self.calls: list[Any] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, path: str, raft_data: Any) -> None:
        self.calls.append(raft_data)
        assert self.release.wait(10)
        write_snapshot(self.store, path, raft_data)


def _drain(sender: SnapshotSender, node: str) -> bytes:
    """Every piece of one transmission, waiting for its copy first."""
    for _ in range(1000):
        piece = sender.piece(node)
        if piece is not None:
            break
        threading.Event().wait(0.01)
    else:
        raise AssertionError("no snapshot was ever sent")
    assert piece[1] is True  # the first piece
    data = [piece[0]]
    while not piece[2]:
        piece = sender.piece(node)
        assert piece is not None and piece[1] is False
        data.append(piece[0])
    assert piece[0] == b""  # pysyncobj's last piece is empty
    return b"".join(data)


def test_a_marker_holds_no_copy_and_restarts_from_the_store(
    fsm: StateMachine, tmp_path: Path
) -> None:
    dump = tmp_path / "snapshot"
    write_marker(fsm.store, str(dump), RAFT_DATA)
    assert read_metadata(str(dump)) == (RAFT_DATA, True)
    assert dump.stat().st_size < 200  # 300 values of 200 bytes are not in it
    assert read_snapshot(fsm.store, str(dump)) == (RAFT_DATA, False)
    assert _applied(fsm.store) == 300


def test_a_marker_syncs_the_store_before_it_is_written(
    fsm: StateMachine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log before the marker's entries goes once it is written: they must
    be durable in the store by then (a Raft member leaves LMDB's meta page
    unsynced at each commit)."""
    dump = tmp_path / "snapshot"
    seen: list[bool] = []
    monkeypatch.setattr(fsm.store.backend, "sync", lambda: seen.append(dump.exists()))
    write_marker(fsm.store, str(dump), RAFT_DATA)
    assert seen == [False]
    assert dump.exists()


def test_a_store_behind_its_marker_is_refused(
    fsm: StateMachine, follower: MvccStore, tmp_path: Path
) -> None:
    dump = tmp_path / "snapshot"
    write_marker(fsm.store, str(dump), RAFT_DATA)
    with pytest.raises(SnapshotCorrupt, match="behind its snapshot marker"):
        read_snapshot(follower, str(dump))


def test_a_marker_is_sent_as_a_copy_a_follower_installs(
    fsm: StateMachine, follower: MvccStore, tmp_path: Path
) -> None:
    dump = tmp_path / "snapshot"
    write_marker(fsm.store, str(dump), RAFT_DATA)
    write = CountingWrite(fsm.store)
    sender = SnapshotSender(str(dump), write, BATCH)
    try:
        sent = _drain(sender, "m2")
    finally:
        sender.stop()
    assert write.calls == [RAFT_DATA]  # the marker's metadata
    received = tmp_path / "received"
    received.write_bytes(sent)
    assert read_snapshot(follower, str(received)) == (RAFT_DATA, True)
    assert _applied(follower) == 300
    with follower.read() as view:
        assert view.get(b"k0300") is not None


def test_nothing_is_sent_until_the_copy_is_complete(fsm: StateMachine, tmp_path: Path) -> None:
    dump = tmp_path / "snapshot"
    write_marker(fsm.store, str(dump), RAFT_DATA)
    write = CountingWrite(fsm.store)
    write.release.clear()
    sender = SnapshotSender(str(dump), write, BATCH)
    try:
        assert sender.piece("m2") is None
        assert sender.piece("m2") is None  # asked again: one copy is being made
        assert sender.piece("m3") is None
        write.release.set()
        first, second = _drain(sender, "m2"), _drain(sender, "m3")
    finally:
        write.release.set()
        sender.stop()
    assert first == second
    assert len(write.calls) == 1


def test_a_new_marker_gets_a_new_copy_and_the_old_one_goes(
    fsm: StateMachine, follower: MvccStore, tmp_path: Path
) -> None:
    dump = tmp_path / "snapshot"
    write_marker(fsm.store, str(dump), RAFT_DATA)
    write = CountingWrite(fsm.store)
    sender = SnapshotSender(str(dump), write, BATCH)
    copy = Path(str(dump) + COPY_SUFFIX)
    try:
        _drain(sender, "m2")
        sender.drop_stale()  # the dump has not changed: the copy stays
        assert copy.exists()
        _apply(fsm, 301, 310)
        write_marker(fsm.store, str(dump) + ".new", ("raft", 310))
        Path(str(dump) + ".new").replace(dump)
        sender.drop_stale()
        assert not copy.exists()
        sent = _drain(sender, "m2")
    finally:
        sender.stop()
    assert write.calls == [RAFT_DATA, ("raft", 310)]
    received = tmp_path / "received"
    received.write_bytes(sent)
    assert read_snapshot(follower, str(received)) == (("raft", 310), True)
    assert _applied(follower) == 310


def test_a_whole_snapshot_from_the_leader_is_sent_as_it_is(
    fsm: StateMachine, tmp_path: Path
) -> None:
    dump = tmp_path / "snapshot"
    write_snapshot(fsm.store, str(dump), RAFT_DATA)
    write = CountingWrite(fsm.store)
    sender = SnapshotSender(str(dump), write, BATCH)
    try:
        assert _drain(sender, "m2") == dump.read_bytes()
    finally:
        sender.stop()
    assert write.calls == []


def test_a_cancelled_transmission_starts_over(fsm: StateMachine, tmp_path: Path) -> None:
    dump = tmp_path / "snapshot"
    write_snapshot(fsm.store, str(dump), RAFT_DATA)
    sender = SnapshotSender(str(dump), CountingWrite(fsm.store), BATCH)
    first = sender.piece("m2")
    second = sender.piece("m2")
    assert first is not None and second is not None
    assert (first[1], second[1]) == (True, False)
    sender.cancel("m2")
    again = sender.piece("m2")
    assert again is not None and again[1] is True and again[0] == first[0]
    sender.stop()


def test_no_dump_yet_sends_nothing(tmp_path: Path, fsm: StateMachine) -> None:
    sender = SnapshotSender(str(tmp_path / "snapshot"), CountingWrite(fsm.store), BATCH)
    assert sender.piece("m2") is None
    sender.stop()


def test_a_copy_left_by_a_restart_is_removed(tmp_path: Path, fsm: StateMachine) -> None:
    dump = tmp_path / "snapshot"
    for leftover in (str(dump) + COPY_SUFFIX, str(dump) + COPY_SUFFIX + ".writing"):
        Path(leftover).write_bytes(b"old copy")
    SnapshotSender(str(dump), CountingWrite(fsm.store), BATCH).stop()
    assert list(tmp_path.glob("snapshot*")) == []


def test_stop_waits_for_a_copy_being_made(fsm: StateMachine, tmp_path: Path) -> None:
    dump = tmp_path / "snapshot"
    write_marker(fsm.store, str(dump), RAFT_DATA)
    write = CountingWrite(fsm.store)
    write.release.clear()
    sender = SnapshotSender(str(dump), write, BATCH)
    assert sender.piece("m2") is None
    thread = sender._thread
    threading.Timer(0.2, write.release.set).start()
    sender.stop()
    assert thread is not None and not thread.is_alive()
    assert Path(str(dump) + COPY_SUFFIX).exists()  # it finished, not cut short
