"""KV calls against a real server."""

from __future__ import annotations

import pytest

from kvstore.client import (
    Client,
    CompactedError,
    FutureRevisionError,
    InvalidAuthTokenError,
    KeyNotFoundError,
    KeyNotProvidedError,
    LeaseNotFoundError,
    LeaseProvidedError,
    RequestTooLargeError,
    SortOrder,
    SortTarget,
    ValueProvidedError,
)
from tests.support.procs import ServerProcess


async def test_put_then_get_returns_typed_key_value(client: Client, ns: bytes) -> None:
    put = await client.put(ns + b"a", b"1")
    got = await client.get(ns + b"a")
    assert got.kv is not None
    assert got.kv.key == ns + b"a"
    assert got.kv.value == b"1"
    assert got.kv.create_revision == got.kv.mod_revision == put.revision
    assert got.kv.version == 1
    assert got.kv.lease == 0
    assert got.count == 1 and not got.more
    assert got.revision >= put.revision

    second = await client.put(ns + b"a", "2", prev_kv=True)
    assert second.prev_kv is not None and second.prev_kv.value == b"1"
    again = await client.get(ns + b"a")
    assert again.kv is not None
    assert again.kv.version == 2
    assert again.kv.mod_revision == second.revision
    assert again.kv.create_revision == put.revision


async def test_get_missing_key_has_header_only(client: Client, ns: bytes) -> None:
    got = await client.get(ns + b"missing")
    assert got.kv is None and got.value is None
    assert got.count == 0 and got.kvs == []
    assert got.revision > 0


async def test_range_options(client: Client, ns: bytes) -> None:
    revs = []
    for i in range(5):
        revs.append((await client.put(ns + f"k{i}".encode(), f"v{i}".encode())).revision)
    await client.put(ns + b"k1", b"v1b")

    limited = await client.get_prefix(ns, limit=2)
    assert [kv.key for kv in limited.kvs] == [ns + b"k0", ns + b"k1"]
    assert limited.more and limited.count == 5

    desc = await client.get_prefix(ns, sort_order=SortOrder.DESCEND, sort_target=SortTarget.KEY)
    assert [kv.key for kv in desc.kvs] == [ns + f"k{i}".encode() for i in reversed(range(5))]

    by_mod = await client.get_prefix(ns, sort_order=SortOrder.DESCEND, sort_target=SortTarget.MOD)
    assert by_mod.kvs[0].key == ns + b"k1"

    keys_only = await client.get_prefix(ns, keys_only=True)
    assert len(keys_only.kvs) == 5 and all(kv.value == b"" for kv in keys_only.kvs)

    count_only = await client.get_prefix(ns, count_only=True)
    assert count_only.count == 5 and count_only.kvs == []

    old = await client.get(ns + b"k1", revision=revs[4])
    assert old.value == b"v1"

    recent = await client.get_prefix(ns, min_mod_revision=revs[3])
    assert sorted(kv.key for kv in recent.kvs) == [ns + b"k1", ns + b"k3", ns + b"k4"]
    early = await client.get_prefix(ns, max_create_revision=revs[1])
    assert [kv.key for kv in early.kvs] == [ns + b"k0", ns + b"k1"]

    half_open = await client.range(ns + b"k1", ns + b"k3")
    assert [kv.key for kv in half_open.kvs] == [ns + b"k1", ns + b"k2"]

    stale_ok = await client.get(ns + b"k0", serializable=True)
    assert stale_ok.value == b"v0"


async def test_delete_forms(client: Client, ns: bytes) -> None:
    for k in (b"a", b"b", b"c", b"d"):
        await client.put(ns + k, k)
    one = await client.delete(ns + b"a", prev_kv=True)
    assert one.deleted == 1 and [kv.value for kv in one.prev_kvs] == [b"a"]
    ranged = await client.delete(ns + b"b", ns + b"d")
    assert ranged.deleted == 2 and ranged.prev_kvs == []
    rest = await client.delete_prefix(ns, prev_kv=True)
    assert rest.deleted == 1 and rest.prev_kvs[0].key == ns + b"d"
    assert (await client.get_prefix(ns)).count == 0
    assert (await client.delete(ns + b"nothing")).deleted == 0


async def test_put_lease_and_ignore_flags(client: Client, ns: bytes) -> None:
    lease = await client.grant(30)
    await client.put(ns + b"x", b"v", lease=lease.id)
    kept = await client.put(ns + b"x", ignore_value=True, ignore_lease=True)
    got = await client.get(ns + b"x")
    assert got.kv is not None and got.kv.value == b"v" and got.kv.lease == lease.id
    assert got.kv.mod_revision == kept.revision

    with pytest.raises(KeyNotFoundError) as missing:
        await client.put(ns + b"absent", ignore_value=True)
    assert missing.value.message == "etcdserver: key not found"
    with pytest.raises(ValueProvidedError):
        await client.put(ns + b"x", b"v2", ignore_value=True)
    with pytest.raises(LeaseProvidedError):
        await client.put(ns + b"x", b"v2", lease=lease.id, ignore_lease=True)
    with pytest.raises(LeaseNotFoundError) as no_lease:
        await client.put(ns + b"y", b"v", lease=0x1234567)
    assert no_lease.value.message == "etcdserver: requested lease not found"
    await client.revoke(lease.id)


async def test_request_errors_keep_code_and_message(client: Client, ns: bytes) -> None:
    with pytest.raises(KeyNotProvidedError) as empty:
        await client.put(b"", b"v")
    assert empty.value.code is not None and empty.value.code.name == "INVALID_ARGUMENT"
    assert empty.value.message == "etcdserver: key is not provided"

    current = (await client.get(ns)).revision
    with pytest.raises(FutureRevisionError) as future:
        await client.get(ns, revision=current + 1000)
    assert future.value.code is not None and future.value.code.name == "OUT_OF_RANGE"

    with pytest.raises(RequestTooLargeError):
        await client.put(ns + b"big", b"x" * (1024 * 1024 + 700 * 1024))


async def test_token_while_auth_disabled_is_invalid_auth_token(server: ServerProcess) -> None:
    async with Client([server.endpoint], token="bogus") as c:
        with pytest.raises(InvalidAuthTokenError) as err:
            await c.get(b"k")
    assert err.value.message == "etcdserver: invalid auth token"


async def test_pages_are_pinned_at_first_revision(client: Client, ns: bytes) -> None:
    for i in range(23):
        await client.put(ns + f"{i:03d}".encode(), b"v")
    seen: list[bytes] = []
    pages = 0
    async for page in client.pages(ns, prefix=True, page_size=5):
        pages += 1
        seen.extend(kv.key for kv in page.kvs)
        if len(seen) == 5:
            # written after the first page: must not appear in later pages
            await client.put(ns + b"999", b"late")
            await client.delete(ns + b"010")
    assert seen == [ns + f"{i:03d}".encode() for i in range(23)]
    assert pages == 5


async def test_compaction(fresh_server: ServerProcess) -> None:
    async with Client([fresh_server.endpoint]) as c:
        first = await c.put(b"c", b"1")
        await c.put(b"c", b"2")
        latest = await c.put(b"c", b"3")
        await c.compact(latest.revision, physical=True)
        with pytest.raises(CompactedError) as err:
            await c.get(b"c", revision=first.revision)
        assert err.value.message == "etcdserver: mvcc: required revision has been compacted"
        assert (await c.get(b"c", revision=latest.revision)).value == b"3"
        with pytest.raises(CompactedError):
            await c.compact(first.revision)

        async with c.watch(b"c", start_revision=first.revision) as w:
            with pytest.raises(CompactedError) as werr:
                async for _ in w:
                    pass
        assert werr.value.compact_revision == latest.revision

        # paging across a compaction of its pinned revision reports it
        for i in range(6):
            await c.put(f"p{i}".encode(), b"v")
        pages = c.pages(b"p", prefix=True, page_size=2)
        first_page = await anext(pages)
        await c.put(b"p9", b"v")
        await c.compact((await c.get(b"p9")).revision)
        with pytest.raises(CompactedError):
            await anext(pages)
        assert first_page.kvs


async def test_a_misspelt_range_option_is_refused_not_ignored(client: Client, ns: bytes) -> None:
    """``rev=`` for ``revision=`` used to read the latest state without a word."""
    with pytest.raises(TypeError, match="unknown range option"):
        await client.get(ns + b"k", rev=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unknown range option"):
        await client.get_prefix(ns, limt=1)  # type: ignore[call-arg]
