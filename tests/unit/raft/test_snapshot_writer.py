"""Snapshots written off the tick thread (``snapshotwriter``), with the hooks
called as pysyncobj calls them: the serializer, then its rename of the hook's
temporary path over the dump, then the checker on every tick."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pysyncobj.config import SERIALIZER_STATE
from pysyncobj.serializer import Serializer

from kvstore.raft.snapshotwriter import WRITING_SUFFIX, SnapshotWriter


class SlowWrite:
    """A snapshot write that waits until the test lets it finish."""

    def __init__(self, content: bytes = b"new", fail: bool = False) -> None:
        self.content = content
        self.fail = fail
        self.release = threading.Event()
        self.raft_data: list[Any] = []

    def __call__(self, path: str, raft_data: Any) -> None:
        self.raft_data.append(raft_data)
        Path(path).write_bytes(self.content[:1])  # a partial file meanwhile
        assert self.release.wait(10)
        if self.fail:
            raise OSError("disk full")
        Path(path).write_bytes(self.content)


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    path = tmp_path / "snapshot"
    path.write_bytes(b"old")
    return path


@pytest.fixture
def write() -> Iterator[SlowWrite]:
    w = SlowWrite()
    yield w
    w.release.set()


def _pysyncobj(writer: SnapshotWriter, dump: Path) -> Serializer:
    """pysyncobj's own serializer, with our hooks."""
    return Serializer(str(dump), 1 << 16, False, writer.start, None, writer.check)


def _serialize(serializer: Serializer, raft_data: Any = ("raft",)) -> None:
    # pysyncobj passes its data without the first item to the hook
    serializer.serialize((None, *raft_data), 7)


def _wait_done(serializer: Serializer) -> int:
    for _ in range(1000):
        state, _id = serializer.checkSerializing()
        if state != SERIALIZER_STATE.SERIALIZING:
            return int(state)
        threading.Event().wait(0.01)
    raise AssertionError("the snapshot write never ended")


def test_the_hook_returns_at_once_and_the_dump_stays_whole(dump: Path, write: SlowWrite) -> None:
    writer = SnapshotWriter(str(dump), write)
    serializer = _pysyncobj(writer, dump)
    _serialize(serializer)
    assert serializer.checkSerializing() == (SERIALIZER_STATE.SERIALIZING, 7)
    assert dump.read_bytes() == b"old"  # pysyncobj's rename changed nothing
    assert serializer.getTransmissionData("peer") is None  # no dump is sent meanwhile
    write.release.set()
    assert _wait_done(serializer) == SERIALIZER_STATE.SUCCESS
    assert dump.read_bytes() == b"new"
    assert write.raft_data == [("raft",)]
    assert serializer.checkSerializing()[0] == SERIALIZER_STATE.NOT_SERIALIZING
    assert serializer.getTransmissionData("peer")[0] == b"new"
    assert not Path(str(dump) + WRITING_SUFFIX).exists()


def test_the_first_snapshot_has_no_dump_to_keep(tmp_path: Path, write: SlowWrite) -> None:
    dump = tmp_path / "snapshot"
    writer = SnapshotWriter(str(dump), write)
    serializer = _pysyncobj(writer, dump)
    _serialize(serializer)
    assert not dump.exists()
    write.release.set()
    assert _wait_done(serializer) == SERIALIZER_STATE.SUCCESS
    assert dump.read_bytes() == b"new"


def test_a_failed_write_leaves_the_old_dump(dump: Path) -> None:
    write = SlowWrite(fail=True)
    writer = SnapshotWriter(str(dump), write)
    serializer = _pysyncobj(writer, dump)
    _serialize(serializer)
    write.release.set()
    assert _wait_done(serializer) == SERIALIZER_STATE.FAILED
    assert dump.read_bytes() == b"old"
    assert not Path(str(dump) + WRITING_SUFFIX).exists()
    assert serializer.checkSerializing()[0] == SERIALIZER_STATE.NOT_SERIALIZING


def test_a_snapshot_received_meanwhile_is_not_overwritten(dump: Path, write: SlowWrite) -> None:
    writer = SnapshotWriter(str(dump), write)
    serializer = _pysyncobj(writer, dump)
    _serialize(serializer)
    dump.write_bytes(b"from the leader")  # pysyncobj renamed a received dump in place
    writer.abandon()
    write.release.set()
    assert _wait_done(serializer) == SERIALIZER_STATE.FAILED
    assert dump.read_bytes() == b"from the leader"


def test_a_copy_left_by_a_crash_mid_write_is_removed(dump: Path) -> None:
    leftover = Path(str(dump) + WRITING_SUFFIX)
    leftover.write_bytes(b"n")
    SnapshotWriter(str(dump), SlowWrite())
    assert not leftover.exists()
    assert dump.read_bytes() == b"old"


def test_stop_waits_for_the_write(dump: Path, write: SlowWrite) -> None:
    writer = SnapshotWriter(str(dump), write)
    _serialize(_pysyncobj(writer, dump))
    threading.Timer(0.2, write.release.set).start()
    writer.stop()
    assert writer._thread is not None and not writer._thread.is_alive()
    assert dump.read_bytes() == b"old"  # an unfinished snapshot is not used


def test_the_replaced_dump_keeps_no_second_name(dump: Path, write: SlowWrite) -> None:
    """The hook's temporary path is a second name of the dump (pysyncobj's
    rename of it onto the dump changes nothing): left in place, it would
    keep the replaced dump on disk beside the new one."""
    writer = SnapshotWriter(str(dump), write)
    serializer = _pysyncobj(writer, dump)
    _serialize(serializer)
    write.release.set()
    assert _wait_done(serializer) == SERIALIZER_STATE.SUCCESS
    assert sorted(p.name for p in dump.parent.iterdir()) == ["snapshot"]
    assert dump.read_bytes() == b"new"
