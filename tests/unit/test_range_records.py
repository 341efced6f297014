"""Ranges answered from stored records as they are, without a message per key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstore.pb import rpc_pb2
from kvstore.storage.keys import KeyRange
from kvstore.storage.ranges import execute_range
from kvstore.storage.store import MvccStore
from tests.support.stores import started_store

# Around each length where a KeyValue's length prefix grows by a byte
# (the KeyValue is the value plus ~20 bytes of key and revisions).
SIZES = [0, 100, 105, 106, 107, 120, 16_350, 16_360, 16_370, 16_380, 2_097_140, 2_097_160]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MvccStore]:
    s = started_store(tmp_path)
    with s.write() as batch:
        for i, size in enumerate(SIZES):
            batch.begin_revision()
            batch.put(b"k/%02d" % i, bytes([65 + i]) * size, 0)
            batch.end_revision()
    yield s
    s.close()


def test_every_length_prefix_size_reads_back(store: MvccStore) -> None:
    req = rpc_pb2.RangeRequest(key=b"k/", range_end=b"k0")
    with store.read() as view:
        resp = execute_range(view, req)
        one_by_one = [view.get(b"k/%02d" % i) for i in range(len(SIZES))]
    assert [len(kv.value) for kv in resp.kvs] == SIZES
    assert list(resp.kvs) == one_by_one
    lengths = {kv.ByteSize() for kv in resp.kvs}
    assert min(lengths) < 0x80 <= max(lengths)  # one-, two- and three-byte prefixes
    assert any(0x80 <= n < 0x4000 for n in lengths) and any(0x4000 <= n < 0x200000 for n in lengths)
    assert max(lengths) >= 0x200000  # and four
    assert resp.count == len(SIZES) and not resp.more


@pytest.mark.parametrize("limit", [1, 5, len(SIZES) - 1, len(SIZES), 50])
def test_a_limit_cuts_the_answer_and_reports_more(store: MvccStore, limit: int) -> None:
    req = rpc_pb2.RangeRequest(key=b"k/", range_end=b"k0", limit=limit)
    with store.read() as view:
        resp = execute_range(view, req)
        expected = list(view.iter_range(KeyRange.of(b"k/", b"k0")))[:limit]
    assert list(resp.kvs) == expected
    assert resp.more is (limit < len(SIZES))
    assert resp.count == len(SIZES)


def test_a_read_at_an_older_revision_uses_the_records_of_then(store: MvccStore) -> None:
    with store.read() as view:
        then = view.revision
    with store.write() as batch:
        batch.begin_revision()
        batch.put(b"k/00", b"later", 0)
        batch.end_revision()
    with store.read() as view:
        old = execute_range(view, rpc_pb2.RangeRequest(key=b"k/", range_end=b"k0", revision=then))
        new = execute_range(view, rpc_pb2.RangeRequest(key=b"k/", range_end=b"k0"))
    assert (old.kvs[0].value, new.kvs[0].value) == (b"", b"later")
    assert [kv.key for kv in old.kvs] == [kv.key for kv in new.kvs]
