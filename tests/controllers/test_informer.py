"""Informers against a real (in-process) server, and the work queue."""

from __future__ import annotations

import asyncio

from kvstore.client import Client
from kvstore.controllers import objects as o
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.config import InformerConfig, QueueConfig
from kvstore.controllers.informer import Handlers, Informer
from kvstore.controllers.objects import POD, Obj
from kvstore.controllers.workqueue import WorkQueue
from tests.controllers.builders import pod
from tests.controllers.conftest import eventually


def bare(name: str, app: str = "web") -> Obj:
    p = pod(name, labels={"app": app})
    md = o.meta(p)
    for field in ("uid", "resourceVersion", "creationTimestamp", "generation"):
        md.pop(field)
    return p


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def handlers(self) -> Handlers:
        return Handlers(
            lambda obj: self.events.append(("add", o.name(obj))),
            lambda old, new: self.events.append(("update", o.name(new))),
            lambda obj: self.events.append(("delete", o.name(obj))),
        )


async def test_informer_lists_then_watches_with_indexes(api: ObjectClient) -> None:
    await api.create(bare("a"))
    informer = Informer(api, POD, InformerConfig(resync_period=0))
    rec = Recorder()
    informer.add_handlers(rec.handlers())
    await informer.start()
    try:
        await informer.wait_synced(5)
        assert rec.events == [("add", "a")]
        b = await api.create(bare("b", "db"))
        await eventually(lambda: informer.cache.get("default/b") is not None)
        assert [o.name(x) for x in informer.cache.by_index("label", "app=db")] == ["b"]
        b["metadata"]["labels"] = {"app": "web"}
        await api.update(b)
        await eventually(lambda: len(informer.cache.by_index("label", "app=web")) == 2)
        assert informer.cache.by_index("label", "app=db") == []
        await api.delete(POD, "default", "a")
        await eventually(lambda: ("delete", "a") in rec.events)
    finally:
        await informer.aclose()


async def test_informer_relists_after_compaction_and_synthesizes_deletes(
    api: ObjectClient, client: Client
) -> None:
    for name in ("a", "b", "c"):
        await api.create(bare(name))
    informer = Informer(api, POD, InformerConfig(resync_period=0, backoff_initial=0.01))
    rec = Recorder()
    informer.add_handlers(rec.handlers())
    await informer.start()
    await informer.wait_synced(5)
    listed_at = informer.revision
    await informer.aclose()  # the watch breaks ...

    # ... and during the gap b is deleted, d created, and the history compacted
    await api.delete(POD, "default", "b")
    await api.create(bare("d"))
    current = (await client.get("x")).revision
    await client.compact(current)
    rec.events.clear()

    # Resume the watch where it was (as after a broken stream): it hits CompactedError,
    # and the informer must re-list and deliver what happened in the gap.
    real_relist = informer._relist
    calls = 0

    async def resume_then_relist() -> int:
        nonlocal calls
        calls += 1
        return listed_at if calls == 1 else await real_relist()

    informer._relist = resume_then_relist  # type: ignore[method-assign]
    await informer.start()
    try:
        await eventually(lambda: calls >= 2)
        await eventually(lambda: ("delete", "b") in rec.events and ("add", "d") in rec.events)
        assert sorted(informer.cache.keys()) == ["default/a", "default/c", "default/d"]
        # the watch runs again after the re-list
        await api.create(bare("e"))
        await eventually(lambda: ("add", "e") in rec.events)
    finally:
        await informer.aclose()


async def test_informer_resyncs(api: ObjectClient) -> None:
    await api.create(bare("a"))
    informer = Informer(api, POD, InformerConfig(resync_period=0.05))
    rec = Recorder()
    informer.add_handlers(rec.handlers())
    await informer.start()
    try:
        await eventually(lambda: rec.events.count(("update", "a")) >= 2)
    finally:
        await informer.aclose()


async def test_workqueue_dedups_and_serialises_keys() -> None:
    q = WorkQueue(QueueConfig(base_delay=0.01, max_delay=0.05))
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2
    key = await q.get()
    assert key == "a"
    q.add("a")  # while processing: dirty, not handed out twice
    assert await q.get() == "b"
    got = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not got.done()
    q.done("a")  # ... queued again now
    assert await asyncio.wait_for(got, 1) == "a"
    q.done("a")
    q.done("b")
    q.add_rate_limited("c")
    q.add_rate_limited("c")
    assert q.failures("c") == 2
    assert await asyncio.wait_for(q.get(), 1) == "c"
    q.forget("c")
    assert q.failures("c") == 0
    q.shutdown()
