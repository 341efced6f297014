"""Raft snapshots as LMDB copies (pysyncobj's serializer/deserializer hooks).

File layout: the magic ``KVSNAP2\0``; 8 bytes, big-endian: an applied index
that the copy's is at most (read after copying); 8-byte big-endian length N,
N bytes of pickled Raft metadata (pysyncobj's last applied entries and
cluster, which it pickles itself); a compact LMDB copy; then a trailer: the
copy's length (8 bytes) and its CRC-32 (4 bytes). ``KVSNAP1\0`` files are the
same without the applied index.

A snapshot is installed only if its applied index is newer than the local
one: pysyncobj calls the deserializer both at start-up (for the local dump)
and when the leader sends one, and cannot tell us which. Where the header
already says that the copy is not newer (a member's own dump, at every
restart), the file is only checked, not copied out.

A received file is checked (length, CRC, and LMDB's own idea of its size)
before LMDB opens it: LMDB maps the file, and a short or damaged one would
crash the process (SIGBUS) instead of failing. pysyncobj transfers a dump in
pieces with no checksum of its own; a damaged one raises ``SnapshotCorrupt``,
is not installed, and the leader sends it again. Files written before the
magic existed (no trailer) are still read, unchecked.

A member's own dump is a *marker* (``KVSNAP3\0``, ``write_marker``): the
magic, the applied index its store durably held when it was written (8 bytes,
big-endian), then the metadata as above, and no copy. The store, synced
before the marker is written, already holds everything the dump stands for,
so there is nothing to copy at each compaction; a copy is made only when a
member must be sent one (``snapshotsend``). At start-up a marker is only
checked against the store.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import lmdb

from kvstore.fsync import fsync_path
from kvstore.storage import records
from kvstore.storage.store import MvccStore

logger = logging.getLogger(__name__)


MAGIC = b"KVSNAP2\0"
MARKER = b"KVSNAP3\0"
_MAGIC_NO_INDEX = b"KVSNAP1\0"
_U64 = struct.Struct(">Q")
_TRAILER = struct.Struct(">QI")  # LMDB copy length, CRC-32
_CHUNK = 1 << 20


class SnapshotCorrupt(Exception):
    """A snapshot file that is short or damaged; nothing was installed."""


def write_snapshot(store: MvccStore, path: str, raft_data: Any, sync: bool = True) -> None:
    """A whole snapshot: metadata, a compact LMDB copy and its trailer; synced
    unless ``sync`` is false (a copy made only to be sent)."""
    meta = pickle.dumps(raft_data)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, MAGIC + _U64.pack(0) + _U64.pack(len(meta)) + meta)
        start = os.lseek(fd, 0, os.SEEK_CUR)
        store.backend.copy_to_fd(fd, compact=True)
        if not lmdb_size_ok(Path(path), start):
            # never send a copy that would be refused: copy every page instead
            logger.warning("compact LMDB copy short of its meta page; copying whole")
            os.ftruncate(fd, start)
            os.lseek(fd, start, os.SEEK_SET)
            store.backend.copy_to_fd(fd, compact=False)
        end = os.lseek(fd, 0, os.SEEK_END)
        crc = 0
        with os.fdopen(os.dup(fd), "rb") as copy:
            copy.seek(start)
            while chunk := copy.read(_CHUNK):
                crc = zlib.crc32(chunk, crc)
        os.lseek(fd, end, os.SEEK_SET)
        os.write(fd, _TRAILER.pack(end - start, crc))
        # applying goes on while the copy is made: read after it, this bounds it
        with store.read() as view:
            os.pwrite(fd, _U64.pack(view.applied[0]), len(MAGIC))
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def write_marker(store: MvccStore, path: str, raft_data: Any) -> None:
    """A dump without a copy: syncs the store, then writes only the metadata.

    The caller has committed every entry ``raft_data`` covers; once this
    returns, the store holds them across a crash, and the log before them
    may go."""
    with store.read() as view:
        held = view.applied[0]
    store.backend.sync()
    meta = pickle.dumps(raft_data)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, MARKER + _U64.pack(held) + _U64.pack(len(meta)) + meta)
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_with_marker(store: MvccStore, path: str, raft_data: Any) -> None:
    """Replace the whole snapshot at ``path``, loaded into ``store``, with a
    marker: the copy is not needed any more (the store holds it), and the
    file pysyncobj received was never synced."""
    marker = path + ".marker"
    write_marker(store, marker, raft_data)
    os.replace(marker, path)
    fsync_path(os.path.dirname(path) or ".")


def is_marker(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(len(MARKER)) == MARKER


def read_metadata(path: str) -> tuple[Any, bool]:
    """(pysyncobj's metadata, whether the dump is a marker) of a dump file."""
    with open(path, "rb") as f:
        header = _header(f, os.fstat(f.fileno()).st_size)
    return header.raft_data, header.held is not None


@dataclass
class _Header:
    raft_data: Any
    #: the copy's applied index is at most this (None: not recorded)
    applied_at_most: int | None
    #: whether a trailer (length, CRC) follows the copy
    checked: bool
    #: where the LMDB copy starts
    start: int
    #: a marker (no copy): the applied index the store held when it was written
    held: int | None = None


def _header(f: BinaryIO, file_size: int) -> _Header:
    head = f.read(8)
    applied_at_most = held = None
    checked = head in (MAGIC, _MAGIC_NO_INDEX)
    if head == MAGIC:
        applied_at_most = _U64.unpack(f.read(8).rjust(8, b"\0"))[0]
    elif head == MARKER:
        held = _U64.unpack(f.read(8).rjust(8, b"\0"))[0]
    if checked or held is not None:
        head = f.read(8)
    size = int.from_bytes(head, "big")
    start = f.tell() + size
    if len(head) < 8 or start > file_size:
        raise SnapshotCorrupt(f"snapshot header says {size} bytes of metadata in {file_size}")
    # The dump is our own (written by write_snapshot, or received over the
    # authenticated, encrypted peer link), like pysyncobj's dumps.
    return _Header(pickle.loads(f.read(size)), applied_at_most, checked, start, held)


def _extract(f: BinaryIO, out: BinaryIO | None, file_size: int, header: _Header) -> None:
    """Copy the LMDB part of the snapshot ``f`` (read past its header) to
    ``out``, or only check it when ``out`` is None."""
    checked = header.checked
    remaining = file_size - header.start - (_TRAILER.size if checked else 0)
    crc = 0
    while remaining > 0 and (chunk := f.read(min(_CHUNK, remaining))):
        crc = zlib.crc32(chunk, crc)
        if out is not None:
            out.write(chunk)
        remaining -= len(chunk)
    if checked:
        length, expected = _TRAILER.unpack(f.read(_TRAILER.size).rjust(_TRAILER.size, b"\0"))
        if remaining or length != file_size - header.start - _TRAILER.size or crc != expected:
            raise SnapshotCorrupt("snapshot LMDB copy is short or damaged (length or CRC)")


def lmdb_size_ok(data_file: Path, offset: int = 0) -> bool:
    """Whether the LMDB file at ``offset`` of ``data_file`` holds every page its
    newest meta page claims.

    LMDB's meta pages (page 0 and 1) hold, after the 16-byte page header:
    magic, version, map address, map size, two 48-byte db records (the first's
    4-byte pad is the page size), the last page number and the txn id.
    """
    meta = struct.Struct("<IIQQ48s48sQQ")
    with open(data_file, "rb") as f:
        f.seek(offset)
        first = f.read(16 + meta.size)
        if len(first) < 16 + meta.size:
            return False
        psize = struct.unpack_from("<I", first, 16 + 24)[0]
        if psize < 512 or psize & (psize - 1):
            return False
        f.seek(offset + psize)
        second = f.read(16 + meta.size)
        end = f.seek(0, os.SEEK_END)
    best = None
    for page in (first, second):
        if len(page) < 16 + meta.size:
            continue
        magic, _v, _a, _m, _d0, _d1, last_pg, txnid = meta.unpack_from(page, 16)
        if magic == 0xBEEFC0DE and (best is None or txnid > best[1]):
            best = (last_pg, txnid)
    return best is not None and end - offset >= (best[0] + 1) * psize


def read_snapshot(store: MvccStore, path: str) -> tuple[Any, bool]:
    """(raft metadata, whether the LMDB copy was installed)."""
    with store.read() as view:
        local = view.applied[0]
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header = _header(f, size)
        if header.held is not None:
            if local < header.held:
                # the store lost entries it had synced: nothing here can restore them
                raise SnapshotCorrupt(
                    f"the store's applied index {local} is behind its snapshot marker's"
                    f" {header.held}"
                )
            return header.raft_data, False
        if header.applied_at_most is not None and header.applied_at_most <= local:
            _extract(f, None, size, header)
            return header.raft_data, False
        parent = Path(store.backend.path).parent
        with tempfile.TemporaryDirectory(dir=parent, prefix="snapshot-") as tmp:
            copy = Path(tmp) / "data.mdb"
            with open(copy, "wb") as out:
                _extract(f, out, size, header)
                out.flush()
                os.fsync(out.fileno())
            if not lmdb_size_ok(copy):
                raise SnapshotCorrupt("snapshot LMDB copy is shorter than its meta page says")
            incoming = _applied_index(tmp)
            if incoming <= local:
                return header.raft_data, False
            store.install_snapshot(copy)
    logger.info("installed snapshot applied_index=%d previous=%d", incoming, local)
    return header.raft_data, True


def _applied_index(env_dir: str) -> int:
    env = lmdb.open(env_dir, readonly=True, lock=False, max_dbs=16)
    try:
        meta = env.open_db(b"meta", create=False)
        with env.begin() as txn:
            return records.decode_int(txn.get(records.META_APPLIED_INDEX, db=meta))
    finally:
        env.close()
