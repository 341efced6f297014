"""Closed-loop unary workloads, run inside a load-generator worker.

Each task repeats one operation back to back until the measuring window ends
or it has done ``max_ops_per_task``. Throughput counts the operations that
complete inside the measuring window (after the warm-up), whenever they
started; their latencies are the ones reported.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from bench.jobs import Job, JobResult
from kvstore.pb import rpc_pb2, rpc_pb2_grpc

#: An operation returns the counters it wants bumped when it is measured.
Op = Callable[[], Awaitable[dict[str, int] | None]]
OpFactory = Callable[["TaskContext"], Op]


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that selects every key starting with ``prefix``."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


def key_name(prefix: str, i: int) -> bytes:
    return f"{prefix}{i:08d}".encode()


@dataclass
class TaskContext:
    """What one task of a job can use."""

    job: Job
    index: int  # global task index
    kv: rpc_pb2_grpc.KVAsyncStub
    lease: rpc_pb2_grpc.LeaseAsyncStub
    rng: random.Random

    @property
    def timeout(self) -> float:
        return self.job.rpc_timeout


def _value(ctx: TaskContext) -> bytes:
    return ctx.rng.randbytes(int(ctx.job.params.get("value_bytes", 256)))


def make_put(ctx: TaskContext) -> Op:
    prefix, keyspace, value = ctx.job.params["prefix"], ctx.job.params["keyspace"], _value(ctx)

    async def op() -> None:
        key = key_name(prefix, ctx.rng.randrange(keyspace))
        await ctx.kv.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=ctx.timeout)

    return op


def make_get(ctx: TaskContext) -> Op:
    prefix, keyspace = ctx.job.params["prefix"], ctx.job.params["keyspace"]
    serializable = bool(ctx.job.params["serializable"])

    async def op() -> dict[str, int]:
        key = key_name(prefix, ctx.rng.randrange(keyspace))
        r = await ctx.kv.Range(
            rpc_pb2.RangeRequest(key=key, serializable=serializable), timeout=ctx.timeout
        )
        return {"hit" if r.kvs else "miss": 1}

    return op


def make_txn_cas(ctx: TaskContext) -> Op:
    """Compare-and-swap on mod revision, like Kubernetes' GuaranteedUpdate.

    The task caches each key's mod revision; a conflict's failure branch reads
    the current value, so the next attempt on that key uses a fresh revision.
    """
    prefix, keys, value = ctx.job.params["prefix"], ctx.job.params["keys"], _value(ctx)
    known: dict[bytes, int] = {}

    async def op() -> dict[str, int]:
        key = key_name(prefix, ctx.rng.randrange(keys))
        compare = rpc_pb2.Compare(
            key=key,
            target=rpc_pb2.Compare.MOD,
            result=rpc_pb2.Compare.EQUAL,
            mod_revision=known.get(key, 0),
        )
        r = await ctx.kv.Txn(
            rpc_pb2.TxnRequest(
                compare=[compare],
                success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value))],
                failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key))],
            ),
            timeout=ctx.timeout,
        )
        if r.succeeded:
            known[key] = r.header.revision
            return {"success": 1}
        kvs = r.responses[0].response_range.kvs
        known[key] = kvs[0].mod_revision if kvs else 0
        return {"conflict": 1}

    return op


def make_range_list(ctx: TaskContext) -> Op:
    """A paged list like the Kubernetes apiserver's: limit, last key + NUL, pinned revision."""
    prefix = ctx.job.params["prefix"].encode()
    limit, expected = int(ctx.job.params["limit"]), int(ctx.job.params["expected"])
    end = prefix_end(prefix)
    max_pages = expected // limit + 2

    async def op() -> dict[str, int]:
        key, revision, listed, pages = prefix, 0, 0, 0
        while pages < max_pages:
            r = await ctx.kv.Range(
                rpc_pb2.RangeRequest(key=key, range_end=end, limit=limit, revision=revision),
                timeout=ctx.timeout,
            )
            pages += 1
            revision = revision or r.header.revision
            listed += len(r.kvs)
            if not r.more or not r.kvs:
                break
            key = r.kvs[-1].key + b"\0"
        return {"keys": listed, "pages": pages, "wrong_size": int(listed != expected)}

    return op


def make_lease_grant(ctx: TaskContext) -> Op:
    async def op() -> None:
        await ctx.lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=60), timeout=ctx.timeout)

    return op


OPS: dict[str, OpFactory] = {
    "put": make_put,
    "get": make_get,
    "txn_cas": make_txn_cas,
    "range_list": make_range_list,
    "lease_grant": make_lease_grant,
}


async def closed_loop(job: Job, channels: list[grpc.aio.Channel]) -> JobResult:
    """Run ``job.tasks`` tasks of ``OPS[job.op]`` through the job's window."""
    result = JobResult()
    factory = OPS[job.op]

    async def task(local: int) -> None:
        index = job.task_offset + local
        channel = channels[index % len(channels)]
        ctx = TaskContext(
            job,
            index,
            rpc_pb2_grpc.KVStub(channel),
            rpc_pb2_grpc.LeaseStub(channel),
            random.Random(index),
        )
        op = factory(ctx)
        for _ in range(job.max_ops_per_task):
            t0 = time.monotonic()
            if t0 >= job.measure_until:
                return
            try:
                counts = await op()
            except grpc.aio.AioRpcError as exc:
                result.error(exc.code().name)
                await asyncio.sleep(0.01)  # no hot loop against a failing server
                continue
            t1 = time.monotonic()
            if job.measure_from <= t1 <= job.measure_until:
                result.ops += 1
                result.latencies.append(t1 - t0)
                for name, n in (counts or {}).items():
                    result.count(name, n)

    await asyncio.sleep(max(0.0, job.start_at - time.monotonic()))
    bound = job.warmup + job.duration + job.rpc_timeout + 5.0
    await asyncio.wait_for(asyncio.gather(*(task(i) for i in range(job.tasks))), bound)
    return result


async def load_keys(job: Job, channels: list[grpc.aio.Channel]) -> JobResult:
    """Write keys ``0..count-1`` under ``prefix`` exactly once, split over all tasks."""
    result = JobResult()
    prefix, count = job.params["prefix"], int(job.params["count"])
    value = random.Random(0).randbytes(int(job.params.get("value_bytes", 256)))

    async def task(local: int) -> None:
        index = job.task_offset + local
        kv = rpc_pb2_grpc.KVStub(channels[index % len(channels)])
        for i in range(index, count, job.total_tasks):
            t0 = time.monotonic()
            try:
                await kv.Put(
                    rpc_pb2.PutRequest(key=key_name(prefix, i), value=value),
                    timeout=job.rpc_timeout,
                )
            except grpc.aio.AioRpcError as exc:
                result.error(exc.code().name)
                continue
            result.ops += 1
            result.latencies.append(time.monotonic() - t0)

    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(task(i) for i in range(job.tasks))), job.duration)
    result.extra["elapsed"] = time.monotonic() - started
    return result
