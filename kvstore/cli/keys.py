"""Key commands: get, put, del, compaction (flags and output as etcdctl's; watch is
``watching``)."""

from __future__ import annotations

import sys
from typing import Any

import click

from kvstore.cli.main import CliError, session
from kvstore.cli.output import (
    KV_COLUMNS,
    Output,
    header_fields,
    header_json,
    kv_fields,
    kv_json,
    kv_row,
    text,
)
from kvstore.client import (
    DeleteResult,
    PutResult,
    RangeOptions,
    RangeResult,
    SortOrder,
    SortTarget,
    prefix_end,
)

SORT_TARGETS = {
    "KEY": SortTarget.KEY,
    "CREATE": SortTarget.CREATE,
    "MODIFY": SortTarget.MOD,
    "VALUE": SortTarget.VALUE,
    "VERSION": SortTarget.VERSION,
}
SORT_ORDERS = {"ASCEND": SortOrder.ASCEND, "DESCEND": SortOrder.DESCEND}


def key_range(key: str, range_end: str | None, prefix: bool, from_key: bool) -> tuple[bytes, bytes]:
    """etcdctl's rules: ``--prefix`` (empty key: all keys), ``--from-key``, or ``[key, end)``."""
    if sum((prefix, from_key, range_end is not None)) > 1:
        raise click.UsageError("use only one of RANGE_END, --prefix and --from-key")
    k = key.encode()
    if prefix:
        return (b"\0", b"\0") if k in (b"", b"\0") else (k, prefix_end(k))
    if from_key:
        return (k or b"\0"), b"\0"
    if not k:
        raise click.UsageError("a key is required")
    return k, (range_end or "").encode()


def parse_lease(text_id: str) -> int:
    """Lease IDs are hexadecimal, as etcdctl prints and takes them."""
    try:
        return int(text_id, 16)
    except ValueError:
        raise click.BadParameter(f"bad lease ID {text_id!r} (hexadecimal)") from None


# --- get ------------------------------------------------------------------------


def print_range(out: Output, result: RangeResult, *, value_only: bool, count_only: bool) -> None:
    if out.fmt == "json":
        doc: dict[str, Any] = {"header": header_json(result.header)}
        if result.kvs:
            doc["kvs"] = [kv_json(kv) for kv in result.kvs]
        if result.more:
            doc["more"] = True
        if result.count:
            doc["count"] = result.count
        out.json(doc)
    elif out.fmt == "fields":
        pairs = header_fields(result.header)
        for kv in result.kvs:
            pairs += kv_fields(kv)
        out.fields([*pairs, ("More", result.more), ("Count", result.count)])
    elif out.fmt == "table":
        if count_only:
            out.table(["COUNT"], [[str(result.count)]])
        else:
            out.table(KV_COLUMNS, [kv_row(kv) for kv in result.kvs])
    elif count_only:
        out.line(str(result.count))
    else:
        for kv in result.kvs:
            if not value_only:
                out.raw(kv.key)
            out.value(kv.value)


@click.command("get")
@click.argument("key")
@click.argument("range_end", required=False)
@click.option("--prefix", is_flag=True, help="get keys with matching prefix")
@click.option("--from-key", is_flag=True, help="get keys >= KEY (byte order)")
@click.option("--rev", type=int, default=0, help="read at this revision (0: latest)")
@click.option("--limit", type=int, default=0, help="maximum number of results")
@click.option("--sort-by", type=click.Choice(list(SORT_TARGETS), case_sensitive=False))
@click.option("--order", type=click.Choice(list(SORT_ORDERS), case_sensitive=False))
@click.option("--keys-only", is_flag=True, help="get only the keys")
@click.option("--print-value-only", is_flag=True, help="only values (simple format)")
@click.option("--count-only", is_flag=True, help="only the number of keys")
@click.option(
    "--consistency",
    type=click.Choice(["l", "s"]),
    default="l",
    help="linearizable (l) or serializable (s)",
)
def get_command(
    key: str,
    range_end: str | None,
    prefix: bool,
    from_key: bool,
    rev: int,
    limit: int,
    sort_by: str | None,
    order: str | None,
    keys_only: bool,
    print_value_only: bool,
    count_only: bool,
    consistency: str,
) -> None:
    """Get a key or a range of keys."""
    start, end = key_range(key, range_end, prefix, from_key)
    opts: RangeOptions = {
        "revision": rev,
        "limit": limit,
        "keys_only": keys_only,
        "count_only": count_only,
        "serializable": consistency == "s",
    }
    if sort_by or order:
        opts["sort_target"] = SORT_TARGETS[(sort_by or "KEY").upper()]
        opts["sort_order"] = SORT_ORDERS[(order or "ASCEND").upper()]
    sess = session()
    result = sess.client().range(start, end, **opts)
    print_range(sess.out, result, value_only=print_value_only, count_only=count_only)


# --- put ------------------------------------------------------------------------


def print_put(out: Output, result: PutResult) -> None:
    prev = result.prev_kv
    if out.fmt == "json":
        doc: dict[str, Any] = {"header": header_json(result.header)}
        if prev is not None:
            doc["prev_kv"] = kv_json(prev)
        out.json(doc)
    elif out.fmt == "fields":
        out.fields(header_fields(result.header) + (kv_fields(prev, "Prev") if prev else []))
    elif out.fmt == "table":
        out.table(
            ["REVISION", "PREV VALUE"], [[str(result.revision), text(prev.value) if prev else ""]]
        )
    else:
        out.line("OK")
        if prev is not None:
            out.raw(prev.key)
            out.value(prev.value)


# etcdctl's words for a put without a value (no second argument, empty stdin)
_PUT_USAGE = "put command needs 1 argument and input from stdin or 2 arguments"


@click.command("put")
@click.argument("key")
@click.argument("value", required=False)
@click.option("--lease", default="0", help="lease ID (hexadecimal) to attach the key to")
@click.option("--prev-kv", is_flag=True, help="return the previous key-value pair")
@click.option("--ignore-value", is_flag=True, help="keep the current value")
@click.option("--ignore-lease", is_flag=True, help="keep the current lease")
def put_command(
    key: str,
    value: str | None,
    lease: str,
    prev_kv: bool,
    ignore_value: bool,
    ignore_lease: bool,
) -> None:
    """Put KEY=VALUE (VALUE read from stdin when omitted)."""
    if not key:
        raise click.UsageError(_PUT_USAGE)
    if value is not None:
        data = value.encode()
    elif ignore_value:
        data = b""
    else:
        data = sys.stdin.buffer.read()
        if not data:  # etcdctl takes no value from an empty stdin either
            raise click.UsageError(_PUT_USAGE)
    sess = session()
    result = sess.client().put(
        key,
        data,
        lease=parse_lease(lease),
        prev_kv=prev_kv,
        ignore_value=ignore_value,
        ignore_lease=ignore_lease,
    )
    print_put(sess.out, result)


# --- del ------------------------------------------------------------------------


def print_delete(out: Output, result: DeleteResult) -> None:
    if out.fmt == "json":
        doc: dict[str, Any] = {"header": header_json(result.header)}
        if result.deleted:
            doc["deleted"] = result.deleted
        if result.prev_kvs:
            doc["prev_kvs"] = [kv_json(kv) for kv in result.prev_kvs]
        out.json(doc)
    elif out.fmt == "fields":
        pairs = [*header_fields(result.header), ("Deleted", result.deleted)]
        for kv in result.prev_kvs:
            pairs += kv_fields(kv, "Prev")
        out.fields(pairs)
    elif out.fmt == "table":
        out.table(["DELETED", "REVISION"], [[str(result.deleted), str(result.revision)]])
        if result.prev_kvs:
            out.table(KV_COLUMNS, [kv_row(kv) for kv in result.prev_kvs])
    else:
        out.line(str(result.deleted))
        for kv in result.prev_kvs:
            out.raw(kv.key)
            out.value(kv.value)


@click.command("del")
@click.argument("key")
@click.argument("range_end", required=False)
@click.option("--prefix", is_flag=True, help="delete keys with matching prefix")
@click.option("--from-key", is_flag=True, help="delete keys >= KEY (byte order)")
@click.option("--prev-kv", is_flag=True, help="return the deleted key-value pairs")
def del_command(
    key: str, range_end: str | None, prefix: bool, from_key: bool, prev_kv: bool
) -> None:
    """Delete a key or a range of keys."""
    start, end = key_range(key, range_end, prefix, from_key)
    sess = session()
    print_delete(sess.out, sess.client().delete(start, end, prev_kv=prev_kv))


# --- compaction -----------------------------------------------------------------


def _revision_argument(text: str) -> int:
    """A revision given as an argument. etcdctl parses it inside the command,
    so a malformed one is a plain error (exit 1), not a usage error (128)."""
    try:
        return int(text)
    except ValueError:
        raise CliError(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None


@click.command("compaction")
@click.argument("revision")
@click.option("--physical", is_flag=True, help="wait until the compacted data is removed")
def compaction_command(revision: str, physical: bool) -> None:
    """Discard all history before REVISION."""
    rev = _revision_argument(revision)
    sess = session()
    header_revision = sess.client().compact(rev, physical=physical)
    out = sess.out
    if out.fmt == "json":
        out.json({"header": {"revision": header_revision}, "compact_revision": rev})
    elif out.fmt == "fields":
        out.fields([("Revision", header_revision), ("CompactRevision", rev)])
    elif out.fmt == "table":
        out.table(["COMPACT REVISION", "REVISION"], [[str(rev), str(header_revision)]])
    else:
        out.line(f"compacted revision {rev}")


def register(group: click.Group) -> None:
    for command in (get_command, put_command, del_command, compaction_command):
        group.add_command(command)
