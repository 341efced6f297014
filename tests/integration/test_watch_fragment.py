"""Watch fragments: a watch created with ``fragment`` receives a response that
reaches the server's --max-request-bytes plus 512 KiB in parts (``fragment`` set on all but
the last), whole events in order; other watches receive it whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeAlias

import pytest

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.ops import op_put
from tests.support.procs import ServerProcess, etcd_process, kvstore_process, running
from tests.support.rpc import open_channel
from tests.support.watching import WatchStream

MAX_REQUEST = 600 * 1024
LIMIT = MAX_REQUEST + 512 * 1024  # etcd allows gRPC's overhead on top
VALUE = 58 * 1024
Responses: TypeAlias = dict[int, list[rpc_pb2.WatchResponse]]


@pytest.fixture
def small_requests(backend: str, tmp_path: Path) -> Iterator[ServerProcess]:
    flag = f"--max-request-bytes={MAX_REQUEST}"
    proc = etcd_process(tmp_path, extra=[flag]) if backend == "etcd" else None
    with running(proc or kvstore_process(tmp_path, extra=[flag])) as started:
        yield started


def collect(ws: WatchStream, parted: int, whole: int, events: int) -> Responses:
    """Responses per watch until ``parted`` has one without ``fragment`` and
    ``whole`` has ``events`` events."""
    got: Responses = {parted: [], whole: []}

    def done() -> bool:
        joined = got[parted] and not got[parted][-1].fragment
        return bool(joined) and sum(len(r.events) for r in got[whole]) >= events

    while not done():
        response = ws.next()
        got.setdefault(response.watch_id, []).append(response)
    return got


def check_parts(parts: list[rpc_pb2.WatchResponse], keys: list[bytes]) -> None:
    assert len(parts) > 1, "the response was not fragmented"
    assert [p.fragment for p in parts] == [True] * (len(parts) - 1) + [False]
    assert [e.kv.key for p in parts for e in p.events] == keys
    assert len({p.header.revision for p in parts}) == 1
    for part in parts:
        assert part.events
        assert len(part.events) == 1 or part.ByteSize() < LIMIT


def test_history_is_sent_in_fragments(small_requests: ServerProcess) -> None:
    keys = [b"f/%02d" % i for i in range(24)]
    with open_channel(small_requests.endpoint) as chan:
        kv = rpc_pb2_grpc.KVStub(chan)
        first = 0
        for key in keys:
            rev = kv.Put(rpc_pb2.PutRequest(key=key, value=b"x" * VALUE)).header.revision
            first = first or rev
        with WatchStream(rpc_pb2_grpc.WatchStub(chan)) as ws:
            whole = ws.create(key=b"f/", range_end=b"f0", start_revision=first).watch_id
            parted = ws.create(
                key=b"f/", range_end=b"f0", start_revision=first, fragment=True
            ).watch_id
            got = collect(ws, parted, whole, len(keys))
            check_parts(got[parted], keys)
            assert not any(r.fragment for r in got[whole])
            assert [e.kv.key for r in got[whole] for e in r.events] == keys


def test_one_large_revision_is_sent_in_fragments(small_requests: ServerProcess) -> None:
    keys = [b"t/%d" % i for i in range(10)]
    with open_channel(small_requests.endpoint) as chan:
        kv = rpc_pb2_grpc.KVStub(chan)
        for key in keys:
            kv.Put(rpc_pb2.PutRequest(key=key, value=b"a" * VALUE))
        with WatchStream(rpc_pb2_grpc.WatchStub(chan)) as ws:
            parted = ws.create(key=b"t/", range_end=b"t0", prev_kv=True, fragment=True).watch_id
            whole = ws.create(key=b"t/", range_end=b"t0", prev_kv=True).watch_id
            # under the limit as a request; with prev_kv its events reach it twice over
            txn = rpc_pb2.TxnRequest(success=[op_put(k, b"b" * VALUE) for k in keys])
            rev = kv.Txn(txn).header.revision
            got = collect(ws, parted, whole, len(keys))
            parts = got[parted]
            check_parts(parts, keys)
            assert all(e.prev_kv.value == b"a" * VALUE for p in parts for e in p.events)
            assert parts[0].header.revision == rev
            assert [(r.fragment, len(r.events)) for r in got[whole]] == [(False, len(keys))]
