"""``lease grant | revoke | keep-alive | timetolive | list`` (IDs in hexadecimal)."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from kvstore.cli.keys import parse_lease
from kvstore.cli.main import CliError, session
from kvstore.cli.output import b64, header_fields, header_json, lease_hex, text
from kvstore.cli.running import until_done, until_stop
from kvstore.client import Client, LeaseExpiredError


@click.group("lease")
def lease_group() -> None:
    """Lease commands."""


@lease_group.command("grant")
@click.argument("ttl", type=int)
def grant(ttl: int) -> None:
    """Grant a lease of TTL seconds."""
    sess = session()
    g = sess.client().grant(ttl)
    out = sess.out
    if out.fmt == "json":
        out.json({**header_json(g.header), "ID": g.id, "TTL": g.ttl})
    elif out.fmt == "fields":
        out.fields([*header_fields(g.header), ("ID", g.id), ("TTL", g.ttl)])
    elif out.fmt == "table":
        out.table(["ID", "TTL"], [[lease_hex(g.id), str(g.ttl)]])
    else:
        out.line(f"lease {lease_hex(g.id)} granted with TTL({g.ttl}s)")


@lease_group.command("revoke")
@click.argument("lease_id")
def revoke(lease_id: str) -> None:
    """Revoke a lease (its keys are deleted)."""
    lid = parse_lease(lease_id)
    sess = session()
    revision = sess.client().revoke(lid)
    out = sess.out
    if out.fmt == "json":
        out.json({"header": {"revision": revision}})
    elif out.fmt == "fields":
        out.fields([("Revision", revision)])
    elif out.fmt == "table":
        out.table(["ID", "REVOKED AT"], [[lease_hex(lid), str(revision)]])
    else:
        out.line(f"lease {lease_hex(lid)} revoked")


@lease_group.command("timetolive")
@click.argument("lease_id")
@click.option("--keys", is_flag=True, help="also list the keys attached to the lease")
def timetolive(lease_id: str, keys: bool) -> None:
    """Remaining time of a lease."""
    lid = parse_lease(lease_id)
    sess = session()
    t = sess.client().time_to_live(lid, keys=keys)
    out = sess.out
    if out.fmt == "json":
        doc: dict[str, Any] = {**header_json(t.header), "id": t.id, "ttl": t.ttl}
        doc["granted-ttl"] = t.granted_ttl
        if t.keys:
            doc["keys"] = [b64(k) for k in t.keys]
        out.json(doc)
    elif out.fmt == "fields":
        pairs = [*header_fields(t.header), ("ID", t.id), ("TTL", t.ttl)]
        pairs += [("GrantedTTL", t.granted_ttl), *(("Key", text(k)) for k in t.keys)]
        out.fields(pairs)
    elif out.fmt == "table":
        row = [lease_hex(lid), str(t.ttl), str(t.granted_ttl), ",".join(text(k) for k in t.keys)]
        out.table(["ID", "TTL", "GRANTED TTL", "KEYS"], [row])
    elif t.ttl == -1:
        out.line(f"lease {lease_hex(lid)} already expired")
    else:
        line = f"lease {lease_hex(lid)} granted with TTL({t.granted_ttl}s), remaining({t.ttl}s)"
        if keys:
            line += f", attached keys([{' '.join(text(k) for k in t.keys)}])"
        out.line(line)


@lease_group.command("list")
def list_leases() -> None:
    """List all live leases."""
    sess = session()
    ids = sess.client().leases()
    out = sess.out
    if out.fmt == "json":
        out.json({"leases": [{"id": i} for i in ids]})
    elif out.fmt == "fields":
        out.fields(("ID", i) for i in ids)
    elif out.fmt == "table":
        out.table(["ID"], [[lease_hex(i)] for i in ids])
    else:
        out.line(f"found {len(ids)} leases")
        for i in ids:
            out.line(lease_hex(i))


async def _keep_alive(
    client: Client, lease_id: int, once: bool, report: Any, stop: asyncio.Event
) -> None:
    async def renew() -> None:
        async with client.keep_alive(lease_id) as keepalive:
            count = 1
            while True:
                await keepalive.wait_renewed(count)
                report(keepalive.ttl)
                if once:
                    return
                count += 1

    await until_stop(renew(), stop)


@lease_group.command("keep-alive")
@click.argument("lease_id")
@click.option("--once", is_flag=True, help="renew once and exit")
def keep_alive(lease_id: str, once: bool) -> None:
    """Keep a lease alive (until Ctrl-C, or once with --once)."""
    lid = parse_lease(lease_id)
    sess = session()
    out = sess.out

    def report(ttl: int) -> None:
        if out.fmt == "json":
            out.json({"ID": lid, "TTL": ttl})
        elif out.fmt == "fields":
            out.fields([("ID", lid), ("TTL", ttl)])
        elif out.fmt == "table":
            out.table(["ID", "TTL"], [[lease_hex(lid), str(ttl)]])
        else:
            out.line(f"lease {lease_hex(lid)} keepalived with TTL({ttl})")

    client = sess.client().client
    try:
        until_done(lambda stop: _keep_alive(client, lid, once, report, stop))
    except LeaseExpiredError as exc:
        raise CliError(f"lease {lease_hex(lid)} expired or revoked.") from exc


def register(group: click.Group) -> None:
    group.add_command(lease_group)
