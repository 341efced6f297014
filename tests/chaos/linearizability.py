"""Linearizability of per-key register histories (WGL search, porcupine-style).

Two checks, cheapest first:

1. ``check_revision_order`` — strict serializability in revision terms, over all
   keys: if op a completed before op b was invoked, b's header revision is ≥ a's
   (> when both wrote); two acknowledged writes never share a revision on one key;
   a read's value carries the mod revision of the write that produced it.
2. ``check_register`` — a Wing & Gong / Lowe search for a linearization of one key's
   history against a register model (read, write, compare-and-swap). Keys are
   independent (P-compositionality), so each key is checked on its own.

Unknown-outcome ops (``Status.UNKNOWN``) have no return: they may be linearized at
any point after their invoke, or never. ``fail`` ops are dropped. The search stops
when every ``ok`` op is linearized, and gives up with ``unknown`` after ``budget``
seconds instead of hanging.

Worked example (one key, times in brackets)::

    w1 write a [0,2]   r1 read -> b [3,4]   w2 write b [1,5]
    linearization: w1, w2, r1 -> ok.   Had r1 read "a" and ended before w2
    began, no order exists -> illegal.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from tests.chaos.history import Anomaly, RegisterOp, Status

Verdict = Literal["ok", "illegal", "unknown"]


@dataclass(frozen=True)
class KeyResult:
    key: bytes
    verdict: Verdict
    ops: int
    detail: str = ""


def check_revision_order(ops: list[RegisterOp]) -> list[Anomaly]:
    """Revision-order anomalies among acknowledged ops (all keys together)."""
    anomalies: list[Anomaly] = []
    done = sorted((op for op in ops if op.status is Status.OK), key=lambda o: o.complete)
    by_invoke = sorted(done, key=lambda o: o.invoke)
    max_rev, max_write_rev, i = 0, 0, 0
    max_op: RegisterOp | None = None
    for op in by_invoke:
        while i < len(done) and done[i].complete < op.invoke:
            before = done[i]
            if before.revision > max_rev:
                max_rev, max_op = before.revision, before
            if before.wrote:
                max_write_rev = max(max_write_rev, before.revision)
            i += 1
        if op.revision < max_rev:
            anomalies.append(
                Anomaly(
                    "revision-order",
                    f"{_show(op)} saw revision {op.revision} after {_show(max_op)} "
                    f"had completed at revision {max_rev}",
                )
            )
        elif op.wrote and op.revision <= max_write_rev:
            anomalies.append(
                Anomaly(
                    "revision-order",
                    f"{_show(op)} wrote at revision {op.revision}, not after an earlier "
                    f"completed write at {max_write_rev}",
                )
            )
    written: dict[tuple[bytes, int], RegisterOp] = {}
    value_rev: dict[tuple[bytes, bytes], int] = {}
    for op in done:
        if not op.wrote:
            continue
        other = written.get((op.key, op.revision))
        if other is not None:
            anomalies.append(
                Anomaly("revision-order", f"{_show(op)} and {_show(other)} share a revision")
            )
        written[(op.key, op.revision)] = op
        assert op.value is not None
        value_rev[(op.key, op.value)] = op.revision
    for op in done:
        if op.kind != "read" or op.value is None:
            continue
        rev = value_rev.get((op.key, op.value))
        if rev is not None and rev != op.mod_revision:
            anomalies.append(
                Anomaly(
                    "revision-order",
                    f"{_show(op)} returned mod_revision {op.mod_revision}; "
                    f"that value was written at {rev}",
                )
            )
        if op.mod_revision > op.revision:
            anomalies.append(
                Anomaly("revision-order", f"{_show(op)} mod_revision beyond its header revision")
            )
    return anomalies


def _show(op: RegisterOp | None) -> str:
    if op is None:
        return "?"
    what = {"read": f"read->{op.value!r}", "write": f"write {op.value!r}"}.get(
        op.kind, f"cas {op.expected!r}->{op.value!r} ok={op.succeeded}"
    )
    return f"p{op.process} {op.key!r} {what} [{op.invoke:.3f},{op.complete:.3f}]"


# --- the WGL search ----------------------------------------------------------------

State = bytes | None


def _step(state: State, op: RegisterOp) -> tuple[bool, State]:
    """The register model: may ``op`` happen in ``state``, and what state follows."""
    if op.kind == "read":
        return state == op.value, state
    if op.kind == "write":
        return True, op.value
    # cas: an unknown one only matters if it succeeded (a failed cas changes nothing)
    if op.status is Status.UNKNOWN or op.succeeded:
        return state == op.expected, op.value if state == op.expected else state
    return state != op.expected, state


class _Entry:
    __slots__ = ("call", "id", "match", "next", "op", "prev", "time")

    def __init__(self, time_: float, op: RegisterOp, id_: int, call: bool) -> None:
        self.time = time_
        self.op = op
        self.id = id_
        self.call = call
        self.match: _Entry | None = None
        self.prev: _Entry | None = None
        self.next: _Entry | None = None


def _entries(ops: list[RegisterOp]) -> tuple[_Entry, int]:
    """A doubly linked list (head sentinel) of call and return events in time order."""
    events: list[tuple[float, int, _Entry]] = []
    for i, op in enumerate(ops):
        # an unknown op stays open to the end: it may take effect at any later time
        end = op.complete if op.status is Status.OK else float("inf")
        call, ret = _Entry(op.invoke, op, i, True), _Entry(end, op, i, False)
        call.match = ret
        # calls sort before returns at equal times: such ops count as concurrent
        events += [(op.invoke, 0, call), (end, 1, ret)]
    events.sort(key=lambda e: (e[0], e[1]))
    head = _Entry(float("-inf"), ops[0], -1, False) if ops else None
    assert head is not None
    last = head
    for _, _, entry in events:
        last.next, entry.prev = entry, last
        last = entry
    return head, len(ops)


def _lift(entry: _Entry) -> None:
    assert entry.prev is not None and entry.match is not None
    entry.prev.next = entry.next
    if entry.next is not None:
        entry.next.prev = entry.prev
    match = entry.match
    assert match.prev is not None
    match.prev.next = match.next
    if match.next is not None:
        match.next.prev = match.prev


def _unlift(entry: _Entry) -> None:
    match = entry.match
    assert match is not None and match.prev is not None and entry.prev is not None
    match.prev.next = match
    if match.next is not None:
        match.next.prev = match
    entry.prev.next = entry
    if entry.next is not None:
        entry.next.prev = entry


def check_register(
    key: bytes, ops: list[RegisterOp], budget: float = 10.0, initial: State = None
) -> KeyResult:
    """Search for a linearization of one key's ops (see the module docstring)."""
    relevant = [op for op in ops if op.status in (Status.OK, Status.UNKNOWN)]
    # an unknown read has no effect and nothing to check
    relevant = [op for op in relevant if not (op.kind == "read" and op.status is Status.UNKNOWN)]
    if not relevant:
        return KeyResult(key, "ok", 0)
    must = 0
    for i, op in enumerate(relevant):
        if op.status is Status.OK:
            must |= 1 << i
    head, _ = _entries(relevant)
    deadline = time.monotonic() + budget
    state: State = initial
    linearized = 0
    cache: set[tuple[int, State]] = set()
    calls: list[tuple[_Entry, State]] = []
    entry = head.next
    steps = 0
    deepest: tuple[int, _Entry | None] = (0, None)
    while linearized & must != must:
        steps += 1
        if steps % 2000 == 0 and time.monotonic() > deadline:
            return KeyResult(key, "unknown", len(relevant), f"no verdict within {budget}s")
        if entry is not None and entry.call:
            ok, new_state = _step(state, entry.op)
            if ok:
                bits = linearized | (1 << entry.id)
                if (bits, new_state) not in cache:
                    cache.add((bits, new_state))
                    calls.append((entry, state))
                    state, linearized = new_state, bits
                    _lift(entry)
                    if len(calls) > deepest[0]:
                        deepest = (len(calls), head.next)
                    entry = head.next
                    continue
            entry = entry.next
            continue
        # a return (or the end): the op it closes could not be linearized; backtrack
        if not calls:
            stuck = deepest[1]
            detail = "no linearization"
            if stuck is not None:
                detail += f"; longest prefix {deepest[0]} ops, then stuck at {_show(stuck.op)}"
            return KeyResult(key, "illegal", len(relevant), detail)
        top, state = calls.pop()
        linearized &= ~(1 << top.id)
        _unlift(top)
        entry = top.next
    return KeyResult(key, "ok", len(relevant))


def check_registers(ops: list[RegisterOp], budget: float = 30.0) -> list[KeyResult]:
    """Check every key; the ``budget`` is shared out per key."""
    by_key: dict[bytes, list[RegisterOp]] = defaultdict(list)
    for op in ops:
        by_key[op.key].append(op)
    per_key = budget / max(1, len(by_key))
    return [check_register(key, by_key[key], per_key) for key in sorted(by_key)]


def register_anomalies(results: list[KeyResult]) -> list[Anomaly]:
    return [
        Anomaly("linearizability", f"key {r.key!r}: {r.detail}")
        for r in results
        if r.verdict == "illegal"
    ]
