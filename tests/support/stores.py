"""A started MVCC store in a directory, for tests that drive storage directly."""

from __future__ import annotations

from pathlib import Path

from kvstore.config import StorageConfig
from kvstore.storage.store import MvccStore


def started_store(path: Path) -> MvccStore:
    """Without fsync (these tests never cut the power); the caller closes it."""
    store = MvccStore(StorageConfig(data_dir=path, sync=False))
    store.start()
    return store
