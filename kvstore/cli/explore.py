"""Beyond etcdctl: history, diff, tree and top.

``history KEY`` — every retained revision of one key. How: read the key once to
learn the head revision H, then watch the key from revision 1 (the server replays
its history as events, deletes included). If history was compacted, the watch is
canceled with the compact revision C: the key's state at C is read with a Range at
revision C (shown as the oldest entry when it was written before C) and the watch
restarts at C. Replay stops at the first event past H, or at a progress
notification at ≥ H (requested every ``--nudge`` seconds; a notification at R
guarantees no event ≤ R follows). One stream, no per-revision reads.

``diff`` reads the range at both revisions (paged, each pinned at its revision)
and compares by key: added, modified (mod revision differs), deleted.

``tree`` pages through a prefix and folds keys on "/" into a hierarchy with key
counts and value bytes per node. ``top`` polls every endpoint's Status once per
interval: revision rate, db size, leader, raft term/index (watcher counts are not
in the etcd API, so they are not shown).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from kvstore.cli.cluster import fetch_statuses, target_endpoints
from kvstore.cli.keys import key_range
from kvstore.cli.main import Session, session
from kvstore.cli.output import b64, human_bytes, kv_json, member_hex, text
from kvstore.client import Client, ClientError, CompactedError, EventType, KeyValue, Status

T = TypeVar("T")


async def _next(iterator: AsyncIterator[T]) -> T:
    return await anext(iterator)


# --- history --------------------------------------------------------------------


@dataclass(frozen=True)
class Revision:
    revision: int
    deleted: bool
    version: int
    value: bytes


async def key_history(client: Client, key: bytes, nudge: float) -> tuple[list[Revision], int]:
    """(the key's retained revisions, the compact revision or 0); see the module doc."""
    head = (await client.get(key)).header.revision
    start, compacted = 1, 0
    found: list[Revision] = []
    while True:
        try:
            async with client.watch(key, start_revision=start) as watch:
                await _replay(watch.responses(), watch.request_progress, head, nudge, found)
            return found, compacted
        except CompactedError as exc:
            if compacted or exc.compact_revision <= start:
                raise
            compacted = start = exc.compact_revision
            found.clear()
            base = (await client.get(key, revision=compacted)).kv
            if base is not None and base.mod_revision < compacted:
                found.append(Revision(base.mod_revision, False, base.version, base.value))


async def _replay(
    responses: AsyncIterator[Any],
    request_progress: Any,
    head: int,
    nudge: float,
    found: list[Revision],
) -> None:
    pending = asyncio.ensure_future(_next(responses))
    try:
        await request_progress()
        while True:
            done, _ = await asyncio.wait({pending}, timeout=nudge)
            if not done:
                await request_progress()
                continue
            try:
                response = pending.result()
            except StopAsyncIteration:
                return
            for event in response.events:
                if event.revision > head:
                    return
                deleted = event.type is EventType.DELETE
                found.append(Revision(event.revision, deleted, event.kv.version, event.kv.value))
            if any(e.revision == head for e in response.events):
                return
            if response.progress_notify and response.revision >= head:
                return
            pending = asyncio.ensure_future(_next(responses))
    finally:
        pending.cancel()


@click.command("history")
@click.argument("key")
@click.option("--sizes", is_flag=True, help="show value sizes instead of values")
@click.option("--nudge", type=float, default=0.2, hidden=True, help="progress request period")
def history(key: str, sizes: bool, nudge: float) -> None:
    """Every retained revision of KEY (puts with their values, and deletes)."""
    sess = session()
    client = sess.client()
    revisions, compacted = client.run(key_history(client.client, key.encode(), nudge))
    out = sess.out
    if out.fmt == "json":
        entries = []
        for r in revisions:
            doc: dict[str, Any] = {"revision": r.revision, "type": "DELETE" if r.deleted else "PUT"}
            if not r.deleted:
                doc["version"] = r.version
                doc["size" if sizes else "value"] = len(r.value) if sizes else b64(r.value)
            entries.append(doc)
        out.json({"key": b64(key.encode()), "compact_revision": compacted, "history": entries})
        return
    rows = [
        {
            "revision": r.revision,
            "type": "DELETE" if r.deleted else "PUT",
            "version": "" if r.deleted else r.version,
            "size" if sizes else "value": (
                "" if r.deleted else (human_bytes(len(r.value)) if sizes else text(r.value))
            ),
        }
        for r in revisions
    ]
    if out.fmt == "simple" and compacted:
        out.line(f"(history before revision {compacted} was compacted)")
    out.records(["revision", "type", "version", "size" if sizes else "value"], rows)


# --- diff -----------------------------------------------------------------------


async def _state_at(
    client: Client, start: bytes, end: bytes, revision: int
) -> dict[bytes, KeyValue]:
    state: dict[bytes, KeyValue] = {}
    async for page in client.pages(start, end or None, revision=revision):
        for kv in page.kvs:
            state[kv.key] = kv
    return state


@click.command("diff")
@click.option("--from-rev", type=int, required=True, help="the older revision")
@click.option("--to-rev", type=int, default=0, help="the newer revision (0: latest)")
@click.option("--prefix", "prefix", default="", help="only keys with this prefix (default: all)")
def diff(from_rev: int, to_rev: int, prefix: str) -> None:
    """What changed between two revisions: added, modified and deleted keys."""
    sess = session()
    client = sess.client()
    start, end = key_range(prefix, None, True, False)

    async def both() -> tuple[dict[bytes, KeyValue], dict[bytes, KeyValue], int]:
        to = to_rev if to_rev > 0 else (await client.client.get(b"\0")).header.revision
        before = await _state_at(client.client, start, end, from_rev)
        after = await _state_at(client.client, start, end, to)
        return before, after, to

    before, after, to = client.run(both())
    added = [after[k] for k in sorted(after.keys() - before.keys())]
    deleted = [before[k] for k in sorted(before.keys() - after.keys())]
    modified = [
        (before[k], after[k])
        for k in sorted(before.keys() & after.keys())
        if before[k].mod_revision != after[k].mod_revision
    ]
    out = sess.out
    if out.fmt == "json":
        out.json(
            {
                "from_revision": from_rev,
                "to_revision": to,
                "added": [kv_json(kv) for kv in added],
                "modified": [{"before": kv_json(a), "after": kv_json(b)} for a, b in modified],
                "deleted": [kv_json(kv) for kv in deleted],
            }
        )
        return
    rows = [{"change": "added", "key": text(kv.key), "after": text(kv.value)} for kv in added]
    rows += [
        {"change": "modified", "key": text(a.key), "before": text(a.value), "after": text(b.value)}
        for a, b in modified
    ]
    rows += [{"change": "deleted", "key": text(kv.key), "before": text(kv.value)} for kv in deleted]
    rows.sort(key=lambda r: r["key"])
    if out.fmt != "simple":
        out.records(["change", "key", "before", "after"], rows)
        return
    marks = {"added": "+", "modified": "~", "deleted": "-"}
    for row in rows:
        if row["change"] == "added":
            out.line(f"+ {row['key']} = {row['after']}")
        elif row["change"] == "deleted":
            out.line(f"- {row['key']} (was {row['before']})")
        else:
            out.line(f"{marks['modified']} {row['key']}: {row['before']} -> {row['after']}")


# --- tree -----------------------------------------------------------------------


@dataclass
class Node:
    name: str
    keys: int = 0
    size: int = 0
    is_key: bool = False
    children: dict[str, Node] = field(default_factory=dict)

    def add(self, parts: list[str], size: int) -> None:
        self.keys += 1
        self.size += size
        if not parts:
            self.is_key = True
            return
        child = self.children.setdefault(parts[0], Node(parts[0]))
        child.add(parts[1:], size)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "keys": self.keys, "bytes": self.size}
        if self.is_key:
            doc["is_key"] = True
        if self.children:
            doc["children"] = [c.to_json() for c in self.children.values()]
        return doc


def build_tree(prefix: str, kvs: list[KeyValue]) -> Node:
    root = Node(prefix or "/")
    for kv in kvs:
        rest = text(kv.key)[len(prefix) :]
        parts = [p for p in rest.split("/") if p]
        root.add(parts, len(kv.value))
    return root


def _label(node: Node) -> str:
    kind = "/" if node.children else ""
    suffix = " (key)" if node.is_key and node.children else ""
    return f"{node.name}{kind}{suffix}  [{_count(node.keys)}, {human_bytes(node.size)}]"


def _count(keys: int) -> str:
    return f"{keys} key" if keys == 1 else f"{keys} keys"


def tree_lines(node: Node, depth: int | None, indent: str = "") -> list[str]:
    lines: list[str] = []
    children = list(node.children.values())
    if depth is not None and depth <= 0:
        return lines
    for i, child in enumerate(children):
        last = i == len(children) - 1
        lines.append(f"{indent}{'└── ' if last else '├── '}{_label(child)}")
        deeper = None if depth is None else depth - 1
        lines += tree_lines(child, deeper, indent + ("    " if last else "│   "))
    return lines


def tree_rows(node: Node, path: str, depth: int | None) -> list[dict[str, Any]]:
    rows = [{"path": path, "keys": node.keys, "size": human_bytes(node.size)}]
    if depth is not None and depth <= 0:
        return rows
    for child in node.children.values():
        sub = path.rstrip("/") + "/" + child.name
        rows += tree_rows(child, sub, None if depth is None else depth - 1)
    return rows


@click.command("tree")
@click.argument("prefix", default="")
@click.option("--depth", type=int, default=None, help="levels to show (default: all)")
def tree(prefix: str, depth: int | None) -> None:
    """Keys under PREFIX as a hierarchy split on "/", with counts and value sizes."""
    sess = session()
    start, end = key_range(prefix, None, True, False)
    kvs = [kv for page in sess.client().pages(start, end or None) for kv in page.kvs]
    root = build_tree(prefix, kvs)
    out = sess.out
    if out.fmt == "json":
        out.json(root.to_json())
    elif out.fmt == "simple":
        out.line(f"{root.name}  [{_count(root.keys)}, {human_bytes(root.size)}]")
        for line in tree_lines(root, depth):
            out.line(line)
    else:
        out.records(["path", "keys", "size"], tree_rows(root, root.name, depth))


# --- top ------------------------------------------------------------------------


def _frame(
    first: list[tuple[str, Status | ClientError]],
    second: list[tuple[str, Status | ClientError]],
    elapsed: float,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for (ep, a), (_, b) in zip(first, second, strict=True):
        if isinstance(b, ClientError):
            rows.append({"endpoint": ep, "error": b.message or str(b)})
            continue
        rate = ""
        if not isinstance(a, ClientError) and elapsed > 0:
            rate = f"{(b.header.revision - a.header.revision) / elapsed:.1f}"
        rows.append(
            {
                "endpoint": ep,
                "id": member_hex(b.header.member_id),
                "leader": "*" if b.leader and b.leader == b.header.member_id else "",
                "revision": b.header.revision,
                "rev/s": rate,
                "db size": human_bytes(b.db_size),
                "db in use": human_bytes(b.db_size_in_use),
                "raft term": b.raft_term,
                "raft index": b.raft_index,
                "error": "",
            }
        )
    return rows


TOP_COLUMNS = [
    "endpoint", "id", "leader", "revision", "rev/s", "db size", "db in use",
    "raft term", "raft index", "error",
]  # fmt: skip


def _sample(sess: Session, endpoints: list[str]) -> tuple[float, list[Any]]:
    return time.monotonic(), fetch_statuses(sess, endpoints)


@click.command("top")
@click.option("--cluster", is_flag=True, help="every member from the member list")
@click.option("--interval", type=float, default=1.0, show_default=True, help="seconds")
@click.option("--once", is_flag=True, help="print one frame and exit")
def top(cluster: bool, interval: float, once: bool) -> None:
    """A live view per member: revision rate, db size, leader (Ctrl-C to stop)."""
    sess = session()
    endpoints = target_endpoints(sess, cluster)
    out = sess.out
    live = not once and sys.stdout.isatty() and out.fmt in ("simple", "table")
    then, previous = _sample(sess, endpoints)
    try:
        if live:
            _run_live(sess, endpoints, interval, then, previous)
            return
        while True:
            time.sleep(interval)
            now, current = _sample(sess, endpoints)
            rows = _frame(previous, current, now - then)
            out.records(TOP_COLUMNS, rows)
            then, previous = now, current
            if once:
                return
    except KeyboardInterrupt:
        return


def _run_live(
    sess: Session, endpoints: list[str], interval: float, then: float, previous: list[Any]
) -> None:
    from rich.live import Live
    from rich.table import Table

    def render(rows: list[dict[str, Any]]) -> Table:
        table = Table(title=f"kvctl top — every {interval:g}s (Ctrl-C to stop)")
        for column in TOP_COLUMNS:
            table.add_column(column.upper(), justify="right")
        for row in rows:
            table.add_row(*(str(row.get(c, "")) for c in TOP_COLUMNS))
        return table

    with Live(render([]), auto_refresh=False) as screen:
        while True:
            time.sleep(interval)
            now, current = _sample(sess, endpoints)
            screen.update(render(_frame(previous, current, now - then)), refresh=True)
            then, previous = now, current


def register(group: click.Group) -> None:
    for command in (history, diff, tree, top):
        group.add_command(command)
