"""Durability and replica agreement after a run.

Given what the cluster acknowledged and what each member holds at the end:

* every acknowledged put is in every member's history, at its revision, with its value;
* every member replays the same history (event for event) up to the same revision;
* each member's final Range equals the state its own history replays to;
* HashKV is equal on every member at that revision.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.chaos.history import AckedWrite, Anomaly
from tests.chaos.watch_validator import Kv, Reference


@dataclass
class MemberState:
    """What one member holds once every member has applied the same revision."""

    name: str
    revision: int
    history: Reference
    final: dict[bytes, Kv]
    hash: int


def check_durability(acked: list[AckedWrite], members: list[MemberState]) -> list[Anomaly]:
    out: list[Anomaly] = []
    if not members:
        return [Anomaly("durability", "no member state to check")]
    revisions = {m.revision for m in members}
    if len(revisions) != 1:
        out.append(Anomaly("durability", f"members at different revisions: {sorted(revisions)}"))
    for member in members:
        puts = {
            (e.kv.key, e.revision): e.kv.value for e in member.history.events if e.type == "PUT"
        }
        lost = [w for w in acked if puts.get((w.key, w.revision)) != w.value]
        if lost:
            first = lost[0]
            out.append(
                Anomaly(
                    "durability",
                    f"{member.name} lost {len(lost)} acknowledged writes, e.g. "
                    f"{first.key!r}={first.value!r}@{first.revision}",
                )
            )
        replayed = member.history.final_state()
        if replayed != member.final:
            diff = sorted(
                k
                for k in replayed.keys() | member.final.keys()
                if replayed.get(k) != member.final.get(k)
            )[:3]
            out.append(
                Anomaly("durability", f"{member.name}: final Range differs from replay: {diff}")
            )
    base = members[0]
    for member in members[1:]:
        a, b = base.history.events, member.history.events
        if len(a) != len(b) or not all(x.same(y) for x, y in zip(a, b, strict=False)):
            index = next(
                (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if not x.same(y)),
                min(len(a), len(b)),
            )
            out.append(
                Anomaly(
                    "durability",
                    f"{base.name} and {member.name} histories diverge at event {index} "
                    f"({len(a)} vs {len(b)} events)",
                )
            )
        if member.revision == base.revision and member.hash != base.hash:
            out.append(
                Anomaly(
                    "durability",
                    f"HashKV differs at revision {base.revision}: {base.name}={base.hash} "
                    f"{member.name}={member.hash}",
                )
            )
    return out


def check_transfers(total: int, reads: list[tuple[int, dict[bytes, int]]]) -> list[Anomaly]:
    """Every read of all accounts at one revision sums to ``total``."""
    return [
        Anomaly("transfer", f"accounts sum to {sum(b.values())} != {total} at revision {rev}")
        for rev, b in reads
        if sum(b.values()) != total
    ]


def check_fencing(holds: list[tuple[int, int]]) -> list[Anomaly]:
    """Guarded lock writes, in revision order, carry non-decreasing fencing tokens.

    ``holds`` is (revision of the guarded write, token of the holder). A lower token
    after a higher one means two holders overlapped.
    """
    out: list[Anomaly] = []
    best = 0
    for revision, token in sorted(holds):
        if token < best:
            out.append(
                Anomaly(
                    "lock",
                    f"write at revision {revision} by token {token} after token {best} held",
                )
            )
        best = max(best, token)
    return out
