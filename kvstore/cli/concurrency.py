"""``lock NAME [COMMAND ...]`` and ``elect NAME [PROPOSAL] | -l``: etcdctl's
distributed lock and leader election, from the shell.

They are :class:`kvstore.client.Lock` and :class:`kvstore.client.Election` (etcd's
clientv3/concurrency protocol), so kvctl, etcdctl and the Python client take part
in the same locks and elections. As ``etcdctl lock``:
without a command, print the lock key once it is held and hold it until Ctrl-C or
SIGTERM; with one, run it while holding the lock, with ``ETCD_LOCK_KEY`` and
``ETCD_LOCK_REV`` in its environment, then release, and fail if it failed.
Interrupted while waiting, kvctl leaves the queue (its session's lease is revoked,
and its key with it) and fails. As ``etcdctl elect``: campaign with PROPOSAL, print
the leader key and value once elected and lead until Ctrl-C or SIGTERM (then
resign); or, with ``-l``, print the leader each time it changes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess

import click

from kvstore.cli.exectail import ExecTailCommand, exec_tail
from kvstore.cli.keys import print_range
from kvstore.cli.main import BadArgs, CliError, Session, session
from kvstore.cli.output import kv_json
from kvstore.cli.running import or_stop, until_done, until_stop
from kvstore.client import Client, Election, Lock
from kvstore.client import Session as LeaseSession

#: etcdctl lock's default --ttl (seconds): how long a crashed holder keeps the lock
DEFAULT_TTL = 10
#: etcdctl elect's session TTL (clientv3/concurrency's default), seconds
SESSION_TTL = 60


async def _show_and_keep(
    sess: Session, lease: LeaseSession, key: bytes, stop: asyncio.Event, gone: str, lost: str
) -> None:
    """Print ``key`` and its value, then wait until ``stop`` is set; CliError
    (``gone``) if the key is missing, (``lost``) if the session's lease is lost first."""
    current = await lease.client.get(key)
    if not current.kvs:
        raise CliError(gone)
    print_range(sess.out, current, value_only=False, count_only=False)
    if await until_stop(lease.keepalive.lost.wait(), stop):
        raise CliError(lost)


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
        # not held, so a command never ran: not a success (etcdctl: context canceled)
        revision = await or_stop(lock.acquire(), stop, "interrupted while waiting for the lock")
        if command:
            env = {**os.environ, "ETCD_LOCK_KEY": lock.key.decode(), "ETCD_LOCK_REV": str(revision)}
            try:
                ran = await asyncio.to_thread(subprocess.run, list(command), env=env, check=False)
            except OSError as exc:
                raise CliError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from exc
            await lock.release()
            return ran.returncode
        await _show_and_keep(sess, lease, lock.key, stop, "lock lost on init", "session expired")
        await lock.release()
        return 0


@click.command(
    "lock",
    cls=ExecTailCommand,
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
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
@click.pass_context
def lock_command(ctx: click.Context, name: str, command: tuple[str, ...], ttl: int) -> None:
    """Acquire lock NAME; print its key and hold it until Ctrl-C, or run COMMAND
    while holding it (with ETCD_LOCK_KEY and ETCD_LOCK_REV set). Options may come
    before a -- that starts COMMAND: lock L --ttl 5 -- make deploy."""
    command = (*command, *(exec_tail(ctx) or ()))
    sess = session()
    status = until_done(lambda stop: _hold(sess, sess.client().client, name, ttl, command, stop))
    if status != 0:
        raise CliError(f"exit status {status}")


async def _campaign(
    sess: Session, client: Client, name: str, proposal: str, stop: asyncio.Event
) -> int:
    async with LeaseSession(client, ttl=SESSION_TTL) as lease:
        election = Election(lease, name)
        await or_stop(election.campaign(proposal), stop, "interrupted while campaigning")
        lost = "elect: session expired"
        await _show_and_keep(sess, lease, election.key, stop, lost, lost)
        await election.resign()
        return 0


async def _observe(sess: Session, client: Client, name: str, stop: asyncio.Event) -> int:
    async with LeaseSession(client, ttl=SESSION_TTL) as lease:

        async def show() -> None:
            async for leader in Election(lease, name).observe():
                if sess.out.fmt == "json":
                    sess.out.json({"kvs": [kv_json(leader)], "count": 1})
                else:
                    sess.out.raw(leader.key)
                    sess.out.value(leader.value)

        if await until_stop(show(), stop):
            raise CliError("elect: observer lost")
        return 0


@click.command("elect")
@click.argument("name")
@click.argument("proposal", required=False)
@click.option("-l", "--listen", is_flag=True, help="observe the leader instead of campaigning")
def elect_command(name: str, proposal: str | None, listen: bool) -> None:
    """Campaign in election NAME with PROPOSAL and lead until Ctrl-C, or with -l
    print the leader each time it changes."""
    if not listen and proposal is None:
        raise BadArgs("no proposal argument but -l not set")
    sess = session()
    client = sess.client().client
    if listen:
        until_done(lambda stop: _observe(sess, client, name, stop))
    else:
        assert proposal is not None
        until_done(lambda stop: _campaign(sess, client, name, proposal, stop))


def register(group: click.Group) -> None:
    group.add_command(lock_command)
    group.add_command(elect_command)
