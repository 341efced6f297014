"""The informer's local cache: objects by key, with indexes.

Indexes map an index value to the keys of the objects that have it:

* ``namespace`` → ``"default"``;
* ``label`` → ``"app=web"`` for each label (answers equality selectors quickly);
* ``owner`` → the uid of each owner reference (dependents of an object).

The cache is read by reconcilers and written only by its informer (one event loop,
so no locks). Objects handed out must be treated as read-only: copy before changing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kvstore.controllers import objects as o
from kvstore.controllers.objects import Obj
from kvstore.controllers.selectors import Selector

IndexFunc = Callable[[Obj], Iterable[str]]


def _by_namespace(obj: Obj) -> Iterable[str]:
    return [o.namespace(obj)]


def _by_label(obj: Obj) -> Iterable[str]:
    return [f"{k}={v}" for k, v in o.labels(obj).items()]


def _by_owner(obj: Obj) -> Iterable[str]:
    return [str(ref.get("uid", "")) for ref in o.owner_references(obj)]


DEFAULT_INDEXES: dict[str, IndexFunc] = {
    "namespace": _by_namespace,
    "label": _by_label,
    "owner": _by_owner,
}


class Cache:
    def __init__(self, indexes: dict[str, IndexFunc] | None = None) -> None:
        self._objects: dict[str, Obj] = {}
        self._index_funcs = dict(DEFAULT_INDEXES if indexes is None else indexes)
        self._indexes: dict[str, dict[str, set[str]]] = {n: {} for n in self._index_funcs}
        self._by_uid: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, key: str) -> Obj | None:
        return self._objects.get(key)

    def get_by_uid(self, uid: str) -> Obj | None:
        key = self._by_uid.get(uid)
        return self._objects.get(key) if key is not None else None

    def keys(self) -> list[str]:
        return list(self._objects)

    def items(self) -> list[Obj]:
        return list(self._objects.values())

    def by_index(self, index: str, value: str) -> list[Obj]:
        keys = self._indexes[index].get(value, set())
        return [self._objects[k] for k in sorted(keys)]

    def list(self, namespace: str | None = None, selector: Selector | None = None) -> list[Obj]:
        objs = self.by_index("namespace", namespace) if namespace is not None else self.items()
        if selector is None:
            return objs
        return [obj for obj in objs if selector.matches(o.labels(obj))]

    def put(self, obj: Obj) -> Obj | None:
        """Insert or replace; returns the previous object."""
        key = o.cache_key(obj)
        old = self._objects.get(key)
        if old is not None:
            self._unindex(key, old)
        self._objects[key] = obj
        for name, func in self._index_funcs.items():
            for value in func(obj):
                self._indexes[name].setdefault(value, set()).add(key)
        self._by_uid[o.uid(obj)] = key
        return old

    def remove(self, key: str) -> Obj | None:
        old = self._objects.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, func in self._index_funcs.items():
            for value in func(obj):
                keys = self._indexes[name].get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._indexes[name][value]
        if self._by_uid.get(o.uid(obj)) == key:
            del self._by_uid[o.uid(obj)]
