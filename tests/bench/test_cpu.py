"""ServerCpu: the CPU time of the given processes inside a window, and only there."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from bench.cpu import ServerCpu

BUSY = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass\n"
IDLE = "import time\ntime.sleep(30)\n"


@pytest.fixture
def procs() -> Iterator[tuple[int, int]]:
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    idle = subprocess.Popen([sys.executable, "-c", IDLE])
    try:
        yield busy.pid, idle.pid
    finally:
        for proc in (busy, idle):
            proc.kill()
            proc.wait()


def test_counts_cpu_inside_the_window_only(procs: tuple[int, int]) -> None:
    busy, idle = procs
    time.sleep(0.3)  # both started (the interpreter's start-up is outside the window)
    start = time.monotonic() + 0.2
    with (
        ServerCpu([busy], start, start + 0.5) as spinning,
        ServerCpu([idle], start, start + 0.5) as sleeping,
    ):
        time.sleep(1.0)
    assert spinning.seconds is not None and sleeping.seconds is not None
    assert spinning.seconds > 0.05  # a spinning process, half a second: not nothing
    assert sleeping.seconds < 0.05
    assert spinning.seconds > 4 * sleeping.seconds


def test_no_figure_when_the_block_ends_before_the_window(procs: tuple[int, int]) -> None:
    start = time.monotonic() + 0.1
    with ServerCpu(list(procs), start, start + 30) as cpu:
        time.sleep(0.2)
    assert cpu.seconds is None


def test_no_figure_when_a_process_is_gone() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    start = time.monotonic()
    with ServerCpu([gone.pid], start, start + 0.1) as cpu:
        time.sleep(0.3)
    assert cpu.seconds is None


class _LateWaker(threading.Event):
    """An event whose timed waits wake up late, as a thread that the
    scheduler or the GIL holds back does."""

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is not None:
            time.sleep(timeout + 0.3)
        return self.is_set()


def test_a_figure_when_the_block_ends_just_after_the_window(procs: tuple[int, int]) -> None:
    busy, _ = procs
    time.sleep(0.3)
    start = time.monotonic() + 0.1
    cpu = ServerCpu([busy], start, start + 0.3)
    cpu._stop = _LateWaker()
    with cpu:
        time.sleep(0.5)  # ends after the window, before the sampler wakes up
    assert cpu.seconds is not None and cpu.seconds > 0.05
