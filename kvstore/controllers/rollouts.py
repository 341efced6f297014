"""Deployment rollout arithmetic and history: revisions, surge/unavailable, rollback.

``maxSurge``/``maxUnavailable`` are ints or percentages of ``spec.replicas``; surge
rounds up and unavailable rounds down (as Kubernetes); if both resolve to 0,
unavailable becomes 1 so a rollout can progress. Worked example: replicas 4,
maxSurge 25% → 1, maxUnavailable 25% → 1: at most 5 pods exist and at least 3 are
available at any time.
"""

from __future__ import annotations

import math
from typing import Any

from kvstore.controllers import objects as o
from kvstore.controllers.objects import POD_TEMPLATE_HASH, REVISION_ANNOTATION, Obj

CHANGE_CAUSE = "kubernetes.io/change-cause"


def resolve(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def surge_and_unavailable(deployment: Obj) -> tuple[int, int]:
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = resolve(ru.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = resolve(ru.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def revision(rs: Obj) -> int:
    try:
        return int(o.annotations_of(rs).get(REVISION_ANNOTATION, "0"))
    except ValueError:
        return 0


def spec_replicas(rs: Obj | None) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0)) if rs is not None else 0


def status_int(obj: Obj | None, field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0) if obj is not None else 0


def available(rs: Obj) -> int:
    """Available pods of ``rs``, never more than it is meant to have (stale status)."""
    return min(status_int(rs, "availableReplicas"), spec_replicas(rs))


def template_without_hash(template: dict[str, Any]) -> dict[str, Any]:
    t = o.deep_copy(template)
    (t.get("metadata") or {}).get("labels", {}).pop(POD_TEMPLATE_HASH, None)
    return t


def same_template(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return o.template_hash(a) == o.template_hash(b)


def split_new_old(deployment: Obj, replicasets: list[Obj]) -> tuple[Obj | None, list[Obj]]:
    """The ReplicaSet whose template equals the deployment's, and all the others."""
    template = (deployment.get("spec") or {}).get("template") or {}
    new: Obj | None = None
    old: list[Obj] = []
    for rs in sorted(replicasets, key=lambda r: (revision(r), o.name(r))):
        rs_template = (rs.get("spec") or {}).get("template") or {}
        if new is None and same_template(template, rs_template):
            new = rs
        else:
            old.append(rs)
    return new, old


def history(replicasets: list[Obj]) -> list[tuple[int, Obj]]:
    """(revision, ReplicaSet) oldest first."""
    return sorted(((revision(rs), rs) for rs in replicasets), key=lambda x: x[0])


def rollback_template(replicasets: list[Obj], to_revision: int) -> dict[str, Any]:
    """The template to put back for ``rollout undo`` (0: the previous revision)."""
    revs = history(replicasets)
    if to_revision == 0:
        if len(revs) < 2:
            raise LookupError("no rollout history found (no previous revision)")
        chosen = revs[-2][1]
    else:
        matches = [rs for rev, rs in revs if rev == to_revision]
        if not matches:
            raise LookupError(f"unable to find the specified revision {to_revision}")
        chosen = matches[0]
    return template_without_hash((chosen.get("spec") or {}).get("template") or {})
