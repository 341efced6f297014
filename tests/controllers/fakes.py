"""A fake of the typed client for reconciler unit tests: records every write and,
optionally, applies it to the caches as an informer would."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from kvstore.controllers import objects as o
from kvstore.controllers.api import Propagation
from kvstore.controllers.cache import Cache
from kvstore.controllers.errors import AlreadyExistsError, ConflictError, NotFoundError
from kvstore.controllers.objects import Kind, Obj
from kvstore.controllers.validation import apply_defaults, validate


class FakeApi:
    def __init__(self, caches: dict[str, Cache], *, apply: bool = False) -> None:
        self.caches = caches
        self.apply = apply
        self.writes: list[tuple[str, str, Obj | None]] = []
        self._rv = itertools.count(1000)
        self._names = itertools.count(1)
        self._latest: dict[str, int] = {}
        """Key → resourceVersion of our last write (when not applied to the caches)."""

    def verbs(self, verb: str, plural: str | None = None) -> list[Obj | None]:
        return [
            obj
            for v, key, obj in self.writes
            if v == verb and (plural is None or key.startswith(plural + "/"))
        ]

    def _cache(self, kind: Kind) -> Cache:
        return self.caches.setdefault(kind.plural, Cache())

    def _store(self, kind: Kind, obj: Obj) -> None:
        if self.apply:
            self._cache(kind).put(obj)

    async def get(self, kind: Kind, namespace: str, name: str) -> Obj:
        obj = self._cache(kind).get(f"{namespace}/{name}" if kind.namespaced else name)
        if obj is None:
            raise NotFoundError(f"{kind.plural} {name}")
        return o.deep_copy(obj)

    async def create(self, obj: Obj) -> Obj:
        new = o.deep_copy(obj)
        md = o.meta(new)
        if not md.get("name"):
            md["name"] = f"{md['generateName']}{next(self._names):05d}"
        apply_defaults(new)
        validate(new)
        kind = o.kind_of(new)
        if self._cache(kind).get(o.cache_key(new)) is not None and self.apply:
            raise AlreadyExistsError(o.cache_key(new))
        md.update(
            uid=str(uuid.uuid4()),
            resourceVersion=str(next(self._rv)),
            creationTimestamp=o.now_rfc3339(),
            generation=1,
        )
        self.writes.append(("create", f"{kind.plural}/{o.cache_key(new)}", new))
        self._store(kind, new)
        return new

    async def _replace(self, verb: str, obj: Obj) -> Obj:
        kind = o.kind_of(obj)
        current = self._cache(kind).get(o.cache_key(obj))
        if current is None:
            raise NotFoundError(o.cache_key(obj))
        key = f"{kind.plural}/{o.cache_key(obj)}"
        expected = self._latest.get(key, o.resource_version(current))
        if expected != o.resource_version(obj):
            raise ConflictError(key, o.resource_version(obj), expected)
        new = o.deep_copy(obj)
        o.meta(new)["resourceVersion"] = str(next(self._rv))
        self._latest[key] = o.resource_version(new)
        self.writes.append((verb, f"{kind.plural}/{o.cache_key(new)}", new))
        self._store(kind, new)
        return new

    async def update(self, obj: Obj) -> Obj:
        return await self._replace("update", obj)

    async def update_status(self, obj: Obj) -> Obj:
        return await self._replace("update_status", obj)

    async def delete(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        *,
        propagation: Propagation = "Background",
        grace_period: int | None = None,
        uid: str | None = None,
    ) -> Obj | None:
        key = f"{namespace}/{name}" if kind.namespaced else name
        current = self._cache(kind).get(key)
        if current is None:
            raise NotFoundError(key)
        record: dict[str, Any] = {"propagation": propagation, **o.deep_copy(current)}
        self.writes.append(("delete", f"{kind.plural}/{key}", record))
        if self.apply:
            self._cache(kind).remove(key)
        return None
