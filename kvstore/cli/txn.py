"""``txn``: a transaction read from stdin (or ``--file``) in etcdctl's format.

Three sections, each ended by an empty line::

    mod("key1") > "0"              compares: TARGET("KEY") OP "VALUE"
    value("key2") = "x"            TARGET: value|val, version|ver, create|c, mod|m, lease

    put key1 "new value"           success requests: put/get/del, etcdctl flags
    get key2 --prefix

    put key1 "created"             failure requests

``-i`` prints etcdctl's prompts (``compares:`` ...) before each section.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterator
from typing import IO, Any

import click

from kvstore.cli.keys import key_range, parse_lease, print_delete, print_range
from kvstore.cli.main import InvalidInput, session
from kvstore.cli.output import Output, header_fields, header_json, kv_fields, kv_json
from kvstore.client import (
    Compare,
    Comparison,
    DeleteResult,
    PutResult,
    RangeResult,
    TxnResult,
    delete,
    get,
    put,
)

_COMPARE = re.compile(
    r"""^\s*(?P<target>\w+)\(\s*"(?P<key>(?:[^"\\]|\\.)*)"\s*
        (?:,\s*"(?P<end>(?:[^"\\]|\\.)*)"\s*)?\)\s*
        (?P<op>!=|=|<|>)\s*(?P<value>.+?)\s*$""",
    re.VERBOSE,
)
_TARGETS = {
    "value": "value",
    "val": "value",
    "version": "version",
    "ver": "version",
    "create": "create",
    "c": "create",
    "mod": "mod",
    "m": "mod",
    "lease": "lease",
}

Op = Any  # RangeOp | PutOp | DeleteOp from kvstore.client


def _unquote(text: str) -> str:
    parts = shlex.split(text)
    if len(parts) != 1:
        raise InvalidInput(f"txn: expected one quoted value, got {text!r}")
    return parts[0]


def parse_compare(line: str) -> Comparison:
    match = _COMPARE.match(line)
    if match is None or match["target"].lower() not in _TARGETS:
        raise InvalidInput(f'txn: bad compare {line!r} (e.g. mod("k") > "0")')
    target = _TARGETS[match["target"].lower()]
    key = _unquote(f'"{match["key"]}"')
    end = _unquote(f'"{match["end"]}"') if match["end"] is not None else None
    raw = _unquote(match["value"])
    lhs = getattr(Compare, target)(key, end)
    operand: str | int
    if target == "value":
        operand = raw
    elif target == "lease":
        operand = parse_lease(raw)
    else:
        try:
            operand = int(raw)
        except ValueError:
            raise InvalidInput(f"txn: {target} compares need a number, got {raw!r}") from None
    op = match["op"]
    comparison: Comparison
    if op == "=":
        comparison = lhs == operand
    elif op == "!=":
        comparison = lhs != operand
    elif op == "<":
        comparison = lhs < operand
    else:
        comparison = lhs > operand
    return comparison


def parse_request(line: str) -> Op:
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise InvalidInput(f"txn: {exc} in {line!r}") from None
    verb, args = words[0].lower(), words[1:]
    flags = {a.split("=", 1)[0] for a in args if a.startswith("--")}
    values = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args if "=" in a and a[:2] == "--"}
    plain = [a for a in args if not a.startswith("--")]
    if verb == "put":
        if len(plain) != 2:
            raise InvalidInput(f"txn: put needs KEY VALUE: {line!r}")
        lease = parse_lease(values.get("--lease", "0"))
        return put(plain[0], plain[1], lease=lease, prev_kv="--prev-kv" in flags)
    if verb in ("get", "del", "delete"):
        if not 1 <= len(plain) <= 2:
            raise InvalidInput(f"txn: {verb} needs KEY [RANGE_END]: {line!r}")
        start, end = key_range(
            plain[0],
            plain[1] if len(plain) == 2 else None,
            "--prefix" in flags,
            "--from-key" in flags,
        )
        if verb == "get":
            return get(start, end or None, keys_only="--keys-only" in flags)
        return delete(start, end or None, prev_kv="--prev-kv" in flags)
    raise InvalidInput(f"txn: unknown request {verb!r} (put, get, del)")


def _section(lines: Iterator[str], prompt: str | None) -> list[str]:
    if prompt is not None:
        click.echo(prompt)
    out: list[str] = []
    for line in lines:
        if not line.strip():
            break
        out.append(line.strip())
    return out


def read_txn(stream: IO[str], interactive: bool) -> tuple[list[Comparison], list[Op], list[Op]]:
    lines = iter(stream.readline, "")
    compares = _section(lines, "compares:" if interactive else None)
    success = _section(lines, "success requests (get, put, del):" if interactive else None)
    failure = _section(lines, "failure requests (get, put, del):" if interactive else None)
    return (
        [parse_compare(c) for c in compares],
        [parse_request(r) for r in success],
        [parse_request(r) for r in failure],
    )


def _response_json(r: RangeResult | PutResult | DeleteResult | TxnResult) -> dict[str, Any]:
    head: dict[str, Any] = {"header": header_json(r.header)}
    if isinstance(r, RangeResult):
        body: dict[str, Any] = {**head, "kvs": [kv_json(kv) for kv in r.kvs]}
        if r.count:
            body["count"] = r.count
        return {"Response": {"ResponseRange": body}}
    if isinstance(r, PutResult):
        if r.prev_kv is not None:
            head["prev_kv"] = kv_json(r.prev_kv)
        return {"Response": {"ResponsePut": head}}
    if isinstance(r, DeleteResult):
        body = {**head, "deleted": r.deleted} if r.deleted else dict(head)
        if r.prev_kvs:
            body["prev_kvs"] = [kv_json(kv) for kv in r.prev_kvs]
        return {"Response": {"ResponseDeleteRange": body}}
    return {"Response": {"ResponseTxn": {**head, "succeeded": r.succeeded}}}


def print_txn(out: Output, result: TxnResult) -> None:
    verdict = "SUCCESS" if result.succeeded else "FAILURE"
    if out.fmt == "json":
        doc: dict[str, Any] = {"header": header_json(result.header)}
        if result.succeeded:
            doc["succeeded"] = True
        doc["responses"] = [_response_json(r) for r in result.responses]
        out.json(doc)
        return
    if out.fmt == "fields":
        pairs = [*header_fields(result.header), ("Succeeded", result.succeeded)]
        for r in result.responses:
            if isinstance(r, RangeResult):
                for kv in r.kvs:
                    pairs += kv_fields(kv)
                pairs += [("Count", r.count)]
            elif isinstance(r, DeleteResult):
                pairs += [("Deleted", r.deleted)]
            elif isinstance(r, PutResult):
                pairs += [("Put", "OK")]
        out.fields(pairs)
        return
    if out.fmt == "table":
        rows = [[verdict, str(result.revision), str(len(result.responses))]]
        out.table(["RESULT", "REVISION", "RESPONSES"], rows)
        return
    out.line(verdict)
    for r in result.responses:
        out.line()
        if isinstance(r, RangeResult):
            print_range(out, r, value_only=False, count_only=False)
        elif isinstance(r, PutResult):
            out.line("OK")
        elif isinstance(r, DeleteResult):
            print_delete(out, r)
        else:
            print_txn(out, r)


@click.command("txn")
@click.option("-i", "--interactive", is_flag=True, help="prompt for each section")
@click.option(
    "--file",
    "path",
    type=click.File("r"),
    default=None,
    help="read the transaction from FILE instead of stdin",
)
def txn_command(interactive: bool, path: IO[str] | None) -> None:
    """Run a transaction: compares, then success and failure requests (see kvctl docs)."""
    stream = path or sys.stdin
    compares, success, failure = read_txn(stream, interactive and path is None)
    sess = session()
    result = sess.client().txn().if_(*compares).then(*success).else_(*failure).commit()
    print_txn(sess.out, result)


def register(group: click.Group) -> None:
    group.add_command(txn_command)
