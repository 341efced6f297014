"""The load generator: long-lived worker processes, each running one asyncio loop.

The Python client must not be the bottleneck, so load is spread over several
OS processes (``spawn``ed: no gRPC state is inherited through fork), with
asyncio concurrency inside each. A worker takes one ``Job`` at a time from its
own queue and answers on a shared queue with ``("ready", worker)`` (stream jobs
that must be set up before others start) and ``("result", worker, JobResult)``.

Owner: ``LoadGenerator`` — ``start()`` / ``close()``; ``close()`` stops and
reaps every worker, terminating those that do not stop within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import queue
import signal
import time
import traceback
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

import grpc

from bench import streams, unary
from bench.jobs import Job, JobResult

logger = logging.getLogger(__name__)

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    # One HTTP/2 connection per channel, not shared between channels of a process.
    ("grpc.use_local_subchannel_pool", 1),
]


class LoadGenError(Exception):
    """A worker crashed or missed its deadline."""


async def _run_job(job: Job, ready: Callable[[], None]) -> JobResult:
    channels = [grpc.aio.insecure_channel(e, options=_CHANNEL_OPTIONS) for e in job.endpoints]
    try:
        for channel in channels:
            await asyncio.wait_for(channel.channel_ready(), job.rpc_timeout)
        if job.op in unary.OPS:
            return await unary.closed_loop(job, channels)
        if job.op == "load":
            return await unary.load_keys(job, channels)
        if job.op == "watchers":
            return await streams.watchers(job, channels, ready)
        if job.op == "paced_puts":
            return await streams.paced_puts(job, channels)
        if job.op == "keepalive":
            return await streams.keepalive_stream(job, channels)
        raise ValueError(f"unknown job op {job.op!r}")
    finally:
        for channel in channels:
            await channel.close()


def _worker_main(index: int, inbox: Any, outbox: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench process handles Ctrl-C
    loop = asyncio.new_event_loop()
    try:
        while True:
            job = inbox.get()
            if job is None:
                return
            try:
                result = loop.run_until_complete(
                    _run_job(job, lambda: outbox.put(("ready", index)))
                )
            except BaseException:
                result = JobResult(failure=traceback.format_exc())
            outbox.put(("result", index, result))
    finally:
        loop.close()


class LoadGenerator:
    """``procs`` worker processes; jobs are addressed to a worker by index."""

    def __init__(self, procs: int) -> None:
        self.procs = procs
        self._ctx = mp.get_context("spawn")
        self._workers: list[BaseProcess] = []
        self._inboxes: list[Any] = []
        self._outbox: Any = None

    def start(self) -> None:
        self._outbox = self._ctx.Queue()
        for i in range(self.procs):
            inbox = self._ctx.Queue()
            worker = self._ctx.Process(
                target=_worker_main, args=(i, inbox, self._outbox), name=f"loadgen-{i}"
            )
            worker.daemon = True
            worker.start()
            self._inboxes.append(inbox)
            self._workers.append(worker)

    def close(self) -> None:
        for inbox in self._inboxes:
            with contextlib.suppress(OSError, ValueError):
                inbox.put(None)
        deadline = time.monotonic() + 3.0
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                worker.terminate()
                worker.join(5.0)
            if worker.is_alive():
                worker.kill()
                worker.join()
        self._workers, self._inboxes = [], []

    def restart(self) -> None:
        """After a missed deadline a worker may still be busy: replace them all."""
        self.close()
        self.start()

    def submit(self, worker: int, job: Job) -> None:
        self._inboxes[worker].put(job)

    def _next(self, deadline: float) -> tuple[Any, ...]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LoadGenError("load generator missed its deadline")
        try:
            message: tuple[Any, ...] = self._outbox.get(timeout=remaining)
        except queue.Empty as exc:
            raise LoadGenError("load generator missed its deadline") from exc
        return message

    def wait_ready(self, workers: set[int], deadline: float) -> None:
        waiting = set(workers)
        while waiting:
            message = self._next(deadline)
            if message[0] == "ready":
                waiting.discard(message[1])
            else:  # a job ended before it was ready: it failed
                result: JobResult = message[2]
                raise LoadGenError(f"worker {message[1]} ended early: {result.failure}")

    def collect(self, workers: set[int], deadline: float) -> dict[int, JobResult]:
        results: dict[int, JobResult] = {}
        while set(results) != workers:
            message = self._next(deadline)
            if message[0] == "result":
                results[message[1]] = message[2]
        return results

    def run(self, jobs: dict[int, Job], timeout: float) -> dict[int, JobResult]:
        """Submit one job per worker and wait for all results."""
        for worker, job in jobs.items():
            self.submit(worker, job)
        return self.collect(set(jobs), time.monotonic() + timeout)
