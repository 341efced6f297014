"""The typed client: Kubernetes-style objects over :mod:`kvstore.client`.

Every write is a Txn guarded by the key's mod revision (optimistic concurrency):
``update(obj)`` succeeds only if ``obj.metadata.resourceVersion`` is still the key's
mod revision, else it raises :class:`ConflictError`; re-read and try again.
``update`` changes metadata and spec and keeps the stored status; ``update_status``
changes only the status (like Kubernetes' ``/status`` subresource).

Deletion follows Kubernetes:

* an object with finalizers, or deleted with ``propagation="Foreground"`` (which adds
  the ``foregroundDeletion`` finalizer), only gets ``metadata.deletionTimestamp``; it
  disappears when an update removes its last finalizer;
* a pod bound to a node is deleted gracefully: it gets ``deletionTimestamp`` and its
  node agent removes it with ``grace_period=0`` once its containers have stopped;
* anything else is removed at once (``Background``: the garbage collector then
  deletes its dependents; ``Orphan``: dependents keep running, their owner
  references are dropped by the collector).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from kvstore.client import Client, Compare, KeyValue, RangeResult, TxnResult, delete, get, put
from kvstore.controllers import objects as o
from kvstore.controllers.errors import AlreadyExistsError, ConflictError, NotFoundError
from kvstore.controllers.objects import FOREGROUND_FINALIZER, POD, Kind, Obj
from kvstore.controllers.selectors import Selector
from kvstore.controllers.validation import apply_defaults, validate

Propagation = Literal["Background", "Foreground", "Orphan"]
EventKind = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: EventKind
    object: Obj
    revision: int


@dataclass(frozen=True, slots=True)
class ObjectList:
    items: list[Obj]
    revision: int
    """The store revision the list was read at (watch from ``revision + 1``)."""


class ObjectWriter(Protocol):
    """What a reconciler may do to the store (a fake of it tests reconcilers)."""

    async def get(self, kind: Kind, namespace: str, name: str) -> Obj: ...

    async def create(self, obj: Obj) -> Obj: ...

    async def update(self, obj: Obj) -> Obj: ...

    async def update_status(self, obj: Obj) -> Obj: ...

    async def delete(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        *,
        propagation: Propagation = "Background",
        grace_period: int | None = None,
        uid: str | None = None,
    ) -> Obj | None: ...


def _what(kind: Kind, namespace: str, name: str) -> str:
    return f'{kind.plural} "{name}"' + (f' in namespace "{namespace}"' if namespace else "")


def _first_kv(result: TxnResult) -> KeyValue | None:
    for r in result.responses:
        if isinstance(r, RangeResult):
            return r.kv
    return None


class ObjectClient:
    """Create, get, list, update, delete and watch objects; see the module docstring."""

    def __init__(self, client: Client) -> None:
        self.client = client

    # --- reads -----------------------------------------------------------------------

    async def get(self, kind: Kind, namespace: str, name: str) -> Obj:
        result = await self.client.get(kind.key(namespace, name))
        if result.kv is None:
            raise NotFoundError(_what(kind, namespace, name))
        return o.decode(result.kv.value, result.kv.mod_revision)

    async def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        selector: Selector | None = None,
        *,
        revision: int = 0,
    ) -> ObjectList:
        """Every object of ``kind`` (in ``namespace``) matching ``selector``, at one revision."""
        items: list[Obj] = []
        at = 0
        async for page in self.client.pages(
            kind.list_prefix(namespace), prefix=True, revision=revision
        ):
            at = at or page.header.revision
            for kv in page.kvs:
                obj = o.decode(kv.value, kv.mod_revision)
                if selector is None or selector.matches(o.labels(obj)):
                    items.append(obj)
        return ObjectList(items, revision or at)

    async def watch(
        self, kind: Kind, namespace: str | None = None, *, start_revision: int = 0
    ) -> AsyncIterator[WatchEvent]:
        """Events from ``start_revision`` on; raises ``CompactedError`` if it is gone."""
        async with self.client.watch(
            kind.list_prefix(namespace), prefix=True, start_revision=start_revision, prev_kv=True
        ) as watch:
            async for event in watch:
                kv = event.kv
                if event.type.value == "DELETE":
                    if event.prev_kv is None:
                        continue
                    obj = o.decode(event.prev_kv.value, kv.mod_revision)
                    yield WatchEvent("DELETED", obj, kv.mod_revision)
                else:
                    added = kv.create_revision == kv.mod_revision
                    obj = o.decode(kv.value, kv.mod_revision)
                    yield WatchEvent("ADDED" if added else "MODIFIED", obj, kv.mod_revision)

    # --- writes ----------------------------------------------------------------------

    async def create(self, obj: Obj) -> Obj:
        """Create ``obj`` (``metadata.generateName`` picks a unique suffix)."""
        new = o.deep_copy(obj)
        md = o.meta(new)
        if not md.get("name") and md.get("generateName"):
            md["name"] = f"{md['generateName']}{secrets.token_hex(3)[:5]}"
        apply_defaults(new)
        validate(new)
        kind = o.kind_of(new)
        for field in ("resourceVersion", "deletionTimestamp"):
            md.pop(field, None)
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = o.now_rfc3339()
        md["generation"] = 1
        key = kind.key(o.namespace(new), o.name(new))
        result = await (
            self.client.txn()
            .if_(Compare.create(key) == 0)
            .then(put(key, o.encode(new)))
            .else_(get(key))
            .commit()
        )
        if not result.succeeded:
            raise AlreadyExistsError(_what(kind, o.namespace(new), o.name(new)))
        md["resourceVersion"] = str(result.revision)
        return new

    async def update(self, obj: Obj) -> Obj:
        """Write metadata and spec if ``resourceVersion`` is current; status is kept."""
        return await self._replace(obj, status_only=False)

    async def update_status(self, obj: Obj) -> Obj:
        """Write only ``status`` if ``resourceVersion`` is current."""
        return await self._replace(obj, status_only=True)

    async def _replace(self, obj: Obj, *, status_only: bool) -> Obj:
        kind = o.kind_of(obj)
        ns, nm = o.namespace(obj), o.name(obj)
        if kind.namespaced and not ns:
            ns = "default"
        current = await self.get(kind, ns, nm)
        expected = o.resource_version(obj) or o.resource_version(current)
        actual = o.resource_version(current)
        if expected != actual:
            raise ConflictError(_what(kind, ns, nm), expected, actual)
        if o.uid(obj) and o.uid(obj) != o.uid(current):
            raise ConflictError(_what(kind, ns, nm), expected, actual)
        if status_only:
            new = o.deep_copy(current)
            new["status"] = o.deep_copy(obj.get("status") or {})
        else:
            new = o.deep_copy(obj)
            md = o.meta(new)
            cmd = o.meta(current)
            for field in ("uid", "creationTimestamp", "generation"):
                md[field] = cmd.get(field)
            md["namespace"] = cmd.get("namespace")
            if cmd.get("deletionTimestamp"):
                md["deletionTimestamp"] = cmd["deletionTimestamp"]
            else:
                md.pop("deletionTimestamp", None)
            new["status"] = o.deep_copy(current.get("status") or {})
            apply_defaults(new)
            validate(new)
            if new.get("spec") != current.get("spec"):
                md["generation"] = int(cmd.get("generation") or 1) + 1
        if o.is_deleting(new) and not o.meta(new).get("finalizers") and kind is not POD:
            await self._txn_delete(kind, ns, nm, actual)
            return new
        return await self._write_meta(kind, new, actual)

    def _check(self, result: TxnResult, kind: Kind, ns: str, nm: str, expected: int) -> None:
        if result.succeeded:
            return
        kv = _first_kv(result)
        if kv is None:
            raise NotFoundError(_what(kind, ns, nm))
        raise ConflictError(_what(kind, ns, nm), expected, kv.mod_revision)

    async def _txn_delete(self, kind: Kind, ns: str, nm: str, expected: int) -> None:
        key = kind.key(ns, nm)
        result = await (
            self.client.txn()
            .if_(Compare.mod(key) == expected)
            .then(delete(key))
            .else_(get(key))
            .commit()
        )
        self._check(result, kind, ns, nm, expected)

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
        """Delete (see the module docstring); returns the object if it still exists.

        ``uid`` is a precondition: only that incarnation of the name is deleted.
        """
        for _ in range(10):
            current = await self.get(kind, namespace, name)
            if uid and o.uid(current) != uid:
                raise NotFoundError(_what(kind, namespace, name) + f" with uid {uid}")
            rv = o.resource_version(current)
            md = o.meta(current)
            finalizers: list[str] = list(md.get("finalizers") or [])
            if (
                propagation == "Foreground"
                and FOREGROUND_FINALIZER not in finalizers
                and not o.is_deleting(current)
            ):
                finalizers.append(FOREGROUND_FINALIZER)
            if propagation == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            graceful = (
                kind is POD
                and bool((current.get("spec") or {}).get("nodeName"))
                and grace_period != 0
            )
            try:
                if not finalizers and not graceful:
                    await self._txn_delete(kind, namespace, name, rv)
                    return None
                if o.is_deleting(current) and finalizers == list(md.get("finalizers") or []):
                    return current  # already being deleted
                md["finalizers"] = finalizers
                md.setdefault("deletionTimestamp", o.now_rfc3339())
                if graceful:
                    # as Kubernetes: the pod's own terminationGracePeriodSeconds
                    # unless the caller gives one (default 30)
                    spec_grace = (current.get("spec") or {}).get("terminationGracePeriodSeconds")
                    default = 30 if spec_grace is None else int(spec_grace)
                    chosen = default if grace_period is None else grace_period
                    md.setdefault("deletionGracePeriodSeconds", chosen)
                return await self._write_meta(kind, current, rv)
            except ConflictError:
                continue
        raise ConflictError(_what(kind, namespace, name), 0, 0)

    async def _write_meta(self, kind: Kind, obj: Obj, expected: int) -> Obj:
        ns, nm = o.namespace(obj), o.name(obj)
        key = kind.key(ns, nm)
        result = await (
            self.client.txn()
            .if_(Compare.mod(key) == expected)
            .then(put(key, o.encode(obj)))
            .else_(get(key))
            .commit()
        )
        self._check(result, kind, ns, nm, expected)
        o.meta(obj)["resourceVersion"] = str(result.revision)
        return obj


def merge_labels(*maps: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in maps:
        out.update({str(k): str(v) for k, v in (m or {}).items()})
    return out
