"""Key ranges and revision encoding.

A range is half-open, ``[key, range_end)``, with etcd's conventions:

- empty ``range_end``: the single key ``key``;
- ``range_end == b"\\0"``: every key >= ``key`` (``key == b"\\0"`` too: all keys);
- otherwise every key with ``key <= k < range_end`` (``prefix_end(p)`` gives a prefix).

A revision is (main, sub): main is the store revision, sub numbers the writes
inside one revision (a txn). On disk it is 16 bytes, big-endian, so that byte
order equals revision order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_REV = struct.Struct(">QQ")
REVISION_BYTES = _REV.size


def encode_revision(main: int, sub: int = 0) -> bytes:
    return _REV.pack(main, sub)


def decode_revision(raw: bytes) -> tuple[int, int]:
    main, sub = _REV.unpack(raw)
    return int(main), int(sub)


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that selects every key starting with ``prefix``.

    ``b"a"`` -> ``b"b"``; ``b"a\\xff"`` -> ``b"b"``; all-0xff -> ``b"\\0"`` (no end).
    """
    raw = bytearray(prefix)
    while raw:
        if raw[-1] < 0xFF:
            raw[-1] += 1
            return bytes(raw)
        raw.pop()
    return b"\0"


@dataclass(frozen=True, slots=True)
class KeyRange:
    """A normalised range: ``end is None`` means a single key, ``b""`` means no end."""

    start: bytes
    end: bytes | None

    @classmethod
    def of(cls, key: bytes, range_end: bytes = b"") -> KeyRange:
        if not range_end:
            return cls(key, None)
        if range_end == b"\0":
            return cls(key, b"")
        return cls(key, range_end)

    @property
    def single(self) -> bool:
        return self.end is None

    def contains(self, key: bytes) -> bool:
        if self.end is None:
            return key == self.start
        return key >= self.start and (self.end == b"" or key < self.end)

    def overlaps(self, low: bytes, high: bytes) -> bool:
        """Whether a key from ``low`` to ``high`` (both included) may be in the range."""
        if self.end is None:
            return low <= self.start <= high
        if self.end == b"":
            return self.start <= high
        return self.start <= high and low < self.end and self.start < self.end

    def is_empty(self) -> bool:
        return self.end is not None and self.end != b"" and self.end <= self.start
