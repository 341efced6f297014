"""Workloads that drive a live cluster and record a :class:`History`.

Each worker is an asyncio task with its own seeded ``random.Random`` and a
:class:`kvstore.client.Client` over every member; it runs until ``stop`` is set.
Every call is bounded (``asyncio.wait_for``), so a hung member turns into an
unknown outcome, never into a hung run.

* registers  — per-key read / write of a unique value / compare-and-swap on the value
  or on the mod revision (a Txn), recorded as :class:`RegisterOp`.
* transfers  — move an amount between two accounts in a Txn guarded by both mod
  revisions; every read of all accounts (one Range, one revision) must sum to the total.
* locks      — ``kvstore.client.Lock`` (etcdctl lock semantics); the holder writes the
  fence key in a Txn guarded by its own lock key, carrying its fencing token.
* watchers   — see :mod:`tests.chaos.watching`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from kvstore.client import (
    Client,
    ClientError,
    Compare,
    ConnectionFailedError,
    InvalidRequestError,
    Lock,
    Session,
    put,
)
from tests.chaos.history import AckedWrite, History, LockHold, RegisterOp, Status, now

T = TypeVar("T")

PREFIX = b"/chaos/"
REGISTERS = PREFIX + b"reg/"
ACCOUNTS = PREFIX + b"acct/"
LOCK_NAME = PREFIX + b"lock/L"
FENCE_KEY = PREFIX + b"lock-fence"


@dataclass(frozen=True)
class WorkloadConfig:
    """Sizes and pacing of the workloads (one instance per run)."""

    endpoints: tuple[str, ...]
    seed: int
    register_workers: int = 4
    register_keys: int = 3
    """Few keys, so operations on each key overlap and the search has work to do."""
    transfer_workers: int = 2
    accounts: int = 4
    initial_balance: int = 100
    lock_workers: int = 2
    request_timeout: float = 5.0
    pace: float = 0.05
    """Mean pause in seconds between two operations of one worker."""

    @property
    def total(self) -> int:
        return self.accounts * self.initial_balance


def register_keys(config: WorkloadConfig) -> list[bytes]:
    return [REGISTERS + f"{i}".encode() for i in range(config.register_keys)]


def account_keys(config: WorkloadConfig) -> list[bytes]:
    return [ACCOUNTS + f"{i}".encode() for i in range(config.accounts)]


def write_outcome(exc: BaseException) -> Status:
    """FAIL only when the write provably had no effect; otherwise UNKNOWN."""
    if isinstance(exc, ConnectionFailedError | InvalidRequestError):
        return Status.FAIL
    return Status.UNKNOWN


def make_client(config: WorkloadConfig, endpoints: tuple[str, ...] | None = None) -> Client:
    return Client(
        list(endpoints or config.endpoints),
        dial_timeout=1.0,
        request_timeout=config.request_timeout,
    )


async def bounded(config: WorkloadConfig, awaitable: Awaitable[T]) -> T:
    """Await with a hard limit a little above the client's own request timeout."""
    return await asyncio.wait_for(awaitable, config.request_timeout + 5.0)


async def _pause(rng: random.Random, config: WorkloadConfig, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), rng.expovariate(1 / config.pace))


async def register_worker(
    process: int, config: WorkloadConfig, history: History, stop: asyncio.Event
) -> None:
    rng = random.Random(f"{config.seed}-reg-{process}")
    keys = register_keys(config)
    seen: dict[bytes, tuple[bytes | None, int]] = {}
    async with make_client(config) as client:
        n = 0
        while not stop.is_set():
            n += 1
            key = rng.choice(keys)
            roll = rng.random()
            if roll < 0.4:
                await _read(process, client, config, history, key, seen)
            elif roll < 0.7:
                value = f"p{process}-{n}".encode()
                op = history.invoke(RegisterOp(process, "write", key, now(), value=value))
                try:
                    result = await bounded(config, client.put(key, value))
                except (ClientError, TimeoutError) as exc:
                    _end(op, write_outcome(exc), exc)
                else:
                    _ok(op, result.revision)
                    history.acked.append(AckedWrite(key, value, result.revision))
            else:
                await _cas(process, n, rng, client, config, history, key, seen)
            await _pause(rng, config, stop)


async def _read(
    process: int,
    client: Client,
    config: WorkloadConfig,
    history: History,
    key: bytes,
    seen: dict[bytes, tuple[bytes | None, int]],
) -> None:
    op = history.invoke(RegisterOp(process, "read", key, now()))
    try:
        result = await bounded(config, client.get(key))
    except (ClientError, TimeoutError) as exc:
        _end(op, Status.FAIL, exc)  # a read has no effect
        return
    kv = result.kv
    op.value = None if kv is None else kv.value
    op.mod_revision = 0 if kv is None else kv.mod_revision
    _ok(op, result.revision)
    seen[key] = (op.value, op.mod_revision)


async def _cas(
    process: int,
    n: int,
    rng: random.Random,
    client: Client,
    config: WorkloadConfig,
    history: History,
    key: bytes,
    seen: dict[bytes, tuple[bytes | None, int]],
) -> None:
    expected, mod = seen.get(key, (None, 0))
    value = f"p{process}-{n}".encode()
    by_mod = expected is None or rng.random() < 0.5
    if by_mod:
        guard = Compare.mod(key) == mod
    else:
        assert expected is not None
        guard = Compare.value(key) == expected
    op = history.invoke(
        RegisterOp(
            process, "cas", key, now(), value=value, expected=expected, by_mod=mod if by_mod else 0
        )
    )
    try:
        result = await bounded(config, client.txn().if_(guard).then(put(key, value)).commit())
    except (ClientError, TimeoutError) as exc:
        _end(op, write_outcome(exc), exc)
        return
    op.succeeded = result.succeeded
    _ok(op, result.revision)
    if result.succeeded:
        history.acked.append(AckedWrite(key, value, result.revision))
        seen[key] = (value, result.revision)


def _ok(op: RegisterOp, revision: int) -> None:
    op.complete = now()
    op.revision = revision
    op.status = Status.OK


def _end(op: RegisterOp, status: Status, exc: BaseException) -> None:
    op.complete = now()
    op.status = status
    op.error = f"{type(exc).__name__}: {exc}"


async def setup_accounts(config: WorkloadConfig) -> int:
    """Create every account with its initial balance in one Txn; returns its revision."""
    async with make_client(config) as client:
        keys = account_keys(config)
        ops = [put(k, str(config.initial_balance)) for k in keys]
        for _ in range(50):
            try:
                result = await bounded(config, client.txn().then(*ops).commit())
            except (ClientError, TimeoutError):
                await asyncio.sleep(0.2)
                continue
            return result.revision
    raise RuntimeError("could not create the accounts")


async def transfer_worker(
    process: int, config: WorkloadConfig, history: History, stop: asyncio.Event
) -> None:
    rng = random.Random(f"{config.seed}-xfer-{process}")
    keys = account_keys(config)
    async with make_client(config) as client:
        while not stop.is_set():
            await _pause(rng, config, stop)
            try:
                snapshot = await bounded(config, client.get_prefix(ACCOUNTS))
            except (ClientError, TimeoutError):
                continue
            balances = {kv.key: int(kv.value) for kv in snapshot.kvs}
            history.transfer_reads.append((snapshot.revision, balances))
            mods = {kv.key: kv.mod_revision for kv in snapshot.kvs}
            a, b = rng.sample(keys, 2)
            if a not in balances or b not in balances or balances[a] == 0:
                continue
            amount = rng.randint(1, balances[a])
            request = (
                client.txn()
                .if_(Compare.mod(a) == mods[a], Compare.mod(b) == mods[b])
                .then(put(a, str(balances[a] - amount)), put(b, str(balances[b] + amount)))
            )
            try:
                result = await bounded(config, request.commit())
            except (ClientError, TimeoutError) as exc:
                history.count_transfer(write_outcome(exc))
                continue
            history.count_transfer(Status.OK)
            if result.succeeded:
                rev = result.revision
                history.acked.append(AckedWrite(a, str(balances[a] - amount).encode(), rev))
                history.acked.append(AckedWrite(b, str(balances[b] + amount).encode(), rev))


async def lock_worker(
    process: int, config: WorkloadConfig, history: History, stop: asyncio.Event
) -> None:
    rng = random.Random(f"{config.seed}-lock-{process}")
    async with make_client(config) as client:
        while not stop.is_set():
            try:
                await _lock_session(process, rng, client, config, history, stop)
            except (ClientError, TimeoutError):
                history.lock_errors += 1
                await _pause(rng, config, stop)


async def _lock_session(
    process: int,
    rng: random.Random,
    client: Client,
    config: WorkloadConfig,
    history: History,
    stop: asyncio.Event,
) -> None:
    session = await bounded(config, Session(client, ttl=4).open())
    try:
        while not stop.is_set():
            lock = Lock(session, LOCK_NAME)
            token = await asyncio.wait_for(lock.acquire(), 30)
            try:
                for _ in range(2):
                    guarded = (
                        client.txn()
                        .if_(Compare.create(lock.key) == token)
                        .then(put(FENCE_KEY, str(token)))
                    )
                    result = await bounded(config, guarded.commit())
                    if not result.succeeded:
                        break  # lost the lock (session expired): the guard kept us out
                    rev = result.revision
                    history.lock_holds.append(LockHold(process, token, rev))
                    history.acked.append(AckedWrite(FENCE_KEY, str(token).encode(), rev))
                    await _pause(rng, config, stop)
            finally:
                with contextlib.suppress(ClientError, TimeoutError):
                    await bounded(config, lock.release())
            await _pause(rng, config, stop)
    finally:
        with contextlib.suppress(ClientError, TimeoutError):
            await bounded(config, session.aclose())
