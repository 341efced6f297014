"""``lock NAME [COMMAND ...]``: etcdctl's distributed lock, from the shell.

The lock is :class:`kvstore.client.Lock` (etcd's clientv3/concurrency protocol), so
kvctl, etcdctl and the Python client exclude one another. As ``etcdctl lock``:
without a command, print the lock key once it is held and hold it until Ctrl-C or
SIGTERM; with one, run it while holding the lock, with ``ETCD_LOCK_KEY`` and
``ETCD_LOCK_REV`` in its environment, then release, and fail if it failed.
Interrupted while waiting, kvctl leaves the queue (its session's lease is revoked,
and its key with it) and fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from types import FrameType
from typing import Any

import click

from kvstore.cli.keys import print_range
from kvstore.cli.main import CliError, Session, session
from kvstore.client import Client, Lock
from kvstore.client import Session as LeaseSession

#: etcdctl lock's default --ttl (seconds): how long a crashed holder keeps the lock
DEFAULT_TTL = 10


async def _first(*aws: asyncio.Future[Any]) -> asyncio.Future[Any]:
    """The first of ``aws`` to finish; the others are cancelled."""
    done, pending = await asyncio.wait(aws, return_when=asyncio.FIRST_COMPLETED)
    for other in pending:
        other.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await other
    return next(iter(done))


async def _hold(
    sess: Session,
    client: Client,
    name: str,
    ttl: int,
    command: tuple[str, ...],
    stop: asyncio.Event,
) -> int:
    """Take the lock, then hold it (no command) or run ``command``; its exit
    status, 0 without one. The session's lease is revoked on the way out."""
    async with LeaseSession(client, ttl=ttl) as lease:
        lock = Lock(lease, name)
        acquiring = asyncio.ensure_future(lock.acquire())
        stopping = asyncio.ensure_future(stop.wait())
        if await _first(acquiring, stopping) is stopping:
            # not held, so a command never ran: not a success (etcdctl: context canceled)
            raise CliError("interrupted while waiting for the lock")
        revision = acquiring.result()
        if command:
            env = {**os.environ, "ETCD_LOCK_KEY": lock.key.decode(), "ETCD_LOCK_REV": str(revision)}
            try:
                ran = await asyncio.to_thread(subprocess.run, list(command), env=env, check=False)
            except OSError as exc:
                raise CliError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from exc
            await lock.release()
            return ran.returncode
        held = await client.get(lock.key)
        if not held.kvs:
            raise CliError("lock lost on init")
        print_range(sess.out, held, value_only=False, count_only=False)
        lost = asyncio.ensure_future(lease.keepalive.lost.wait())
        stopping = asyncio.ensure_future(stop.wait())
        if await _first(lost, stopping) is lost:
            raise CliError("session expired")
        await lock.release()
        return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM ends the wait as Ctrl-C does (and so releases the lock)."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command(
    "lock", context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True}
)
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--ttl",
    type=click.IntRange(min=1),
    default=DEFAULT_TTL,
    show_default=True,
    help="seconds a holder that died keeps the lock (its session's lease)",
)
def lock_command(name: str, command: tuple[str, ...], ttl: int) -> None:
    """Acquire lock NAME; print its key and hold it until Ctrl-C, or run COMMAND
    while holding it (with ETCD_LOCK_KEY and ETCD_LOCK_REV set)."""
    sess = session()
    client = sess.client()
    stop = asyncio.Event()  # set from this thread, waited for on the client's loop
    with _sigterm_interrupts():
        future = client.submit(_hold(sess, client.client, name, ttl, command, stop))
        while True:
            try:
                status = future.result()
                break
            except KeyboardInterrupt:
                client.call_soon(stop.set)
    if status != 0:
        raise CliError(f"exit status {status}")


def register(group: click.Group) -> None:
    group.add_command(lock_command)
