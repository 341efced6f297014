"""Small object builders for unit tests."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from kvstore.controllers import objects as o
from kvstore.controllers.cache import Cache
from kvstore.controllers.objects import Obj
from kvstore.controllers.validation import apply_defaults

_rv = itertools.count(1)


def stamp(obj: Obj, **meta: Any) -> Obj:
    md = o.meta(obj)
    md.setdefault("uid", str(uuid.uuid4()))
    md.setdefault("resourceVersion", str(next(_rv)))
    md.setdefault("creationTimestamp", o.now_rfc3339())
    md.setdefault("generation", 1)
    md.update(meta)
    return apply_defaults(obj)


def template(image: str = "nginx:1.14.2", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels or {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": image}]},
    }


def replicaset(name: str = "web-1", replicas: int = 3, **meta: Any) -> Obj:
    return stamp(
        {
            "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": template(),
            },
        },
        **meta,
    )


def pod(
    name: str,
    owner: Obj | None = None,
    *,
    node: str = "",
    ready: bool = False,
    labels: dict[str, str] | None = None,
    created: str | None = None,
    requests: dict[str, str] | None = None,
) -> Obj:
    obj: Obj = {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels or {"app": "web"}},
        "spec": {
            "containers": [
                {"name": "web", "image": "nginx", "resources": {"requests": requests or {}}}
            ]
        },
        "status": {"phase": "Running" if ready else "Pending"},
    }
    if owner is not None:
        obj["metadata"]["ownerReferences"] = [o.owner_ref_to(owner)]
    if node:
        obj["spec"]["nodeName"] = node
    if ready:
        o.set_condition(obj["status"], "Ready", "True")
    if created:
        obj["metadata"]["creationTimestamp"] = created
    return stamp(obj)


def cache_of(*objs: Obj) -> Cache:
    c = Cache()
    for obj in objs:
        c.put(obj)
    return c
