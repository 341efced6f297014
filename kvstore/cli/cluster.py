"""Cluster and maintenance: member, endpoint (status/health/hashkv), move-leader,
defrag, alarm.

Per-endpoint commands query every endpoint concurrently and print ONE table (or
one line per endpoint); ``--cluster`` replaces the endpoints with every member's
client URLs from the member list. An endpoint that fails appears with its error
and makes the command exit 1 after printing the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kvstore.cli.main import CliError, Session, session
from kvstore.cli.output import header_json, human_bytes, member_hex
from kvstore.client import Alarm, Client, ClientError, Member, Status, SyncClient
from kvstore.config import StorageConfig
from kvstore.storage.backend import Backend
from kvstore.storage.dirlock import DataDirInUse, DataDirLock

T = TypeVar("T")


def one_endpoint_client(sess: Session, endpoint: str) -> Client:
    """A client pinned to one endpoint (no failover), with the global timeouts."""
    o = sess.options
    return Client([endpoint], dial_timeout=o.dial_timeout, request_timeout=o.command_timeout)


def target_endpoints(sess: Session, cluster: bool) -> list[str]:
    if not cluster:
        return list(sess.options.endpoints)
    urls: list[str] = []
    for member in sess.client().member_list():
        urls += [u for u in member.client_urls if u not in urls]
    if not urls:
        raise CliError("no member has published client URLs yet")
    return urls


def per_endpoint(
    sess: Session, endpoints: list[str], call: Callable[[str], Awaitable[T]]
) -> list[tuple[str, T | ClientError]]:
    """``call(endpoint)`` for every endpoint at once; errors are returned, not raised."""

    async def one(endpoint: str) -> T | ClientError:
        try:
            return await call(endpoint)
        except ClientError as exc:
            return exc
        except TimeoutError as exc:
            return ClientError(str(exc) or "request timed out")

    async def all_of() -> list[T | ClientError]:
        return list(await asyncio.gather(*(one(e) for e in endpoints)))

    return list(zip(endpoints, sess.run(all_of()), strict=True))


def fail_if_any(results: list[tuple[str, Any]], what: str) -> None:
    failed = [ep for ep, r in results if isinstance(r, ClientError)]
    if failed:
        raise CliError(f"{what} failed on {len(failed)} of {len(results)} endpoints: {failed}")


# --- member ---------------------------------------------------------------------


def member_json(m: Member) -> dict[str, Any]:
    doc: dict[str, Any] = {"ID": m.id}
    if m.name:
        doc["name"] = m.name
    doc["peerURLs"] = m.peer_urls
    if m.client_urls:
        doc["clientURLs"] = m.client_urls
    if m.is_learner:
        doc["isLearner"] = True
    return doc


def member_row(m: Member) -> dict[str, Any]:
    return {
        "id": member_hex(m.id),
        "status": "started" if m.name else "unstarted",
        "name": m.name,
        "peer addrs": ",".join(m.peer_urls),
        "client addrs": ",".join(m.client_urls),
        "is learner": m.is_learner,
    }


MEMBER_COLUMNS = ["id", "status", "name", "peer addrs", "client addrs", "is learner"]


@click.group("member")
def member_group() -> None:
    """Membership commands."""


@member_group.command("list")
def member_list() -> None:
    """List the cluster's members."""
    sess = session()
    members = sess.client().member_list()
    sess.out.records(
        MEMBER_COLUMNS,
        [member_row(m) for m in members],
        document={"members": [member_json(m) for m in members]},
    )


@member_group.command("add")
@click.argument("name")
@click.option("--peer-urls", required=True, help="comma-separated peer URLs of the new member")
@click.option("--learner", is_flag=True, help="add it as a learner (non-voting; see promote)")
def member_add(name: str, peer_urls: str, learner: bool) -> None:
    """Add member NAME; then start it with the printed settings."""
    urls = [u.strip() for u in peer_urls.split(",") if u.strip()]
    sess = session()
    client = sess.client()
    added = client.member_add(urls, is_learner=learner)
    cluster_id = client.status().header.cluster_id
    members = client.member_list()
    initial = [
        f"{name if m.id == added.id else m.name}={u}"
        for m in members
        for u in m.peer_urls
        if m.name or m.id == added.id
    ]
    out = sess.out
    if out.fmt == "json":
        out.json({"member": member_json(added), "members": [member_json(m) for m in members]})
        return
    if out.fmt != "simple":
        out.records(MEMBER_COLUMNS, [member_row(added)])
        return
    out.line(f"Member {member_hex(added.id)} added to cluster {member_hex(cluster_id)}")
    out.line()
    out.line(f'ETCD_NAME="{name}"')
    out.line(f'ETCD_INITIAL_CLUSTER="{",".join(initial)}"')
    out.line(f'ETCD_INITIAL_ADVERTISE_PEER_URLS="{",".join(urls)}"')
    out.line('ETCD_INITIAL_CLUSTER_STATE="existing"')


def parse_member_id(text_id: str) -> int:
    try:
        return int(text_id, 16)
    except ValueError:
        raise click.BadParameter(f"bad member ID {text_id!r} (hexadecimal)") from None


@member_group.command("remove")
@click.argument("member_id")
def member_remove(member_id: str) -> None:
    """Remove the member MEMBER_ID (hexadecimal)."""
    _member_change(member_id, "removed from", lambda client, mid: client.member_remove(mid))


@member_group.command("promote")
@click.argument("member_id")
def member_promote(member_id: str) -> None:
    """Promote the learner MEMBER_ID (hexadecimal) to a voting member."""
    _member_change(member_id, "promoted in", lambda client, mid: client.member_promote(mid))


def _member_change(
    member_id: str, done: str, change: Callable[[SyncClient, int], list[Member]]
) -> None:
    """Apply ``change`` to the member; print etcdctl's line, or the members."""
    mid = parse_member_id(member_id)
    sess = session()
    client = sess.client()
    members = change(client, mid)
    out = sess.out
    if out.fmt == "simple":
        cluster_id = client.status().header.cluster_id
        out.line(f"Member {member_hex(mid)} {done} cluster {member_hex(cluster_id)}")
    else:
        out.records(
            MEMBER_COLUMNS,
            [member_row(m) for m in members],
            document={"members": [member_json(m) for m in members]},
        )


# --- endpoint -------------------------------------------------------------------


def status_row(endpoint: str, s: Status | ClientError) -> dict[str, Any]:
    if isinstance(s, ClientError):
        return {"endpoint": endpoint, "errors": s.message or str(s)}
    return {
        "endpoint": endpoint,
        "id": member_hex(s.header.member_id),
        "version": s.version,
        "db size": human_bytes(s.db_size),
        "is leader": s.leader != 0 and s.leader == s.header.member_id,
        "is learner": s.is_learner,
        "raft term": s.raft_term,
        "raft index": s.raft_index,
        "raft applied index": s.raft_applied_index,
        "errors": ", ".join(s.errors),
    }


STATUS_COLUMNS = [
    "endpoint",
    "id",
    "version",
    "db size",
    "is leader",
    "is learner",
    "raft term",
    "raft index",
    "raft applied index",
    "errors",
]


def status_json(endpoint: str, s: Status | ClientError) -> dict[str, Any]:
    if isinstance(s, ClientError):
        return {"Endpoint": endpoint, "Error": s.message or str(s)}
    body: dict[str, Any] = {
        "header": header_json(s.header),
        "version": s.version,
        "dbSize": s.db_size,
        "leader": s.leader,
        "raftIndex": s.raft_index,
        "raftTerm": s.raft_term,
        "raftAppliedIndex": s.raft_applied_index,
        "dbSizeInUse": s.db_size_in_use,
    }
    if s.errors:
        body["errors"] = s.errors
    if s.is_learner:
        body["isLearner"] = True
    return {"Endpoint": endpoint, "Status": body}


def fetch_statuses(sess: Session, endpoints: list[str]) -> list[tuple[str, Status | ClientError]]:
    client = sess.client().client
    return per_endpoint(sess, endpoints, lambda ep: client.status(endpoint=ep))


@click.group("endpoint")
def endpoint_group() -> None:
    """Endpoint commands: status, health, hashkv."""


cluster_flag = click.option(
    "--cluster", is_flag=True, help="use every member's client URLs from the member list"
)


@endpoint_group.command("status")
@cluster_flag
def endpoint_status(cluster: bool) -> None:
    """Status of every endpoint, in one table; the leader is marked."""
    sess = session()
    results = fetch_statuses(sess, target_endpoints(sess, cluster))
    sess.out.records(
        STATUS_COLUMNS,
        [status_row(ep, s) for ep, s in results],
        document=[status_json(ep, s) for ep, s in results],
    )
    fail_if_any(results, "status")


@endpoint_group.command("health")
@cluster_flag
def endpoint_health(cluster: bool) -> None:
    """Whether every endpoint can serve a linearizable read (a quorum read of "health")."""
    sess = session()

    async def check(endpoint: str) -> float:
        started = time.monotonic()
        async with one_endpoint_client(sess, endpoint) as c:
            await c.get(b"health")
        return time.monotonic() - started

    results = per_endpoint(sess, target_endpoints(sess, cluster), check)
    rows = []
    for ep, r in results:
        ok = not isinstance(r, ClientError)
        took = f"{r * 1000:.3f}ms" if not isinstance(r, ClientError) else ""
        error = "" if not isinstance(r, ClientError) else (r.message or str(r))
        rows.append({"endpoint": ep, "health": ok, "took": took, "error": error})
    out = sess.out
    if out.fmt == "simple":
        for row in rows:
            if row["health"]:
                out.line(
                    f"{row['endpoint']} is healthy: successfully committed proposal: "
                    f"took = {row['took']}"
                )
            else:
                out.line(
                    f"{row['endpoint']} is unhealthy: failed to commit proposal: {row['error']}"
                )
    else:
        out.records(["endpoint", "health", "took", "error"], rows)
    if any(not row["health"] for row in rows):
        raise CliError("unhealthy cluster")


@endpoint_group.command("hashkv")
@cluster_flag
@click.option("--rev", type=int, default=0, help="hash the keyspace up to this revision")
def endpoint_hashkv(cluster: bool, rev: int) -> None:
    """Hash of the MVCC keyspace on every endpoint (equal hashes: consistent members)."""
    sess = session()
    client = sess.client().client
    results = per_endpoint(
        sess, target_endpoints(sess, cluster), lambda ep: client.hash_kv(rev, endpoint=ep)
    )
    rows: list[dict[str, Any]] = []
    docs: list[dict[str, Any]] = []
    for ep, h in results:
        if isinstance(h, ClientError):
            rows.append({"endpoint": ep, "error": h.message})
            docs.append({"Endpoint": ep, "Error": h.message})
            continue
        rows.append({"endpoint": ep, "hash": h.hash, "compact revision": h.compact_revision})
        body: dict[str, Any] = {"header": header_json(h.header), "hash": h.hash}
        if h.compact_revision:
            body["compact_revision"] = h.compact_revision
        docs.append({"Endpoint": ep, "HashKV": body})
    sess.out.records(["endpoint", "hash", "compact revision"], rows, document=docs)
    fail_if_any(results, "hashkv")


# --- maintenance ----------------------------------------------------------------


@click.command("move-leader")
@click.argument("member_id")
def move_leader(member_id: str) -> None:
    """Transfer Raft leadership to MEMBER_ID (hexadecimal)."""
    target = parse_member_id(member_id)
    sess = session()
    client = sess.client()
    before = client.status().leader
    client.move_leader(target)
    out = sess.out
    if out.fmt == "simple":
        out.line(f"Leadership transferred from {member_hex(before)} to {member_hex(target)}")
    else:
        out.records(
            ["from", "to"],
            [{"from": member_hex(before), "to": member_hex(target)}],
            document={"from": before, "to": target},
        )


def defrag_data_dir(data_dir: Path) -> tuple[int, int]:
    """Defragment the store of a stopped member in ``data_dir`` (its LMDB file
    rewritten without free pages, as the Defragment call does online); the
    file's size before and after."""
    if not (data_dir / "member" / "lmdb" / "data.mdb").exists():
        raise CliError(f"no kvstore data in {data_dir} (no member/lmdb/data.mdb)")
    lock = DataDirLock(data_dir)
    try:
        lock.acquire()
    except DataDirInUse as exc:
        raise CliError(f"{exc}: stop it, or defragment it online (without --data-dir)") from None
    try:
        backend = Backend(StorageConfig(data_dir=data_dir))
        try:
            before = backend.file_size()
            backend.defragment()
            return before, backend.file_size()
        finally:
            backend.close()
    finally:
        lock.release()


@click.command("defrag")
@cluster_flag
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="defragment a stopped member's data dir directly (no endpoints)",
)
def defrag(cluster: bool, data_dir: Path | None) -> None:
    """Defragment the storage of every endpoint, or of a stopped member's data dir."""
    sess = session()
    if data_dir is not None:
        before, after = defrag_data_dir(data_dir)
        sess.out.line(
            f"Finished defragmenting etcd data[{data_dir}] "
            f"({human_bytes(before)} -> {human_bytes(after)})"
        )
        return
    client = sess.client().client

    async def one(endpoint: str) -> bool:
        await client.defragment(endpoint=endpoint)
        return True

    results = per_endpoint(sess, target_endpoints(sess, cluster), one)
    for ep, r in results:
        if isinstance(r, ClientError):
            click.echo(f"Failed to defragment etcd member[{ep}] ({r.message})", err=True)
        else:
            sess.out.line(f"Finished defragmenting etcd member[{ep}]")
    fail_if_any(results, "defrag")


@click.group("alarm")
def alarm_group() -> None:
    """Alarm commands."""


def _print_alarms(sess: Session, alarms: list[Alarm]) -> None:
    if sess.out.fmt == "simple":
        for a in alarms:
            sess.out.line(f"memberID:{a.member_id} alarm:{a.alarm.name}")
        return
    sess.out.records(
        ["member id", "alarm"],
        [{"member id": a.member_id, "alarm": a.alarm.name} for a in alarms],
        document={"alarms": [{"memberID": a.member_id, "alarm": a.alarm.name} for a in alarms]},
    )


@alarm_group.command("list")
def alarm_list() -> None:
    """List active alarms."""
    sess = session()
    _print_alarms(sess, sess.client().alarms())


@alarm_group.command("disarm")
def alarm_disarm() -> None:
    """Disarm every alarm."""
    sess = session()
    _print_alarms(sess, sess.client().alarm_disarm())


def register(group: click.Group) -> None:
    for command in (member_group, endpoint_group, move_leader, defrag, alarm_group):
        group.add_command(command)
