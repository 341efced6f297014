"""The on-disk layout: each value is stored once, and older layouts are upgraded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstore.config import StorageConfig
from kvstore.pb import kv_pb2
from kvstore.storage import records
from kvstore.storage.backend import FORMAT, FORMAT_KEY, Backend, UnknownFormatError
from kvstore.storage.keys import KeyRange
from kvstore.storage.store import MvccStore
from tests.support.stores import started_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MvccStore]:
    s = started_store(tmp_path)
    yield s
    s.close()


def _put(store: MvccStore, key: bytes, value: bytes) -> None:
    with store.write() as batch:
        batch.begin_revision()
        batch.put(key, value, 0)
        batch.end_revision()


def _delete(store: MvccStore, key: bytes) -> None:
    with store.write() as batch:
        batch.begin_revision()
        batch.delete_range(KeyRange.of(key))
        batch.end_revision()


def test_a_value_is_stored_once(store: MvccStore) -> None:
    """Live keys point at their newest revision instead of holding a second
    copy of the value: the file stays near the size of what was written."""
    count, value = 2000, b"v" * 1024
    with store.write() as batch:
        for i in range(count):
            batch.begin_revision()
            batch.put(b"key/%05d" % i, value, 0)
            batch.end_revision()
    payload = count * len(value)
    assert store.backend.size_in_use() < 1.6 * payload
    with store.read() as view:
        assert view.get(b"key/01999") is not None
        assert view.count_range(KeyRange.of(b"key/", b"key0")) == count


def test_latest_reads_follow_puts_deletes_and_compaction(store: MvccStore) -> None:
    _put(store, b"a", b"1")
    _put(store, b"b", b"2")
    _put(store, b"a", b"3")
    _delete(store, b"b")
    _put(store, b"c", b"4")
    with store.write() as batch:
        batch.set_compacted(store.revision)
    assert store.wait_compacted(store.revision, timeout=10)
    with store.read() as view:
        a = view.get(b"a")
        assert a is not None
        assert (a.value, a.create_revision, a.mod_revision, a.version) == (b"3", 2, 4, 2)
        assert view.get(b"b") is None
        listed = [(kv.key, kv.value) for kv in view.iter_range(KeyRange.of(b"a", b"\0"))]
        assert listed == [(b"a", b"3"), (b"c", b"4")]
    # a put after compaction still sees the previous value (version, prev_kv)
    with store.write() as batch:
        batch.begin_revision()
        prev = batch.put(b"a", b"5", 0)
        _, events = batch.end_revision()
    assert prev is not None and prev.value == b"3"
    assert events[0].kv.version == 3 and events[0].prev_kv.value == b"3"


def _downgrade_to_format_1(path: Path) -> None:
    """Rewrite an environment as kvstore wrote it before format 2: ``current``
    held each live key's whole KeyValue, and ``meta`` had no format entry."""
    backend = Backend(StorageConfig(data_dir=path, sync=False))
    with backend.write() as txn:
        for key, raw_rev in list(txn.cursor(db=backend.current)):
            record = txn.get(raw_rev, db=backend.kv)
            txn.put(key, record[1:], db=backend.current)
        txn.delete(FORMAT_KEY, db=backend.meta)
    backend.env.close()


def test_a_format_1_environment_is_upgraded_on_open(tmp_path: Path) -> None:
    store = started_store(tmp_path)
    for i in range(50):
        _put(store, b"k%02d" % (i % 20), b"value-%d" % i)
    _delete(store, b"k03")
    with store.read() as view:
        before = [view.get(b"k%02d" % i) for i in range(20)]
    store.close()
    _downgrade_to_format_1(tmp_path)

    store = started_store(tmp_path)
    try:
        with store.read() as view:
            assert [view.get(b"k%02d" % i) for i in range(20)] == before
            assert view.count_range(KeyRange.of(b"k", b"l")) == 19
        with store.backend.read() as txn:
            assert txn.get(FORMAT_KEY, db=store.backend.meta) == FORMAT.to_bytes(8, "big")
            raw_rev = txn.get(b"k05", db=store.backend.current)
            assert txn.get(raw_rev, db=store.backend.kv)[:1] == records.PUT
        _put(store, b"k05", b"after")
        with store.read() as view:
            kv = view.get(b"k05")
            previous = before[5]
            assert kv is not None and previous is not None
            assert kv.version == previous.version + 1
            assert kv.create_revision == previous.create_revision
    finally:
        store.close()


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    backend = Backend(StorageConfig(data_dir=tmp_path, sync=False))
    with backend.write() as txn:
        txn.put(FORMAT_KEY, (FORMAT + 1).to_bytes(8, "big"), db=backend.meta)
    backend.env.close()
    with pytest.raises(UnknownFormatError, match="newer than this kvstore"):
        Backend(StorageConfig(data_dir=tmp_path, sync=False))


def test_every_keyvalue_field_survives(store: MvccStore) -> None:
    with store.write() as batch:
        batch.lease_grant(7, 60)
        batch.begin_revision()
        batch.put(b"leased", b"x", 7)
        batch.end_revision()
    with store.read() as view:
        kv = view.get(b"leased")
    assert kv == kv_pb2.KeyValue(
        key=b"leased", value=b"x", lease=7, create_revision=2, mod_revision=2, version=1
    )
