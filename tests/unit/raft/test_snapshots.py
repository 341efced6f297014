"""Snapshot files: what a follower installs, and what it refuses without crashing.

LMDB maps the file it opens; a short or damaged copy used to kill the member
with SIGBUS (seen in the full-mode bench: a restarted member receiving a
snapshot). Each check runs on real stores and real files.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstore.config import LeaseConfig
from kvstore.raft import snapshots
from kvstore.raft.fsm import StateMachine
from kvstore.raft.snapshots import MAGIC, SnapshotCorrupt, read_snapshot, write_snapshot
from kvstore.storage.store import MvccStore
from tests.support.stores import apply_puts, started_store

RAFT_DATA = ("raft", 42)


@pytest.fixture
def leader(tmp_path: Path) -> Iterator[MvccStore]:
    store = started_store(tmp_path / "leader")
    apply_puts(StateMachine(store, LeaseConfig()), 1, 300)
    yield store
    store.close()


@pytest.fixture
def follower(tmp_path: Path) -> Iterator[MvccStore]:
    store = started_store(tmp_path / "follower")
    yield store
    store.close()


def _write_unchecked(store: MvccStore, path: Path, cut: int = 0) -> None:
    """A snapshot in the older layout (no magic, no trailer), ``cut`` bytes short."""
    meta = pickle.dumps(RAFT_DATA)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, len(meta).to_bytes(8, "big") + meta)
        store.backend.copy_to_fd(fd, compact=True)
        os.ftruncate(fd, os.lseek(fd, 0, os.SEEK_END) - cut)
    finally:
        os.close(fd)


def _revision(store: MvccStore) -> int:
    with store.read() as view:
        return view.revision


def test_a_whole_snapshot_is_installed(
    leader: MvccStore, follower: MvccStore, tmp_path: Path
) -> None:
    path = str(tmp_path / "dump")
    write_snapshot(leader, path, RAFT_DATA)
    assert Path(path).read_bytes().startswith(MAGIC)
    assert read_snapshot(follower, path) == (RAFT_DATA, True)
    assert _revision(follower) == _revision(leader) == 301


@pytest.mark.parametrize("damage", ["truncate_lmdb", "truncate_trailer", "flip_byte"])
def test_a_damaged_snapshot_is_refused_and_nothing_changes(
    leader: MvccStore, follower: MvccStore, tmp_path: Path, damage: str
) -> None:
    path = tmp_path / "dump"
    write_snapshot(leader, str(path), RAFT_DATA)
    data = bytearray(path.read_bytes())
    if damage == "truncate_lmdb":
        data = data[: len(data) // 2]
    elif damage == "truncate_trailer":
        data = data[:-5]
    else:
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotCorrupt):
        read_snapshot(follower, str(path))
    assert _revision(follower) == 1


def test_an_lmdb_copy_shorter_than_its_meta_page_is_refused(
    leader: MvccStore, follower: MvccStore, tmp_path: Path
) -> None:
    """A copy cut short before the trailer was written (length and CRC agree)."""
    path = tmp_path / "dump"
    _write_unchecked(leader, path, cut=4096)
    with pytest.raises(SnapshotCorrupt):
        read_snapshot(follower, str(path))


def test_snapshots_written_before_the_checks_are_still_read(
    leader: MvccStore, follower: MvccStore, tmp_path: Path
) -> None:
    path = tmp_path / "dump"
    _write_unchecked(leader, path)
    assert read_snapshot(follower, str(path)) == (RAFT_DATA, True)
    assert _revision(follower) == 301


def test_the_header_bounds_the_copys_applied_index(leader: MvccStore, tmp_path: Path) -> None:
    path = tmp_path / "dump"
    write_snapshot(leader, str(path), RAFT_DATA)
    data = path.read_bytes()
    assert data[: len(MAGIC)] == MAGIC
    with leader.read() as view:
        assert int.from_bytes(data[len(MAGIC) : len(MAGIC) + 8], "big") == view.applied[0] == 300


def test_a_members_own_dump_is_checked_without_copying_it_out(
    leader: MvccStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At every restart pysyncobj hands the member its own dump: the header
    says it holds nothing newer, so nothing is written (a copy and an fsync
    of the whole database before)."""
    path = tmp_path / "dump"
    write_snapshot(leader, str(path), RAFT_DATA)

    def no_copy(*args: object, **kwargs: object) -> None:
        raise AssertionError("the LMDB copy was written out")

    monkeypatch.setattr(snapshots.tempfile, "TemporaryDirectory", no_copy)
    assert read_snapshot(leader, str(path)) == (RAFT_DATA, False)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotCorrupt):  # still checked
        read_snapshot(leader, str(path))


def test_a_snapshot_without_the_applied_index_is_still_installed(
    leader: MvccStore, follower: MvccStore, tmp_path: Path
) -> None:
    """The layout before the applied index was recorded (``KVSNAP1``)."""
    path = tmp_path / "dump"
    write_snapshot(leader, str(path), RAFT_DATA)
    data = path.read_bytes()
    old = b"KVSNAP1\0" + data[len(MAGIC) + 8 :]
    path.write_bytes(old)
    assert read_snapshot(follower, str(path)) == (RAFT_DATA, True)
    assert _revision(follower) == 301
    assert read_snapshot(follower, str(path)) == (RAFT_DATA, False)
