"""Pod state as controllers read it: active, ready, available, and deletion rank."""

from __future__ import annotations

import time
from typing import Any

from kvstore.controllers import objects as o
from kvstore.controllers.objects import Obj

_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def node_name(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def is_active(pod: Obj) -> bool:
    """Counts toward a ReplicaSet's replicas: not terminating, not finished."""
    return not o.is_deleting(pod) and phase(pod) not in ("Succeeded", "Failed")


def is_ready(pod: Obj) -> bool:
    cond = o.get_condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def ready_since(pod: Obj) -> float | None:
    cond = o.get_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    stamp = cond.get("lastTransitionTime")
    return o.parse_time(stamp) if stamp else 0.0


def is_available(pod: Obj, min_ready_seconds: int, now: float | None = None) -> bool:
    """Ready for at least ``min_ready_seconds``."""
    since = ready_since(pod)
    if since is None:
        return False
    if min_ready_seconds <= 0:
        return True
    return (now if now is not None else time.time()) - since >= min_ready_seconds


def restarts(pod: Obj) -> int:
    statuses: list[dict[str, Any]] = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


def deletion_rank(pod: Obj) -> tuple[int, int, int, int, float, str]:
    """Sort key, least valuable first: unscheduled, pending, not ready, most restarts,
    youngest (as Kubernetes' ActivePods ordering)."""
    created = o.meta(pod).get("creationTimestamp")
    created_at = o.parse_time(created) if created else 0.0
    return (
        1 if node_name(pod) else 0,
        _PHASE_RANK.get(phase(pod), 0),
        1 if is_ready(pod) else 0,
        -restarts(pod),
        -created_at,
        o.name(pod),
    )
