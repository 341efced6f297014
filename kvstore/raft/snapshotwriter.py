"""Writing Raft snapshots on a thread of their own (pysyncobj's async serializer).

pysyncobj compacts its log every ``--snapshot-count`` entries by calling its
serializer hook on the tick thread, the thread that also sends heartbeats.
A snapshot used to be a copy of the store: writing an LMDB copy, its CRC and
its fsync takes about 0.16 s per 100 MB here, so with a few hundred MB the
leader went silent longer than the followers' election timeout. It is now a
marker (``snapshots.write_marker``: a sync of the store, then a small file),
and a copy is made only to send one (``snapshotsend``); the sync still waits
for the disk, so it stays off the tick thread.

``SnapshotWriter.start`` (the hook) only starts a thread and returns; pysyncobj
asks ``check`` on every tick until it reports SUCCESS or FAILED, and only then
cuts its log. The snapshot is written to a file of its own; ``check``, on the
tick thread, renames it over the dump once it is complete, so the dump file is
always whole (also across a crash mid-write), and a snapshot received from the
leader meanwhile, which pysyncobj installs on the same thread, is never
overwritten by an older local one (``abandon``). pysyncobj renames the hook's
``tmp_path`` over the dump as soon as the hook returns: the hook makes
``tmp_path`` a second name of the current dump, so that rename changes
nothing, and ``check`` removes that name.

A snapshot written after the hook may stand for entries applied since; it is
never older than pysyncobj's ``raft_data`` (the caller applies everything
first). A newer one is fine: a member installing it skips entries it already
holds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from pysyncobj.config import SERIALIZER_STATE

from kvstore.fsync import fsync_path

logger = logging.getLogger(__name__)

#: writes a complete snapshot with ``raft_data`` to the path given (and syncs it)
WriteFn = Callable[[str, Any], None]
WRITING_SUFFIX = ".writing"


class SnapshotWriter:
    def __init__(self, dump_path: str, write: WriteFn) -> None:
        self._dump = dump_path
        self._writing = dump_path + WRITING_SUFFIX
        self._write = write
        self._thread: threading.Thread | None = None
        #: set by the writer thread: True (written), False (failed), None (not yet)
        self._written: bool | None = None
        self._abandoned = False
        self._tmp: str | None = None
        _remove(self._writing)  # left by a crash mid-write

    def start(self, tmp_path: str, raft_data: Any) -> None:
        """pysyncobj's serializer hook (tick thread)."""
        _remove(tmp_path)
        self._tmp = tmp_path
        if os.path.exists(self._dump):
            os.link(self._dump, tmp_path)
        # else pysyncobj's rename fails, which it catches; ``check`` reports
        self._written, self._abandoned = None, False
        self._thread = threading.Thread(
            target=self._run, args=(raft_data,), name="snapshot-writer", daemon=True
        )
        self._thread.start()

    def check(self) -> int:
        """pysyncobj's serializeChecker (tick thread): SUCCESS (the copy is now
        the dump) or FAILED once a write has ended, SERIALIZING before."""
        thread = self._thread
        if thread is None:
            return int(SERIALIZER_STATE.NOT_SERIALIZING)
        if thread.is_alive():
            return int(SERIALIZER_STATE.SERIALIZING)
        self._thread = None
        if not self._written or self._abandoned:
            _remove(self._writing)
            return int(SERIALIZER_STATE.FAILED)
        os.replace(self._writing, self._dump)
        fsync_path(os.path.dirname(self._dump) or ".")
        if self._tmp is not None:
            # pysyncobj's rename of a second name onto the first left both:
            # this one would keep the replaced dump on disk
            _remove(self._tmp)
        return int(SERIALIZER_STATE.SUCCESS)

    def abandon(self) -> None:
        """A snapshot from the leader replaced the dump (tick thread): the one
        being written, older, must not replace it in turn."""
        if self._thread is not None:
            self._abandoned = True

    def stop(self) -> None:
        """Wait for a snapshot being written (before the store closes); an
        unfinished one is not used."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._abandoned = True

    def _run(self, raft_data: Any) -> None:
        try:
            self._write(self._writing, raft_data)
        except Exception:
            logger.exception("writing a snapshot failed path=%s", self._writing)
            self._written = False
        else:
            self._written = True


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
