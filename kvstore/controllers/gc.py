"""Garbage collection through ``metadata.ownerReferences``.

Keys are ``<plural>/<cache key>`` (``replicasets/default/web-5d4f``). For each object:

* **foreground**: an owner with ``deletionTimestamp`` and the ``foregroundDeletion``
  finalizer stays until its dependents are gone: the collector deletes them (in the
  foreground too, when they can have dependents of their own) and, once none is left,
  removes the finalizer — which deletes the owner;
* **orphan**: with the ``orphan`` finalizer, dependents lose their owner reference
  instead, then the finalizer goes;
* **background**: a dependent all of whose owners are gone is deleted; references to
  owners that are gone are dropped when other owners remain. "Gone" is confirmed
  with a live read (the cache may lag behind the store), and the uid must match: a
  new object with the old name is not the owner.
"""

from __future__ import annotations

import contextlib
import logging

from kvstore.controllers import objects as o
from kvstore.controllers.api import ObjectWriter
from kvstore.controllers.cache import Cache
from kvstore.controllers.config import ControllerConfig
from kvstore.controllers.controller import Controller
from kvstore.controllers.errors import NotFoundError
from kvstore.controllers.informer import Handlers, Informer
from kvstore.controllers.objects import FOREGROUND_FINALIZER, POD, Kind, Obj, kind_named

logger = logging.getLogger(__name__)

ORPHAN_FINALIZER = "orphan"
RECHECK = 1.0


class GarbageCollector(Controller):
    name = "garbage-collector"

    def __init__(
        self,
        api: ObjectWriter,
        caches: dict[str, Cache],
        config: ControllerConfig,
        wait_for: list[Informer] | None = None,
    ) -> None:
        """``caches`` maps a kind's plural to its cache (every kind that owns or is owned)."""
        super().__init__(config, wait_for or [], config.workers)
        self.api = api
        self.caches = caches

    @classmethod
    def from_informers(
        cls, api: ObjectWriter, informers: list[Informer], config: ControllerConfig
    ) -> GarbageCollector:
        gc = cls(api, {i.kind.plural: i.cache for i in informers}, config, informers)
        for informer in informers:
            informer.add_handlers(gc.handlers_for(informer.kind.plural))
        return gc

    def handlers_for(self, plural: str) -> Handlers:
        def on_add(obj: Obj) -> None:
            self.changed(plural, obj)

        def on_update(old: Obj, new: Obj) -> None:
            self.changed(plural, new)

        def on_delete(obj: Obj) -> None:
            self.deleted(plural, obj)

        return Handlers(on_add, on_update, on_delete)

    # --- event handlers --------------------------------------------------------------

    def changed(self, plural: str, obj: Obj) -> None:
        if o.owner_references(obj) or o.is_deleting(obj):
            self.queue.add(f"{plural}/{o.cache_key(obj)}")

    def deleted(self, plural: str, obj: Obj) -> None:
        for dep_plural, dep in self._dependents(obj):
            self.queue.add(f"{dep_plural}/{o.cache_key(dep)}")
        for ref in o.owner_references(obj):
            found = self._cached_owner(ref)
            if found is not None and o.is_deleting(found[1]):
                self.queue.add(f"{found[0]}/{o.cache_key(found[1])}")

    def _dependents(self, owner: Obj) -> list[tuple[str, Obj]]:
        out: list[tuple[str, Obj]] = []
        for plural, cache in self.caches.items():
            out.extend((plural, dep) for dep in cache.by_index("owner", o.uid(owner)))
        return out

    def _cached_owner(self, ref: dict[str, object]) -> tuple[str, Obj] | None:
        try:
            kind = kind_named(str(ref.get("kind", "")))
        except KeyError:
            return None
        cache = self.caches.get(kind.plural)
        if cache is None:
            return None
        owner = cache.get_by_uid(str(ref.get("uid", "")))
        return (kind.plural, owner) if owner is not None else None

    # --- reconcile -------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        plural, _, ck = key.partition("/")
        cache = self.caches.get(plural)
        obj = cache.get(ck) if cache is not None else None
        if obj is None:
            return None
        kind = kind_named(plural)
        finalizers = list(o.meta(obj).get("finalizers") or [])
        if o.is_deleting(obj) and FOREGROUND_FINALIZER in finalizers:
            return await self._foreground(kind, obj, finalizers)
        if o.is_deleting(obj) and ORPHAN_FINALIZER in finalizers:
            return await self._orphan(obj, finalizers)
        if o.owner_references(obj):
            await self._check_owners(kind, obj)
        return None

    async def _foreground(self, kind: Kind, owner: Obj, finalizers: list[str]) -> float | None:
        deps = self._dependents(owner)
        if deps:
            for plural, dep in deps:
                if o.is_deleting(dep):
                    continue
                dep_kind = kind_named(plural)
                can_own = (
                    any(c.by_index("owner", o.uid(dep)) for c in self.caches.values())
                    or dep_kind is not POD
                )
                try:
                    await self.api.delete(
                        dep_kind,
                        o.namespace(dep),
                        o.name(dep),
                        propagation="Foreground" if can_own else "Background",
                        uid=o.uid(dep),
                    )
                    logger.info(
                        "deleting dependent %s/%s of %s (foreground)",
                        plural,
                        o.cache_key(dep),
                        o.cache_key(owner),
                    )
                except NotFoundError:
                    pass
            return RECHECK
        await self._drop_finalizer(owner, finalizers, FOREGROUND_FINALIZER)
        logger.info("foreground deletion complete %s/%s", kind.plural, o.cache_key(owner))
        return None

    async def _orphan(self, owner: Obj, finalizers: list[str]) -> float | None:
        for _, dep in self._dependents(owner):
            new = o.deep_copy(dep)
            o.meta(new)["ownerReferences"] = [
                ref for ref in o.owner_references(dep) if ref.get("uid") != o.uid(owner)
            ]
            await self.api.update(new)
        await self._drop_finalizer(owner, finalizers, ORPHAN_FINALIZER)
        return None

    async def _drop_finalizer(self, obj: Obj, finalizers: list[str], name: str) -> None:
        new = o.deep_copy(obj)
        o.meta(new)["finalizers"] = [f for f in finalizers if f != name]
        with contextlib.suppress(NotFoundError):
            await self.api.update(new)

    async def _owner_exists(self, ns: str, ref: dict[str, object]) -> bool:
        if self._cached_owner(ref) is not None:
            return True
        try:
            kind = kind_named(str(ref.get("kind", "")))
        except KeyError:
            return True  # not ours to judge
        try:
            live = await self.api.get(kind, ns if kind.namespaced else "", str(ref.get("name")))
        except NotFoundError:
            return False
        return o.uid(live) == ref.get("uid")

    async def _check_owners(self, kind: Kind, obj: Obj) -> None:
        refs = o.owner_references(obj)
        alive = [ref for ref in refs if await self._owner_exists(o.namespace(obj), ref)]
        if len(alive) == len(refs):
            return
        if not alive:
            if o.is_deleting(obj):
                return
            try:
                await self.api.delete(kind, o.namespace(obj), o.name(obj), uid=o.uid(obj))
                logger.info("deleted %s/%s: its owners are gone", kind.plural, o.cache_key(obj))
            except NotFoundError:
                pass
            return
        new = o.deep_copy(obj)
        o.meta(new)["ownerReferences"] = alive
        await self.api.update(new)
