"""Defaults and validation, applied by the typed client before every write.

``validate(obj)`` raises :class:`InvalidError` naming the first bad field, e.g.
``Deployment "web" is invalid: spec.replicas: must be >= 0``. ``apply_defaults``
fills what Kubernetes' API server would (strategy 25%/25%, revisionHistoryLimit 10,
restartPolicy Always, namespace ``default`` ...), so manifests from the Kubernetes
docs load unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kvstore.controllers import selectors
from kvstore.controllers.errors import InvalidError
from kvstore.controllers.objects import (
    DEPLOYMENT,
    ENDPOINTS,
    LEASE,
    NODE,
    POD,
    PV,
    PVC,
    REPLICA_SET,
    SERVICE,
    Obj,
    kind_named,
    meta,
)
from kvstore.controllers.resources import parse_quantity

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_PERCENT = re.compile(r"^\d+%$")


class _Fail(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(field)
        self.field = field
        self.message = message


def _require(cond: bool, field: str, message: str) -> None:
    if not cond:
        raise _Fail(field, message)


def _int(value: object, field: str, minimum: int | None = None) -> int:
    _require(isinstance(value, int) and not isinstance(value, bool), field, "must be an integer")
    assert isinstance(value, int)
    if minimum is not None:
        _require(value >= minimum, field, f"must be >= {minimum}")
    return value


def apply_defaults(obj: Obj) -> Obj:
    """Fill defaults in place (and return ``obj``)."""
    kind = kind_named(str(obj.get("kind", "")))
    obj.setdefault("apiVersion", kind.api_version)
    md = meta(obj)
    if kind.namespaced:
        md.setdefault("namespace", "default")
        if not md["namespace"]:
            md["namespace"] = "default"
    else:
        md.pop("namespace", None)
    spec = obj.setdefault("spec", {})
    if kind in (POD,):
        _default_pod_spec(spec)
    elif kind in (REPLICA_SET, DEPLOYMENT):
        spec.setdefault("replicas", 1)
        spec.setdefault("minReadySeconds", 0)
        _default_pod_spec((spec.get("template") or {}).get("spec") or {})
        if kind is DEPLOYMENT:
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
            strategy = spec.setdefault("strategy", {})
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                ru = strategy.setdefault("rollingUpdate", {})
                ru.setdefault("maxSurge", "25%")
                ru.setdefault("maxUnavailable", "25%")
    elif kind is SERVICE:
        spec.setdefault("type", "ClusterIP")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", {})
    return obj


def _default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    for c in spec.get("containers") or []:
        for port in c.get("ports") or []:
            port.setdefault("protocol", "TCP")


def validate(obj: Obj) -> None:
    """Raise :class:`InvalidError` naming the first invalid field."""
    kind_text = str(obj.get("kind", ""))
    try:
        kind = kind_named(kind_text)
    except KeyError as exc:
        raise InvalidError(f"object of kind {kind_text!r}", "kind", str(exc.args[0])) from None
    md = obj.get("metadata") or {}
    what = f'{kind.kind} "{md.get("name", "")}"'
    try:
        _validate_meta(md)
        spec = obj.get("spec") or {}
        _require(isinstance(spec, dict), "spec", "must be an object")
        _VALIDATORS[kind.kind](spec)
    except _Fail as fail:
        raise InvalidError(what, fail.field, fail.message) from None


def _validate_meta(md: dict[str, Any]) -> None:
    name = md.get("name")
    _require(bool(name), "metadata.name", "Required value")
    assert isinstance(name, str)
    _require(
        len(name) <= 253 and bool(_NAME.match(name)),
        "metadata.name",
        f"invalid value {name!r}: a lowercase RFC 1123 subdomain must consist of lower "
        "case alphanumeric characters, '-' or '.', and start and end with an alphanumeric",
    )
    _validate_labels(md.get("labels") or {}, "metadata.labels")


def _validate_labels(labels: object, field: str) -> None:
    _require(isinstance(labels, dict), field, "must be a map of strings")
    assert isinstance(labels, dict)
    for k, v in labels.items():
        _require(bool(_LABEL_KEY.match(str(k))), field, f"invalid label key {k!r}")
        _require(
            isinstance(v, str) and len(v) <= 63 and bool(_LABEL_VALUE.match(v)),
            f"{field}.{k}",
            f"invalid label value {v!r} (strings of at most 63 characters: alphanumerics,"
            " '-', '_' or '.')",
        )


def _validate_pod_spec(spec: dict[str, Any], field: str) -> None:
    cs = spec.get("containers")
    _require(isinstance(cs, list) and len(cs) > 0, f"{field}.containers", "Required value")
    assert isinstance(cs, list)
    seen: set[str] = set()
    for i, c in enumerate(cs):
        f = f"{field}.containers[{i}]"
        _require(isinstance(c, dict), f, "must be an object")
        cname = c.get("name")
        _require(bool(cname) and isinstance(cname, str), f"{f}.name", "Required value")
        _require(cname not in seen, f"{f}.name", f"Duplicate value: {cname!r}")
        seen.add(str(cname))
        _require(bool(c.get("image")), f"{f}.image", "Required value")
        for part in ("command", "args"):
            if part in c:
                val = c[part]
                ok = isinstance(val, list) and all(isinstance(a, str) for a in val)
                _require(ok, f"{f}.{part}", "must be a list of strings")
        for j, port in enumerate(c.get("ports") or []):
            p = port.get("containerPort")
            _require(
                isinstance(p, int) and 0 < p < 65536,
                f"{f}.ports[{j}].containerPort",
                "must be between 1 and 65535, inclusive",
            )
        for section in ("requests", "limits"):
            for res, qty in ((c.get("resources") or {}).get(section) or {}).items():
                try:
                    parse_quantity(qty)
                except ValueError as exc:
                    raise _Fail(f"{f}.resources.{section}.{res}", str(exc)) from None
        for j, env in enumerate(c.get("env") or []):
            _require(bool(env.get("name")), f"{f}.env[{j}].name", "Required value")
    policy = spec.get("restartPolicy", "Always")
    _require(
        policy in ("Always", "OnFailure", "Never"),
        f"{field}.restartPolicy",
        f'Unsupported value: {policy!r}: supported values: "Always", "OnFailure", "Never"',
    )
    _validate_labels(spec.get("nodeSelector") or {}, f"{field}.nodeSelector")


def _validate_pod(spec: dict[str, Any]) -> None:
    _validate_pod_spec(spec, "spec")


def _validate_workload(spec: dict[str, Any]) -> None:
    _int(spec.get("replicas", 1), "spec.replicas", 0)
    _int(spec.get("minReadySeconds", 0), "spec.minReadySeconds", 0)
    sel_spec = spec.get("selector")
    _require(bool(sel_spec), "spec.selector", "Required value")
    try:
        sel = selectors.from_label_selector(sel_spec)
    except selectors.SelectorError as exc:
        raise _Fail("spec.selector", str(exc)) from None
    _require(not sel.empty, "spec.selector", "empty selector is invalid for deployment")
    template = spec.get("template") or {}
    tlabels = (template.get("metadata") or {}).get("labels") or {}
    _validate_labels(tlabels, "spec.template.metadata.labels")
    _require(
        sel.matches(tlabels),
        "spec.template.metadata.labels",
        f"Invalid value: {tlabels!r}: `selector` does not match template `labels`",
    )
    _validate_pod_spec(template.get("spec") or {}, "spec.template.spec")


def _int_or_percent(value: object, field: str) -> None:
    if isinstance(value, str):
        _require(bool(_PERCENT.match(value)), field, f"invalid value {value!r}: an int or 'N%'")
    else:
        _int(value, field, 0)


def _validate_deployment(spec: dict[str, Any]) -> None:
    _validate_workload(spec)
    _int(spec.get("revisionHistoryLimit", 10), "spec.revisionHistoryLimit", 0)
    deadline = _int(spec.get("progressDeadlineSeconds", 600), "spec.progressDeadlineSeconds", 1)
    _require(
        deadline > int(spec.get("minReadySeconds", 0)),
        "spec.progressDeadlineSeconds",
        "must be greater than minReadySeconds",
    )
    strategy = spec.get("strategy") or {}
    stype = strategy.get("type", "RollingUpdate")
    _require(
        stype in ("RollingUpdate", "Recreate"),
        "spec.strategy.type",
        f'Unsupported value: {stype!r}: supported values: "Recreate", "RollingUpdate"',
    )
    if stype == "RollingUpdate":
        ru = strategy.get("rollingUpdate") or {}
        surge, unavailable = ru.get("maxSurge", "25%"), ru.get("maxUnavailable", "25%")
        _int_or_percent(surge, "spec.strategy.rollingUpdate.maxSurge")
        _int_or_percent(unavailable, "spec.strategy.rollingUpdate.maxUnavailable")
        _require(
            surge not in (0, "0%") or unavailable not in (0, "0%"),
            "spec.strategy.rollingUpdate.maxUnavailable",
            "may not be 0 when maxSurge is 0",
        )
    else:
        _require(
            "rollingUpdate" not in strategy,
            "spec.strategy.rollingUpdate",
            "may not be specified when strategy `type` is 'Recreate'",
        )


def _validate_node(spec: dict[str, Any]) -> None:
    _require(isinstance(spec.get("unschedulable", False), bool), "spec.unschedulable", "bool")


def _validate_service(spec: dict[str, Any]) -> None:
    _validate_labels(spec.get("selector") or {}, "spec.selector")
    for i, port in enumerate(spec.get("ports") or []):
        p = port.get("port")
        _require(
            isinstance(p, int) and 0 < p < 65536,
            f"spec.ports[{i}].port",
            "must be between 1 and 65535, inclusive",
        )


def _validate_nothing(spec: dict[str, Any]) -> None:
    """Leases, Endpoints and PersistentVolumes are written by agents and controllers."""


def _validate_claim(spec: dict[str, Any]) -> None:
    modes = spec.get("accessModes") or ["ReadWriteOnce"]
    _require(isinstance(modes, list), "spec.accessModes", "must be a list")
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "0")
    try:
        parse_quantity(storage)
    except ValueError as exc:
        raise _Fail("spec.resources.requests.storage", str(exc)) from None


_VALIDATORS: dict[str, Callable[[dict[str, Any]], None]] = {
    POD.kind: _validate_pod,
    REPLICA_SET.kind: _validate_workload,
    DEPLOYMENT.kind: _validate_deployment,
    NODE.kind: _validate_node,
    SERVICE.kind: _validate_service,
    LEASE.kind: _validate_nothing,
    ENDPOINTS.kind: _validate_nothing,
    PV.kind: _validate_nothing,
    PVC.kind: _validate_claim,
}
