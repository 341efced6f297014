"""Objects in Kubernetes' shape, as plain JSON dicts, and where they live in the store.

An object is ``{"apiVersion", "kind", "metadata", "spec", "status"}`` exactly as in a
Kubernetes manifest, so the docs' YAML loads unchanged. It is stored as JSON under
``/registry/<plural>/<namespace>/<name>``; cluster-scoped kinds (nodes) have no
namespace segment: ``/registry/nodes/<name>``. ``metadata.resourceVersion`` is the
key's mod revision and is never stored inside the value; it is filled in on read.

Worked example: ``kind: Deployment, metadata: {name: web}`` created in namespace
``default`` at revision 41 is the key ``/registry/deployments/default/web``; reading
it gives ``metadata.resourceVersion == "41"``. A cache key is ``default/web`` (just
``node-1`` for a node), like client-go's MetaNamespaceKey.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
"""One object: a JSON-compatible dict in Kubernetes' shape."""

REGISTRY = "/registry/"
POD_TEMPLATE_HASH = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
FOREGROUND_FINALIZER = "foregroundDeletion"


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of object the control plane knows."""

    kind: str
    plural: str
    api_version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        return f"{REGISTRY}{self.plural}/"

    def key(self, namespace: str, name: str) -> str:
        """The store key of one object."""
        if self.namespaced:
            return f"{self.prefix}{namespace}/{name}"
        return f"{self.prefix}{name}"

    def list_prefix(self, namespace: str | None) -> str:
        """The store prefix of every object, or of one namespace's objects."""
        if self.namespaced and namespace:
            return f"{self.prefix}{namespace}/"
        return self.prefix


POD = Kind("Pod", "pods", "v1", True, ("po", "pod"))
NODE = Kind("Node", "nodes", "v1", False, ("no", "node"))
SERVICE = Kind("Service", "services", "v1", True, ("svc", "service"))
REPLICA_SET = Kind("ReplicaSet", "replicasets", "apps/v1", True, ("rs", "replicaset"))
DEPLOYMENT = Kind("Deployment", "deployments", "apps/v1", True, ("deploy", "deployment"))
LEASE = Kind("Lease", "leases", "coordination.k8s.io/v1", True, ("lease",))
ENDPOINTS = Kind("Endpoints", "endpoints", "v1", True, ("ep",))
PVC = Kind("PersistentVolumeClaim", "persistentvolumeclaims", "v1", True, ("pvc",))
PV = Kind("PersistentVolume", "persistentvolumes", "v1", False, ("pv",))
KINDS: tuple[Kind, ...] = (
    POD,
    NODE,
    SERVICE,
    REPLICA_SET,
    DEPLOYMENT,
    LEASE,
    ENDPOINTS,
    PVC,
    PV,
)
NODE_LEASE_NAMESPACE = "kube-node-lease"
"""Node heartbeats are Lease objects named after their node in this namespace."""


def kind_named(name: str) -> Kind:
    """Find a kind by its name, plural or short name (``deploy``, ``pods``, ``Pod``)."""
    wanted = name.lower()
    for k in KINDS:
        if wanted in (k.kind.lower(), k.plural, *k.short_names):
            return k
    known = ", ".join(k.plural for k in KINDS)
    raise KeyError(f"unknown kind {name!r} (known: {known})")


def kind_of(obj: Obj) -> Kind:
    return kind_named(str(obj.get("kind", "")))


# --- metadata accessors ------------------------------------------------------------


def meta(obj: Obj) -> dict[str, Any]:
    m = obj.setdefault("metadata", {})
    assert isinstance(m, dict)
    return m


def name(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def namespace(obj: Obj) -> str:
    return str(meta(obj).get("namespace", ""))


def uid(obj: Obj) -> str:
    return str(meta(obj).get("uid", ""))


def labels(obj: Obj) -> dict[str, str]:
    return dict(meta(obj).get("labels") or {})


def annotations_of(obj: Obj) -> dict[str, str]:
    return dict(meta(obj).get("annotations") or {})


def resource_version(obj: Obj) -> int:
    return int(meta(obj).get("resourceVersion") or 0)


def is_deleting(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def cache_key(obj: Obj) -> str:
    """``namespace/name``, or ``name`` for a cluster-scoped object."""
    ns = namespace(obj)
    return f"{ns}/{name(obj)}" if ns else name(obj)


def split_key(key: str) -> tuple[str, str]:
    """``"ns/name"`` → ``("ns", "name")``; ``"name"`` → ``("", "name")``."""
    ns, _, nm = key.rpartition("/")
    return ns, nm


def store_key(obj: Obj) -> str:
    return kind_of(obj).key(namespace(obj), name(obj))


def owner_references(obj: Obj) -> list[dict[str, Any]]:
    return list(meta(obj).get("ownerReferences") or [])


def controller_ref(obj: Obj) -> dict[str, Any] | None:
    """The owner reference with ``controller: true``, if any."""
    for ref in owner_references(obj):
        if ref.get("controller"):
            return ref
    return None


def owner_ref_to(owner: Obj, *, controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": owner.get("apiVersion", kind_of(owner).api_version),
        "kind": owner["kind"],
        "name": name(owner),
        "uid": uid(owner),
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def deep_copy(obj: Obj) -> Obj:
    return copy.deepcopy(obj)


# --- time --------------------------------------------------------------------------


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_precise() -> str:
    """RFC 3339 with microseconds (for conditions compared at sub-second scale)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 timestamp (``...Z``)."""
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in text else "%Y-%m-%dT%H:%M:%SZ"
    parsed = datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


# --- conditions ----------------------------------------------------------------------


def get_condition(obj: Obj, kind: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def set_condition(
    status: dict[str, Any],
    kind: str,
    value: str,
    reason: str = "",
    message: str = "",
    *,
    touch: bool = False,
) -> None:
    """Set a condition in ``status``; ``lastTransitionTime`` moves only on a change,
    ``lastUpdateTime`` on a change of status or reason, or when ``touch`` is set."""
    conditions: list[dict[str, Any]] = list(status.get("conditions") or [])
    now = now_precise()
    for i, cond in enumerate(conditions):
        if cond.get("type") == kind:
            changed = cond.get("status") != value
            same = not changed and cond.get("reason") == reason and not touch
            conditions[i] = {
                "type": kind,
                "status": value,
                "reason": reason,
                "message": message,
                "lastUpdateTime": cond.get("lastUpdateTime", now) if same else now,
                "lastTransitionTime": now if changed else cond.get("lastTransitionTime", now),
            }
            break
    else:
        conditions.append(
            {
                "type": kind,
                "status": value,
                "reason": reason,
                "message": message,
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            }
        )
    status["conditions"] = conditions


# --- pod templates ------------------------------------------------------------------


def template_hash(template: dict[str, Any]) -> str:
    """A short stable hash of a pod template, ignoring its ``pod-template-hash`` label."""
    t = copy.deepcopy(template)
    (t.get("metadata") or {}).get("labels", {}).pop(POD_TEMPLATE_HASH, None)
    digest = hashlib.sha256(json.dumps(t, sort_keys=True).encode()).hexdigest()
    # Kubernetes' hashes are "safe-encoded" (no vowels); ours are 10 hex digits.
    return digest[:10]


def containers(pod_spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod_spec.get("containers") or []


def encode(obj: Obj) -> bytes:
    """The stored form: compact JSON without ``resourceVersion``."""
    stored = dict(obj)
    md = dict(stored.get("metadata") or {})
    md.pop("resourceVersion", None)
    stored["metadata"] = md
    return json.dumps(stored, separators=(",", ":"), sort_keys=True).encode()


def decode(value: bytes, mod_revision: int) -> Obj:
    obj: Obj = json.loads(value)
    meta(obj)["resourceVersion"] = str(mod_revision)
    return obj
