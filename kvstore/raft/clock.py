"""The Raft clock: pysyncobj's own.

pysyncobj keeps its deadlines (next append-entries, election, a link's last
read) on ``CLOCK_MONOTONIC_RAW``, not on ``time.monotonic``. The two drift
apart with NTP's adjustments, by a fifth of a second after five hours on one
machine here and by seconds on a long-running one; a deadline written on one
and read on the other is off by that much. Every time this package compares
with, or writes into, pysyncobj's state comes from ``now``.
"""

from __future__ import annotations

from pysyncobj import syncobj


def now() -> float:
    """Seconds on pysyncobj's clock (looked up per call, as pysyncobj does)."""
    return float(syncobj.monotonicTime())
