"""Transactions: every compare target and operator, nested txns, typed results."""

from __future__ import annotations

import pytest

from kvstore.client import (
    Client,
    Compare,
    DeleteResult,
    DuplicateKeyError,
    PutResult,
    RangeResult,
    TooManyOpsError,
    TxnResult,
    delete,
    get,
    put,
    txn,
)


async def test_compare_mod_revision_like_kubernetes_update(client: Client, ns: bytes) -> None:
    key = ns + b"obj"
    created = await (
        client.txn().if_(Compare.mod(key) == 0).then(put(key, b"v1")).else_(get(key)).commit()
    )
    assert created.succeeded
    assert isinstance(created.responses[0], PutResult)
    rev = created.revision

    update = (
        client.txn().if_(Compare.mod(key) == rev).then(put(key, b"v2")).else_(get(key)).commit()
    )
    updated = await update
    assert updated.succeeded

    stale = await (
        client.txn().if_(Compare.mod(key) == rev).then(put(key, b"v3")).else_(get(key)).commit()
    )
    assert not stale.succeeded
    current = stale.responses[0]
    assert isinstance(current, RangeResult)
    assert current.value == b"v2" and current.kvs[0].mod_revision == updated.revision


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda k: Compare.value(k) == b"b", True),
        (lambda k: Compare.value(k) != b"b", False),
        (lambda k: Compare.value(k) > b"a", True),
        (lambda k: Compare.value(k) < b"a", False),
        (lambda k: Compare.version(k) == 2, True),
        (lambda k: Compare.version(k) > 2, False),
        (lambda k: Compare.version(k) < 3, True),
        (lambda k: Compare.version(k) != 2, False),
        (lambda k: Compare.create(k) > 0, True),
        (lambda k: Compare.create(k) < 1, False),
        (lambda k: Compare.mod(k) > 0, True),
        (lambda k: Compare.lease(k) == 0, True),
        (lambda k: Compare.lease(k) != 0, False),
    ],
)
async def test_compare_targets(client: Client, ns: bytes, make: object, expected: bool) -> None:
    key = ns + b"k"
    await client.put(key, b"a")
    await client.put(key, b"b")
    assert callable(make)
    result = await client.txn().if_(make(key)).then(get(key)).else_(get(key)).commit()
    assert result.succeeded is expected


async def test_compare_lease_and_prefix(client: Client, ns: bytes) -> None:
    lease = await client.grant(30)
    await client.put(ns + b"a", b"1", lease=lease.id)
    await client.put(ns + b"b", b"1", lease=lease.id)
    leased = await client.txn().if_(Compare.lease(ns + b"a") == lease.id).commit()
    assert leased.succeeded
    all_ones = await client.txn().if_(Compare.value(ns, prefix=True) == b"1").commit()
    assert all_ones.succeeded
    await client.put(ns + b"c", b"2")
    not_all = await client.txn().if_(Compare.value(ns, prefix=True) == b"1").commit()
    assert not not_all.succeeded
    await client.revoke(lease.id)


async def test_nested_txn_and_typed_responses(client: Client, ns: bytes) -> None:
    await client.put(ns + b"gone", b"x")
    result = await (
        client.txn()
        .if_(Compare.version(ns + b"gone") > 0)
        .then(
            delete(ns + b"gone", prev_kv=True),
            put(ns + b"new", b"n"),
            txn().if_(Compare.version(ns + b"new") == 0).then(put(ns + b"inner", b"i")),
            get(ns, prefix=True),
        )
        .commit()
    )
    assert result.succeeded
    deleted, written, inner, listing = result.responses
    assert isinstance(deleted, DeleteResult) and deleted.deleted == 1
    assert deleted.prev_kvs[0].value == b"x"
    assert isinstance(written, PutResult)
    assert isinstance(inner, TxnResult) and inner.succeeded
    assert isinstance(inner.responses[0], PutResult)
    assert isinstance(listing, RangeResult)
    assert [kv.key for kv in listing.kvs] == [ns + b"inner", ns + b"new"]
    # one revision for the whole transaction
    assert {kv.mod_revision for kv in listing.kvs} == {result.revision}


async def test_txn_errors(client: Client, ns: bytes) -> None:
    with pytest.raises(TooManyOpsError):
        await client.txn().then(*[put(ns + f"{i}".encode(), b"v") for i in range(129)]).commit()
    with pytest.raises(DuplicateKeyError):
        await client.txn().then(put(ns + b"a", b"1"), put(ns + b"a", b"2")).commit()
    with pytest.raises(TypeError):
        client.txn().if_(True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Compare.version(ns) == b"x"  # noqa: B015
    with pytest.raises(TypeError):
        txn().commit()
