"""``make-mirror DESTINATION``: etcdctl's mirror of a key range to another cluster.

Copies every key under ``--prefix`` (all keys without it) to the cluster at
DESTINATION, then applies every later change there until Ctrl-C or SIGTERM
(:class:`kvstore.client.Mirror`). Keys keep their names, or move from
``--prefix`` to ``--dest-prefix``, or lose the prefix with ``--no-dest-prefix``.
As etcdctl, it prints how many keys and changes it has written every 30
seconds; kvctl prints the total once more when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib

import click

from kvstore.cli.flagvalues import on_by_default
from kvstore.cli.main import BadArgs, CliError, Session, credentials, session, split_endpoints
from kvstore.cli.running import until_done, until_stop
from kvstore.client import Client, Mirror

#: how often the running total is printed, seconds (etcdctl's period)
REPORT_EVERY = 30.0


@click.command("make-mirror")
@click.argument("destination")
@click.option("--prefix", default="", help="key prefix to mirror (default: every key)")
@click.option("--dest-prefix", help="prefix the mirrored keys get at the destination")
@click.option("--no-dest-prefix", is_flag=True, help="mirror keys to the destination's root")
@click.option("--dest-cacert", type=click.Path(exists=True, dir_okay=False), help="CA bundle")
@click.option("--dest-cert", type=click.Path(exists=True, dir_okay=False), help="certificate")
@click.option("--dest-key", type=click.Path(exists=True, dir_okay=False), help="key of it")
@click.option("--dest-user", help="username[:password] at the destination")
@click.option("--dest-password", help="password of --dest-user")
@on_by_default(
    "--dest-insecure-transport",
    help="false: TLS to the destination, also without https:// or --dest-cacert",
)
def make_mirror_command(
    destination: str,
    prefix: str,
    dest_prefix: str | None,
    no_dest_prefix: bool,
    dest_cacert: str | None,
    dest_cert: str | None,
    dest_key: str | None,
    dest_user: str | None,
    dest_password: str | None,
    dest_insecure_transport: bool,
) -> None:
    """Mirror keys to the cluster at DESTINATION (comma-separated endpoints),
    then keep the mirror current until Ctrl-C."""
    if no_dest_prefix and dest_prefix:
        raise BadArgs(
            "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one."
        )
    endpoints = split_endpoints(destination, secure=not dest_insecure_transport)
    if not endpoints:
        raise BadArgs("make-mirror takes one destination argument")
    if (dest_cert is None) != (dest_key is None):
        raise BadArgs("--dest-cert and --dest-key go together")
    username = password = None
    if dest_user is not None:
        username, password = credentials(dest_user, dest_password)
    sess = session()
    source = sess.client().client
    renamed = "" if no_dest_prefix else dest_prefix

    async def mirror(stop: asyncio.Event) -> None:
        opts = sess.options
        async with Client(
            list(endpoints),
            dial_timeout=opts.dial_timeout,
            request_timeout=opts.request_timeout,
            ca_cert=dest_cacert,
            cert=dest_cert,
            key=dest_key,
            username=username,
            password=password,
        ) as dest:
            await _run(sess, Mirror.between(source, dest, prefix, renamed), stop)

    until_done(mirror)


async def _run(sess: Session, mirror: Mirror, stop: asyncio.Event) -> None:
    async def copy_and_follow() -> None:
        await mirror.follow(await mirror.copy())

    async def report() -> None:
        while True:
            await asyncio.sleep(REPORT_EVERY)
            sess.out.line(str(mirror.count))

    reporter = asyncio.ensure_future(report())
    try:
        ended = await until_stop(copy_and_follow(), stop)
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
    if ended:
        raise CliError("mirror: the watch on the source ended")
    sess.out.line(str(mirror.count))


def register(group: click.Group) -> None:
    group.add_command(make_mirror_command)
