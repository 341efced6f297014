"""The blocking facade runs the async client on a private loop."""

from __future__ import annotations

import threading

import pytest

from kvstore.client import (
    Compare,
    EventType,
    KeyNotProvidedError,
    PutResult,
    RangeResult,
    SyncClient,
    get,
    put,
)
from tests.support.procs import ServerProcess


def test_sync_client_kv_txn_pages_lease_and_errors(server: ServerProcess, ns: bytes) -> None:
    with SyncClient([server.endpoint]) as c:
        written = c.put(ns + b"a", b"1")
        assert isinstance(written, PutResult)
        got = c.get(ns + b"a")
        assert isinstance(got, RangeResult) and got.value == b"1"
        result = c.txn().if_(Compare.value(ns + b"a") == b"1").then(put(ns + b"b", b"2")).commit()
        assert result.succeeded
        pages = [[kv.key for kv in p.kvs] for p in c.pages(ns, prefix=True, page_size=1)]
        assert pages == [[ns + b"a"], [ns + b"b"]]
        lease = c.grant(10)
        assert lease.id in c.leases()
        c.revoke(lease.id)
        with pytest.raises(KeyNotProvidedError):
            c.put(b"", b"x")
        with pytest.raises(AttributeError):
            c.no_such_method()
        assert c.txn().then(get(ns + b"b")).commit().responses


def test_sync_watch_is_a_blocking_iterator(server: ServerProcess, ns: bytes) -> None:
    with SyncClient([server.endpoint]) as c, c.watch(ns, prefix=True) as w:
        writer = threading.Thread(target=lambda: [c.put(ns + b"x", b"1"), c.delete(ns + b"x")])
        writer.start()
        events = []
        for event in w.events(timeout=10):
            events.append(event)
            if len(events) == 2:
                break
        writer.join()
    assert [e.type for e in events] == [EventType.PUT, EventType.DELETE]
