"""Label selectors: the string form (``app=web,tier!=db,env in (a,b),!canary``) and the
object form (``matchLabels`` + ``matchExpressions``), both as one :class:`Selector`.

Requirements are ANDed; an empty selector matches everything (but a workload's empty
selector is rejected by validation). Operators: ``=``/``==``, ``!=``, ``in``,
``notin``, exists (``key``) and does-not-exist (``!key``). As in Kubernetes, ``!=``
and ``notin`` also match objects that lack the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_CMP = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


class SelectorError(ValueError):
    """A selector that cannot be parsed; the message names the bad part."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels

    def __str__(self) -> str:
        vals = sorted(self.values)
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        if len(vals) == 1:
            return f"{self.key}={vals[0]}" if self.operator == "In" else f"{self.key}!={vals[0]}"
        op = "in" if self.operator == "In" else "notin"
        return f"{self.key} {op} ({','.join(vals)})"


@dataclass(frozen=True, slots=True)
class Selector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _split(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


def parse(text: str) -> Selector:
    """Parse the string form; :class:`SelectorError` names the part it cannot read."""
    reqs: list[Requirement] = []
    for part in _split(text or ""):
        if m := _SET.match(part):
            values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
            op = "In" if m.group(2) == "in" else "NotIn"
            reqs.append(Requirement(m.group(1), op, values))
        elif m := _CMP.match(part):
            op = "NotIn" if m.group(2) == "!=" else "In"
            reqs.append(Requirement(m.group(1), op, frozenset({m.group(3)})))
        elif m := _EXISTS.match(part):
            reqs.append(Requirement(m.group(2), "DoesNotExist" if m.group(1) else "Exists"))
        else:
            raise SelectorError(f"invalid label selector part {part.strip()!r}")
    return Selector(tuple(reqs))


_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}


def from_label_selector(spec: Mapping[str, Any] | None) -> Selector:
    """The object form ``{matchLabels: {...}, matchExpressions: [...]}``."""
    if not spec:
        return Selector()
    reqs = [
        Requirement(str(k), "In", frozenset({str(v)}))
        for k, v in sorted((spec.get("matchLabels") or {}).items())
    ]
    for i, expr in enumerate(spec.get("matchExpressions") or []):
        op = expr.get("operator")
        if op not in _OPERATORS:
            raise SelectorError(f"matchExpressions[{i}].operator: unsupported {op!r}")
        values = frozenset(str(v) for v in expr.get("values") or [])
        if op in ("In", "NotIn") and not values:
            raise SelectorError(f"matchExpressions[{i}].values: must be non-empty for {op}")
        reqs.append(Requirement(str(expr.get("key", "")), op, values))
    return Selector(tuple(reqs))


def from_labels(labels: Mapping[str, str]) -> Selector:
    """A selector that matches exactly these labels (a Service's ``spec.selector``)."""
    return Selector(tuple(Requirement(k, "In", frozenset({v})) for k, v in sorted(labels.items())))
