"""``check perf``: etcdctl's performance check of a cluster.

For 60 seconds it writes keys under ``--prefix`` at the load's rate from the
load's number of concurrent writers (etcdctl's models: ``s`` 150 writes/s from 50
clients, ``m`` 1,000 from 200, ``l`` 8,000 from 500, ``xl`` 15,000 from 1,000),
each a 256-byte key after the prefix with a 1 KiB value, as etcdctl writes them.
Then it deletes them (and, if asked, compacts and defragments) and judges the
run as etcdctl does: throughput above 90% of the rate, the slowest write under
0.5 s, the standard deviation of the latencies under 0.1 s, and no errors.
``FAIL`` exits 1. A prefix that already has keys is refused (exit 3): the
check deletes every key under it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from kvstore.cli.main import BadFeature, CliError, Duration, InvalidInput, session
from kvstore.cli.running import until_done
from kvstore.client import Client, ClientError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

#: etcdctl's key and value sizes: the key is the prefix and 256 bytes after it
KEY_BYTES = 256
VALUE = bytes(1024)
#: how long the check writes (etcdctl's, fixed there)
DURATION = 60.0
#: the verdict's bounds (etcdctl's)
MIN_RATE_SHARE = 0.9
MAX_SLOWEST = 0.5
MAX_STDDEV = 0.1


class Interrupted(CliError):
    """Stopped by Ctrl-C or SIGTERM (the exit status of a shell's interrupted command)."""

    exit_code = 130


@dataclass(frozen=True)
class Load:
    rate: int
    clients: int


LOADS = {
    "s": Load(150, 50),
    "m": Load(1000, 200),
    "l": Load(8000, 500),
    "xl": Load(15000, 1000),
}


@dataclass
class Run:
    """What the writers saw: each write's latency, and the errors by message."""

    latencies: list[float] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0
    #: stopped by Ctrl-C or SIGTERM before its time
    interrupted: bool = False


def _key(prefix: bytes, rng: random.Random) -> bytes:
    """A random 256-byte key after ``prefix``, as etcdctl's (a varint in zeros)."""
    number = rng.getrandbits(63)
    encoded = bytearray()
    zigzag = number << 1
    while zigzag >= 0x80:
        encoded.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    encoded.append(zigzag)
    return prefix + bytes(encoded) + bytes(KEY_BYTES - len(encoded))


async def _write(
    client: Client,
    prefix: bytes,
    load: Load,
    seconds: float,
    tick: Callable[[float], None],
    stop: asyncio.Event,
) -> Run:
    """``load.clients`` writers sharing one schedule of ``load.rate`` writes a
    second, for ``seconds`` or until ``stop`` is set."""
    run = Run()
    rng = random.Random()
    start = time.monotonic()
    deadline = start + seconds
    slots = iter(range(sys.maxsize))

    async def writer() -> None:
        while True:
            due = start + next(slots) / load.rate
            if due >= deadline or time.monotonic() >= deadline or stop.is_set():
                return  # (a writer behind its schedule stops at the deadline too)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if stop.is_set():
                return
            sent = time.monotonic()
            try:
                await client.put(_key(prefix, rng), VALUE)
            except ClientError as exc:
                run.errors[str(exc)] += 1
            else:
                run.latencies.append(time.monotonic() - sent)

    async def ticker() -> None:
        while True:
            await asyncio.sleep(1.0)
            tick(time.monotonic() - start)

    ticking = asyncio.ensure_future(ticker())
    try:
        await asyncio.gather(*(writer() for _ in range(load.clients)))
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
    run.seconds = time.monotonic() - start
    run.interrupted = stop.is_set()
    return run


def verdict(run: Run, load: Load) -> tuple[list[str], bool]:
    """etcdctl's report lines for ``run``, and whether it passed."""
    lines: list[str] = []
    ok = True
    if run.errors:
        lines.append("FAIL: too many errors")
        lines += [f"FAIL: ERROR({error}) -> {n}" for error, n in sorted(run.errors.items())]
        ok = False
    rate = len(run.latencies) / run.seconds if run.seconds > 0 else 0.0
    if rate / load.rate <= MIN_RATE_SHARE:
        lines.append(f"FAIL: Throughput too low: {int(rate) + 1} writes/s")
        ok = False
    else:
        lines.append(f"PASS: Throughput is {int(rate) + 1} writes/s")
    slowest = max(run.latencies, default=0.0)
    if slowest > MAX_SLOWEST:
        lines.append(f"FAIL: Slowest request took too long: {slowest:f}s")
        ok = False
    else:
        lines.append(f"PASS: Slowest request took {slowest:f}s")
    stddev = statistics.pstdev(run.latencies) if run.latencies else 0.0
    if stddev > MAX_STDDEV:
        lines.append(f"FAIL: Stddev too high: {stddev:f}s")
        ok = False
    else:
        lines.append(f"PASS: Stddev is {stddev:f}s")
    return lines, ok


@click.group("check")
def check_group() -> None:
    """Check the performance of the cluster (etcdctl's check)."""


@check_group.command("perf")
@click.option("--load", default="s", help="workload model: s(small), m(medium), l(large), xl")
@click.option("--prefix", default="/etcdctl-check-perf/", help="prefix of the keys written")
@click.option("--auto-compact", is_flag=True, help="compact to the last revision afterwards")
@click.option("--auto-defrag", is_flag=True, help="defragment every endpoint afterwards")
@click.option(
    "--duration",
    type=Duration(),
    default=DURATION,
    help="how long to write (kvctl's; etcdctl always writes for 60s)",
)
def perf(load: str, prefix: str, auto_compact: bool, auto_defrag: bool, duration: float) -> None:
    """Write at the load's rate for a minute, then judge throughput and latency."""
    model = LOADS.get(load)
    if model is None:
        raise BadFeature(f"unknown load option {load}")
    sess = session()
    client = sess.client()
    key = prefix.encode()
    if client.get_prefix(key, count_only=True).count:
        raise InvalidInput(
            f'prefix "{prefix}" has keys. Delete with kvctl del --prefix {prefix} first'
        )
    progress = _Bar(duration)
    try:
        run = until_done(
            lambda stop: _write(client.client, key, model, duration, progress.tick, stop)
        )
    finally:
        progress.close()
    client.delete_prefix(key)
    if run.interrupted:
        raise Interrupted(f"check perf interrupted; the keys under {prefix} were deleted")
    if auto_compact:
        client.compact(client.status().header.revision, physical=True)
    if auto_defrag:
        for endpoint in sess.options.endpoints:
            client.defragment(endpoint=endpoint)
    lines, ok = verdict(run, model)
    for line in lines:
        sess.out.line(line)
    if not ok:
        sess.out.line("FAIL")
        click.get_current_context().exit(1)  # etcdctl: no Error line, exit 1
    sess.out.line("PASS")


class _Bar:
    """Seconds written, as a bar on stderr when it is a terminal (as etcdctl's)."""

    def __init__(self, total: float) -> None:
        self._total = total
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TimeRemainingColumn

            self._bar = Progress(
                BarColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True
            )
            self._task = self._bar.add_task("perf", total=total)
            self._bar.start()

    def tick(self, elapsed: float) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=min(elapsed, self._total))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def register(group: click.Group) -> None:
    group.add_command(check_group)
