"""A started MVCC store in a directory, for tests that drive storage directly."""

from __future__ import annotations

from pathlib import Path

from kvstore.config import StorageConfig
from kvstore.pb import command_pb2, rpc_pb2
from kvstore.raft.fsm import Entry, StateMachine
from kvstore.storage.store import MvccStore


def started_store(path: Path) -> MvccStore:
    """Without fsync (these tests never cut the power); the caller closes it."""
    store = MvccStore(StorageConfig(data_dir=path, sync=False))
    store.start()
    return store


def apply_puts(fsm: StateMachine, first: int, last: int) -> None:
    """Raft entries ``first``..``last``, each a put of ``k%04d`` (200 bytes), applied."""
    entries = []
    for i in range(first, last + 1):
        put = rpc_pb2.PutRequest(key=b"k%04d" % i, value=b"v" * 200)
        cmd = command_pb2.Command(request_id=i, member_id=1, put=put).SerializeToString()
        entries.append(Entry(i, 1, cmd))
    fsm.apply_batch(entries)
