"""Snapshots as markers (``snapshots.write_marker``) and the copies made to
send them (``snapshotsend``), on real stores and files."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kvstore.config import LeaseConfig
from kvstore.raft import snapshots
from kvstore.raft.fsm import StateMachine
from kvstore.raft.snapshots import (
    SnapshotCorrupt,
    read_metadata,
    read_snapshot,
    write_marker,
    write_snapshot,
)
from kvstore.raft.snapshotsend import COPY_SUFFIX, SnapshotSender
from kvstore.storage.store import MvccStore
from tests.support.stores import apply_puts, started_store

RAFT_DATA = ("raft", 42)
BATCH = 4096


class CountingWrite:
    """``write_snapshot`` of a store, counted, and held while not released."""

    def __init__(self, store: MvccStore) -> None:
        self.store = store
        self.calls: list[Any] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, path: str, raft_data: Any) -> None:
        self.calls.append(raft_data)
        assert self.release.wait(10)
        write_snapshot(self.store, path, raft_data)


@pytest.fixture
def fsm(tmp_path: Path) -> Iterator[StateMachine]:
    store = started_store(tmp_path / "leader")
    machine = StateMachine(store, LeaseConfig())
    apply_puts(machine, 1, 300)
    yield machine
    store.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[MvccStore]:
    store = started_store(tmp_path / "follower")
    yield store
    store.close()


@pytest.fixture
def dump(fsm: StateMachine, tmp_path: Path) -> Path:
    """The leader's dump: a marker."""
    path = tmp_path / "snapshot"
    write_marker(fsm.store, str(path), RAFT_DATA)
    return path


@pytest.fixture
def write(fsm: StateMachine) -> Iterator[CountingWrite]:
    w = CountingWrite(fsm.store)
    yield w
    w.release.set()


@pytest.fixture
def sender(dump: Path, write: CountingWrite) -> Iterator[SnapshotSender]:
    s = SnapshotSender(str(dump), write, BATCH)
    yield s
    write.release.set()
    s.stop()


def _applied(store: MvccStore) -> int:
    with store.read() as view:
        return int(view.applied[0])


def _first_piece(sender: SnapshotSender, node: str) -> tuple[bytes, bool, bool]:
    """The first piece of a transmission, once its copy is made."""
    for _ in range(1000):
        piece = sender.piece(node)
        if piece is not None:
            assert piece[1] is True
            return piece
        threading.Event().wait(0.01)
    raise AssertionError("no snapshot was ever sent")


def _rest(sender: SnapshotSender, node: str, piece: tuple[bytes, bool, bool]) -> bytes:
    """Every piece of a transmission from ``piece`` (the last one sent) on."""
    data = [piece[0]]
    while not piece[2]:
        got = sender.piece(node)
        assert got is not None and got[1] is False
        piece = got
        data.append(piece[0])
    assert piece[0] == b""  # pysyncobj's last piece is empty
    return b"".join(data)


def _drain(sender: SnapshotSender, node: str) -> bytes:
    """Every piece of one transmission, waiting for its copy first."""
    return _rest(sender, node, _first_piece(sender, node))


def _installs(receiver: MvccStore, data: bytes, tmp_path: Path) -> tuple[Any, bool]:
    received = tmp_path / "received"
    received.write_bytes(data)
    return read_snapshot(receiver, str(received))


def test_a_marker_holds_no_copy_and_restarts_from_the_store(fsm: StateMachine, dump: Path) -> None:
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
    path = tmp_path / "snapshot"
    seen: list[bool] = []
    monkeypatch.setattr(fsm.store.backend, "sync", lambda: seen.append(path.exists()))
    write_marker(fsm.store, str(path), RAFT_DATA)
    assert seen == [False]
    assert path.exists()


def test_a_store_behind_its_marker_is_refused(receiver: MvccStore, dump: Path) -> None:
    with pytest.raises(SnapshotCorrupt, match="behind its snapshot marker"):
        read_snapshot(receiver, str(dump))


def test_a_marker_is_sent_as_a_copy_a_follower_installs(
    sender: SnapshotSender, write: CountingWrite, receiver: MvccStore, tmp_path: Path
) -> None:
    sent = _drain(sender, "m2")
    assert write.calls == [RAFT_DATA]  # the marker's metadata
    assert _installs(receiver, sent, tmp_path) == (RAFT_DATA, True)
    assert _applied(receiver) == 300
    with receiver.read() as view:
        assert view.get(b"k0300") is not None


def test_nothing_is_sent_until_the_copy_is_complete(
    dump: Path, sender: SnapshotSender, write: CountingWrite
) -> None:
    write.release.clear()
    assert sender.piece("m2") is None
    assert sender.piece("m2") is None  # asked again: one copy is being made
    assert sender.piece("m3") is None
    write.release.set()
    first = _first_piece(sender, "m2")
    other = sender.piece("m3")  # while m2's transmission reads it
    assert other is not None
    assert _rest(sender, "m2", first) == _rest(sender, "m3", other)
    assert len(write.calls) == 1
    assert not Path(str(dump) + COPY_SUFFIX).exists()  # both sent: not kept


def test_a_copy_is_made_again_for_a_transfer_after_the_last_one(
    dump: Path, sender: SnapshotSender, write: CountingWrite
) -> None:
    """A copy of the store is not kept for a transfer that may never come."""
    first = _drain(sender, "m2")
    assert not Path(str(dump) + COPY_SUFFIX).exists()
    assert _drain(sender, "m2") == first  # a member that refused it, say
    assert len(write.calls) == 2


def test_a_new_marker_gets_a_new_copy_and_the_old_one_goes(
    fsm: StateMachine,
    dump: Path,
    sender: SnapshotSender,
    write: CountingWrite,
    receiver: MvccStore,
    tmp_path: Path,
) -> None:
    copy = Path(str(dump) + COPY_SUFFIX)
    first = _first_piece(sender, "m2")
    sender.drop_stale()  # the dump has not changed: the copy stays
    assert copy.exists()
    apply_puts(fsm, 301, 310)
    write_marker(fsm.store, str(dump) + ".new", ("raft", 310))
    Path(str(dump) + ".new").replace(dump)
    sender.drop_stale()
    assert not copy.exists()
    old = _rest(sender, "m2", first)  # a transmission under way reads on
    assert _installs(receiver, old, tmp_path) == (RAFT_DATA, True)
    sent = _drain(sender, "m3")
    assert write.calls == [RAFT_DATA, ("raft", 310)]
    assert _installs(receiver, sent, tmp_path) == (("raft", 310), True)
    assert _applied(receiver) == 310


def test_a_whole_snapshot_from_the_leader_is_sent_as_it_is(
    fsm: StateMachine, dump: Path, sender: SnapshotSender, write: CountingWrite
) -> None:
    write_snapshot(fsm.store, str(dump), RAFT_DATA)
    assert _drain(sender, "m2") == dump.read_bytes()
    assert write.calls == []


def test_a_cancelled_transmission_starts_over(
    fsm: StateMachine, dump: Path, sender: SnapshotSender
) -> None:
    write_snapshot(fsm.store, str(dump), RAFT_DATA)
    first = sender.piece("m2")
    second = sender.piece("m2")
    assert first is not None and second is not None
    assert (first[1], second[1]) == (True, False)
    sender.cancel("m2")
    again = sender.piece("m2")
    assert again is not None and again[1] is True and again[0] == first[0]


def test_no_dump_yet_sends_nothing(sender: SnapshotSender, dump: Path) -> None:
    dump.unlink()
    assert sender.piece("m2") is None


def test_a_copy_left_by_a_restart_is_removed(dump: Path, write: CountingWrite) -> None:
    leftovers = [Path(str(dump) + COPY_SUFFIX), Path(str(dump) + COPY_SUFFIX + ".writing")]
    for leftover in leftovers:
        leftover.write_bytes(b"old copy")
    SnapshotSender(str(dump), write, BATCH).stop()
    assert not any(leftover.exists() for leftover in leftovers)


def test_stop_waits_for_a_copy_being_made(
    dump: Path, sender: SnapshotSender, write: CountingWrite
) -> None:
    write.release.clear()
    assert sender.piece("m2") is None
    thread = sender._thread
    threading.Timer(0.2, write.release.set).start()
    sender.stop()
    assert thread is not None and not thread.is_alive()
    assert Path(str(dump) + COPY_SUFFIX).exists()  # it finished, not cut short


def test_a_copy_removed_under_the_sender_is_made_again(
    dump: Path, sender: SnapshotSender, write: CountingWrite
) -> None:
    first = _first_piece(sender, "m2")
    Path(str(dump) + COPY_SUFFIX).unlink()
    assert sender.piece("m3") is None  # no exception into pysyncobj's tick
    assert _drain(sender, "m3") == _rest(sender, "m2", first)
    assert len(write.calls) == 2


@pytest.mark.parametrize("sync", [True, False])
def test_a_copy_only_to_be_sent_is_not_synced(
    fsm: StateMachine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sync: bool
) -> None:
    synced: list[int] = []
    real_fsync = snapshots.os.fsync
    monkeypatch.setattr(snapshots.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    write_snapshot(fsm.store, str(tmp_path / "copy"), RAFT_DATA, sync=sync)
    assert bool(synced) is sync
