"""Resource quantities (``250m`` CPU, ``64Mi`` memory) and pod requests.

CPU is counted in millicores, memory in bytes. ``"0.5"`` CPU is 500 millicores;
``"128Mi"`` is 134217728 bytes; ``"1G"`` is 10**9 bytes.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from kvstore.controllers.objects import Obj, containers

_SUFFIX: dict[str, Decimal | int] = {
    "": 1,
    "m": Decimal("0.001"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_QUANTITY = re.compile(r"^([+]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


def parse_quantity(value: object) -> Decimal:
    """A Kubernetes quantity as a number of base units; ``ValueError`` if malformed."""
    if isinstance(value, bool):
        raise ValueError(f"invalid quantity {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"invalid quantity {value!r} (e.g. 250m, 0.5, 64Mi, 1Gi)")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:
        raise ValueError(f"invalid quantity {value!r}") from exc
    return number * Decimal(_SUFFIX[match.group(2) or ""])


def millicores(value: object) -> int:
    return int(parse_quantity(value) * 1000)


def bytes_of(value: object) -> int:
    return int(parse_quantity(value))


def pod_requests(pod: Obj) -> tuple[int, int]:
    """(millicores, bytes) a pod requests: the sum over its containers."""
    cpu = mem = 0
    for c in containers(pod.get("spec") or {}):
        res: dict[str, Any] = c.get("resources") or {}
        requests = res.get("requests") or res.get("limits") or {}
        if "cpu" in requests:
            cpu += millicores(requests["cpu"])
        if "memory" in requests:
            mem += bytes_of(requests["memory"])
    return cpu, mem


def node_allocatable(node: Obj) -> tuple[int, int, int]:
    """(millicores, bytes, pods) a node offers; missing values mean "plenty"."""
    status = node.get("status") or {}
    alloc = status.get("allocatable") or status.get("capacity") or {}
    cpu = millicores(alloc["cpu"]) if "cpu" in alloc else 10**9
    mem = bytes_of(alloc["memory"]) if "memory" in alloc else 10**18
    pods = int(alloc["pods"]) if "pods" in alloc else 110
    return cpu, mem, pods


def format_millicores(value: int) -> str:
    return f"{value // 1000}" if value % 1000 == 0 else f"{value}m"


def format_bytes(value: int) -> str:
    for suffix, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value and value % size == 0:
            return f"{value // size}{suffix}"
    return str(value)
