"""The servers' CPU time over a workload's measured window.

A thread samples every member's CPU time (user + system, from /proc) when the
window opens and when it closes; both ends are ``time.monotonic()`` values,
the clock the load-generator workers start and stop by. Divided by the
operations measured in the same window, it gives the CPU one operation costs
the servers, whatever the load generator's share of the machine.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from bench.servers import cpu_seconds


class ServerCpu:
    """``with ServerCpu(pids, start, end) as cpu: ...`` then ``cpu.seconds``."""

    def __init__(self, pids: list[int], start: float, end: float) -> None:
        self._pids = list(pids)
        self._start = start
        self._end = end
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="server-cpu", daemon=True)
        #: CPU seconds of all members in the window; None if it was not
        #: sampled whole (a member gone, the block left before the window ended)
        self.seconds: float | None = None

    def __enter__(self) -> ServerCpu:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _total(self) -> float:
        return sum(cpu_seconds(pid) for pid in self._pids)

    def _sample(self) -> None:
        try:
            if self._stop.wait(max(0.0, self._start - time.monotonic())):
                return
            before = self._total()
            # the block may end right after the window does, before this
            # thread has woken up at its end: that window was seen whole
            stopped = self._stop.wait(max(0.0, self._end - time.monotonic()))
            if stopped and time.monotonic() < self._end:
                return
            self.seconds = self._total() - before
        except (ProcessLookupError, OSError):
            self.seconds = None
