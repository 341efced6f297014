"""Output formats shared by every command: simple, json, table, fields.

They follow etcdctl v3 so an etcd user feels at home:

- ``simple``: the human form (``get`` prints key then value lines; ``put`` prints OK).
- ``json``: etcd's JSON: keys and values base64, 64-bit ints as numbers, zero fields
  omitted (``lease`` absent when 0, a missing key gives only the header).
- ``table``: an ASCII table like etcdctl's (centred headers, right-aligned cells).
- ``fields``: ``"Name" : value`` lines, strings Go-quoted.

Values in ``simple`` mode are written as raw bytes; when colour is on (a terminal,
or ``--color always``) a value that parses as a JSON object or array is
pretty-printed and highlighted instead.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import click

from kvstore.client import Header, KeyValue

Format = Literal["simple", "json", "table", "fields"]
FORMATS: tuple[Format, ...] = ("simple", "json", "table", "fields")

JsonObject = dict[str, Any]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def text(data: bytes) -> str:
    """Bytes for a human (undecodable bytes escaped, never an exception)."""
    return data.decode("utf-8", "backslashreplace")


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(value: str) -> str:
    """Go's %q: double quotes; C escapes, else \\xNN (ASCII) or \\uNNNN for the
    unprintable (so a range end of "\\0" shows as "\\x00", as etcdctl prints it)."""
    out: list[str] = []
    for ch in value:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (go_quote_bytes)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def go_quote_bytes(data: bytes) -> str:
    """Go's %q of a byte string: as ``go_quote``, bytes that are not UTF-8 as \\xNN."""
    return go_quote(data.decode("utf-8", "surrogateescape"))


def hex_escaped(data: bytes) -> str:
    r"""``b"foo"`` as ``\x66\x6f\x6f`` (etcdctl's --hex)."""
    return "".join(f"\\x{byte:02x}" for byte in data)


def human_bytes(size: int) -> str:
    """Sizes as etcdctl shows them (SI units: 6.3 MB, 512 B)."""
    if size < 10:
        return f"{size} B"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def member_hex(member_id: int) -> str:
    return f"{member_id:x}"


def lease_hex(lease_id: int) -> str:
    return f"{lease_id:016x}"


def _omit_zero(pairs: Iterable[tuple[str, Any]]) -> JsonObject:
    return {k: v for k, v in pairs if v not in (0, "", None, False, [])}


def header_json(header: Header) -> JsonObject:
    return _omit_zero(
        [
            ("cluster_id", header.cluster_id),
            ("member_id", header.member_id),
            ("revision", header.revision),
            ("raft_term", header.raft_term),
        ]
    )


def kv_json(kv: KeyValue) -> JsonObject:
    return _omit_zero(
        [
            ("key", b64(kv.key)),
            ("create_revision", kv.create_revision),
            ("mod_revision", kv.mod_revision),
            ("version", kv.version),
            ("value", b64(kv.value)),
            ("lease", kv.lease),
        ]
    )


def header_fields(header: Header) -> list[tuple[str, Any]]:
    return [
        ("ClusterID", header.cluster_id),
        ("MemberID", header.member_id),
        ("Revision", header.revision),
        ("RaftTerm", header.raft_term),
    ]


def kv_fields(kv: KeyValue, prefix: str = "") -> list[tuple[str, Any]]:
    return [
        (f"{prefix}Key", text(kv.key)),
        (f"{prefix}CreateRevision", kv.create_revision),
        (f"{prefix}ModRevision", kv.mod_revision),
        (f"{prefix}Version", kv.version),
        (f"{prefix}Value", text(kv.value)),
        (f"{prefix}Lease", kv.lease),
    ]


KV_COLUMNS = ["KEY", "VALUE", "CREATE REV", "MOD REV", "VERSION", "LEASE"]


def kv_row(kv: KeyValue) -> list[str]:
    lease = lease_hex(kv.lease) if kv.lease else ""
    return [
        text(kv.key),
        text(kv.value),
        str(kv.create_revision),
        str(kv.mod_revision),
        str(kv.version),
        lease,
    ]


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An etcdctl-style ASCII table."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    head = "|" + "|".join(f" {h.center(w)} " for h, w in zip(headers, widths, strict=True)) + "|"
    lines = [rule, head, rule]
    for row in rows:
        cells = zip(row, widths, strict=True)
        lines.append("|" + "|".join(f" {c.rjust(w)} " for c, w in cells) + "|")
    lines.append(rule)
    return "\n".join(lines)


def _fields_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True)
class Output:
    """Where and how a command writes; built once from the global flags."""

    fmt: Format
    color: bool
    #: ``--hex``: keys and values as ``\x66\x6f\x6f``, as etcdctl prints them
    hex: bool = False

    def line(self, message: str = "") -> None:
        click.echo(message)

    def raw(self, data: bytes) -> None:
        """Write ``data`` as-is (or hex-escaped), followed by a newline."""
        click.echo(hex_escaped(data) if self.hex else data)

    def value(self, data: bytes) -> None:
        """A stored value: pretty JSON when colour is on and it is a JSON document."""
        if self.color and not self.hex and data[:1] in (b"{", b"["):
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict | list):
                self.pretty_json(parsed)
                return
        self.raw(data)

    def pretty_json(self, document: object) -> None:
        from rich.console import Console
        from rich.json import JSON

        console = Console(
            file=sys.stdout,
            force_terminal=True,
            color_system="standard",
            soft_wrap=True,
        )
        console.print(JSON.from_data(document, indent=2))

    def json(self, document: object) -> None:
        click.echo(json.dumps(document, separators=(",", ":")))

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        for name, value in pairs:
            click.echo(f'"{name}" : {_fields_value(value)}')

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        click.echo(render_table(headers, rows))

    def records(
        self,
        columns: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
        *,
        document: object | None = None,
    ) -> None:
        """A list of flat records in any format (simple: comma-separated lines).

        ``columns`` are the keys of each row, in order; ``document`` replaces the
        rows in json when a richer shape is wanted.
        """
        if self.fmt == "json":
            self.json(document if document is not None else list(rows))
        elif self.fmt == "table":
            self.table(
                [c.upper() for c in columns], [[_cell(r.get(c)) for c in columns] for r in rows]
            )
        elif self.fmt == "fields":
            for row in rows:
                self.fields((_field_name(c), row.get(c)) for c in columns)
                click.echo()
        else:
            for row in rows:
                click.echo(", ".join(_cell(row.get(c)) for c in columns))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _field_name(column: str) -> str:
    return "".join(part.capitalize() for part in column.replace("-", " ").split())
