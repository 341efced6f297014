"""Streaming workloads, run inside a load-generator worker.

Watch: watcher jobs open one Watch stream per watcher on a prefix, report
ready, and then count events; a putter job writes ``count`` keys (each value
carries its sequence number and send time) either paced at a target rate or as
fast as ``in_flight`` allows. Every watcher must see every sequence number
exactly once.

Lease: one LeaseKeepAlive stream with a window of pipelined requests.
"""

from __future__ import annotations

import asyncio
import collections
import random
import struct
import time
from collections.abc import Callable

import grpc

from bench.jobs import Job, JobResult
from bench.unary import key_name, prefix_end
from kvstore.pb import rpc_pb2, rpc_pb2_grpc

_STAMP = struct.Struct(">qd")  # sequence number, send time (time.monotonic)
#: How many missing sequence numbers a watcher reports (the count is always exact).
_MISSING_SHOWN = 20


def stamped_value(seq: int, size: int) -> bytes:
    stamp = _STAMP.pack(seq, time.monotonic())
    return stamp + b"x" * max(0, size - len(stamp))


async def watchers(
    job: Job, channels: list[grpc.aio.Channel], ready: Callable[[], None]
) -> JobResult:
    """``job.tasks`` watchers; each stops after ``count`` distinct events or the deadline."""
    result = JobResult()
    prefix = job.params["prefix"].encode()
    count, deadline = int(job.params["count"]), float(job.params["deadline"])
    calls = []
    for local in range(job.tasks):
        index = job.task_offset + local
        call = rpc_pb2_grpc.WatchStub(channels[index % len(channels)]).Watch()
        await call.write(
            rpc_pb2.WatchRequest(
                create_request=rpc_pb2.WatchCreateRequest(key=prefix, range_end=prefix_end(prefix))
            )
        )
        created = await asyncio.wait_for(call.read(), job.rpc_timeout)
        if not isinstance(created, rpc_pb2.WatchResponse) or not created.created:
            raise RuntimeError(f"watch was not created: {created!r}")
        calls.append(call)
    ready()

    last_seen = [0.0]  # time of the newest event any watcher received

    async def watch(call: grpc.aio.StreamStreamCall, seen: set[int]) -> None:  # type: ignore[type-arg]
        while len(seen) < count:
            response = await call.read()
            if not isinstance(response, rpc_pb2.WatchResponse):
                result.count("stream_ended")
                return
            if response.canceled:
                result.count("canceled")
                return
            now = time.monotonic()
            for event in response.events:
                seq, sent = _STAMP.unpack_from(event.kv.value)
                if seq in seen:
                    result.count("duplicates")
                    continue
                seen.add(seq)
                result.latencies.append(now - sent)
                last_seen[0] = now

    async def bounded(call: grpc.aio.StreamStreamCall) -> None:  # type: ignore[type-arg]
        seen: set[int] = set()
        try:
            await asyncio.wait_for(watch(call, seen), max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            result.count("timed_out")
        finally:
            call.cancel()
        result.count("events", len(seen))
        missing = [s for s in range(count) if s not in seen]
        result.count("missing", len(missing))
        if missing:
            result.extra.setdefault("missing_sample", missing[:_MISSING_SHOWN])

    await asyncio.gather(*(bounded(c) for c in calls))
    result.ops = result.counters.get("events", 0)
    result.extra["last_event_at"] = last_seen[0]
    return result


async def paced_puts(job: Job, channels: list[grpc.aio.Channel]) -> JobResult:
    """Put ``count`` stamped keys, at ``rate``/s (0: as fast as ``in_flight`` allows)."""
    result = JobResult()
    prefix, count = job.params["prefix"], int(job.params["count"])
    rate, size = float(job.params["rate"]), int(job.params.get("value_bytes", 256))
    slots = asyncio.Semaphore(int(job.params["in_flight"]))
    failed: list[int] = []
    kvs = [rpc_pb2_grpc.KVStub(c) for c in channels]

    async def put(seq: int) -> None:
        try:
            t0 = time.monotonic()
            await kvs[seq % len(kvs)].Put(
                rpc_pb2.PutRequest(key=key_name(prefix, seq), value=stamped_value(seq, size)),
                timeout=job.rpc_timeout,
            )
            result.ops += 1
            result.latencies.append(time.monotonic() - t0)
        except grpc.aio.AioRpcError as exc:
            result.error(exc.code().name)
            failed.append(seq)
        finally:
            slots.release()

    started = time.monotonic()
    result.extra["started_at"] = started
    pending = set()
    for seq in range(count):
        if rate > 0:
            await asyncio.sleep(max(0.0, started + seq / rate - time.monotonic()))
        await slots.acquire()
        if time.monotonic() > job.measure_until:
            slots.release()
            failed.extend(range(seq, count))
            result.count("not_sent", count - seq)
            break
        task = asyncio.create_task(put(seq))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=job.rpc_timeout + 1.0)
    result.extra["send_seconds"] = time.monotonic() - started
    result.extra["failed_seqs"] = failed
    return result


async def keepalive_stream(job: Job, channels: list[grpc.aio.Channel]) -> JobResult:
    """Pipelined LeaseKeepAlive on one stream over ``leases`` leases, ``window`` in flight."""
    result = JobResult()
    lease = rpc_pb2_grpc.LeaseStub(channels[0])
    ids = []
    for _ in range(int(job.params["leases"])):
        granted = await lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=60), timeout=job.rpc_timeout)
        ids.append(granted.ID)
    window = asyncio.Semaphore(int(job.params["window"]))
    sent_at: collections.deque[float] = collections.deque()
    call = lease.LeaseKeepAlive()
    rng = random.Random(job.task_offset)
    stop = asyncio.Event()

    async def send() -> None:
        for _ in range(job.max_ops_per_task):
            await window.acquire()
            if time.monotonic() >= job.measure_until:
                break
            sent_at.append(time.monotonic())
            await call.write(rpc_pb2.LeaseKeepAliveRequest(ID=rng.choice(ids)))
        stop.set()

    async def receive() -> None:
        while sent_at or not stop.is_set():
            response = await call.read()
            if not isinstance(response, rpc_pb2.LeaseKeepAliveResponse):
                result.count("stream_ended")
                return
            t0, t1 = sent_at.popleft(), time.monotonic()
            window.release()
            if response.TTL <= 0:
                result.count("expired")
            if job.measure_from <= t1 <= job.measure_until:
                result.ops += 1
                result.latencies.append(t1 - t0)

    await asyncio.sleep(max(0.0, job.start_at - time.monotonic()))
    bound = job.warmup + job.duration + job.rpc_timeout + 5.0
    try:
        await asyncio.wait_for(asyncio.gather(send(), receive()), bound)
    finally:
        call.cancel()
    return result
