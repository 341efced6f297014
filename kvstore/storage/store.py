"""``MvccStore``: the storage layer's face — read views, write batches, compaction."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from kvstore.config import StorageConfig
from kvstore.storage.backend import Backend, Reading
from kvstore.storage.compaction import Compactor
from kvstore.storage.view import ReadView
from kvstore.storage.write import WriteView


class MvccStore:
    """Synchronous MVCC over LMDB. Thread-safe: one writer at a time, many readers."""

    def __init__(self, config: StorageConfig) -> None:
        self.backend = Backend(config)
        self._compactor = Compactor(self.backend, config.compaction_batch_keys)
        with self.read() as view:
            self._revision = view.revision
            self._compacted = view.compacted
            self._nospace = view.nospace_alarm
            self._auth_revision = view.auth_revision
            pending, done = view.compacted, view.compact_done

        self._compactor_pending = (pending, done)

    def start(self) -> None:
        self._compactor.start(*self._compactor_pending)

    def close(self) -> None:
        self._compactor.close()
        self.backend.close()

    @property
    def revision(self) -> int:
        """The latest committed revision (cached; no transaction needed)."""
        return self._revision

    @property
    def compacted(self) -> int:
        return self._compacted

    @property
    def nospace_alarm(self) -> bool:
        return self._nospace

    @property
    def auth_revision(self) -> int:
        """The auth store's revision (cached): it changes with every user/role edit."""
        return self._auth_revision

    def read(self) -> contextlib.AbstractContextManager[ReadView]:
        """A consistent view of the store, until the block ends."""
        return _Viewing(self.backend)

    @contextlib.contextmanager
    def write(self) -> Iterator[WriteView]:
        """One write transaction; committed (fsynced) when the block ends.

        May raise ``MapFullRetry`` (the map was grown: redo the whole batch).
        """
        with self.backend.write() as txn:
            view = WriteView(self.backend, txn)
            yield view
            revision, compacted = view.revision, view.compacted
            nospace = view.nospace_alarm
            auth_revision = view.auth_revision
        self._revision = revision
        self._nospace = nospace
        self._auth_revision = auth_revision
        if compacted > self._compacted:
            self._compacted = compacted
            self._compactor.schedule(compacted)

    def install_snapshot(self, copy_path: Path) -> None:
        """Swap in an LMDB copy (from the leader) and reload the cached metadata."""
        self.backend.install(copy_path)
        with self.read() as view:
            self._revision = view.revision
            self._compacted = view.compacted
            self._nospace = view.nospace_alarm
            self._auth_revision = view.auth_revision
        self._compactor.schedule(self._compacted)

    def wait_compacted(self, revision: int, timeout: float | None = None) -> bool:
        """Block until old revisions up to ``revision`` are physically gone."""
        return self._compactor.wait_done(revision, timeout)


class _Viewing(Reading):
    """``MvccStore.read``'s context: ``Backend.read``'s, entered as a ReadView."""

    __slots__ = ()

    def __enter__(self) -> ReadView:
        return ReadView(self._backend, super().__enter__())
