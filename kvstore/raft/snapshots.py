"""Raft snapshots as LMDB copies (pysyncobj's serializer/deserializer hooks).

File layout: 8-byte big-endian length N, N bytes of pickled Raft metadata
(pysyncobj's last applied entries and cluster, which it pickles itself), then
a compact LMDB copy. A snapshot is installed only if its applied index is newer
than the local one: pysyncobj calls the deserializer both at start-up (for the
local dump) and when the leader sends one, and cannot tell us which.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import lmdb

from kvstore.storage import records
from kvstore.storage.store import MvccStore

logger = logging.getLogger(__name__)


def write_snapshot(store: MvccStore, path: str, raft_data: Any) -> None:
    meta = pickle.dumps(raft_data)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, len(meta).to_bytes(8, "big"))
        os.write(fd, meta)
        store.backend.copy_to_fd(fd, compact=True)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_snapshot(store: MvccStore, path: str) -> tuple[Any, bool]:
    """(raft metadata, whether the LMDB copy was installed)."""
    parent = Path(store.backend.path).parent
    with tempfile.TemporaryDirectory(dir=parent, prefix="snapshot-") as tmp:
        copy = Path(tmp) / "data.mdb"
        with open(path, "rb") as f, open(copy, "wb") as out:
            size = int.from_bytes(f.read(8), "big")
            # The dump is our own (written by write_snapshot, or received over
            # the authenticated, encrypted peer link), like pysyncobj's dumps.
            raft_data = pickle.loads(f.read(size))
            while chunk := f.read(1 << 20):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        incoming = _applied_index(tmp)
        with store.read() as view:
            local = view.applied[0]
        if incoming <= local:
            return raft_data, False
        store.install_snapshot(copy)
    logger.info("installed snapshot applied_index=%d previous=%d", incoming, local)
    return raft_data, True


def _applied_index(env_dir: str) -> int:
    env = lmdb.open(env_dir, readonly=True, lock=False, max_dbs=16)
    try:
        meta = env.open_db(b"meta", create=False)
        with env.begin() as txn:
            return records.decode_int(txn.get(records.META_APPLIED_INDEX, db=meta))
    finally:
        env.close()
