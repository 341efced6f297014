"""Sending a snapshot to a member behind the log (pysyncobj's transmission hooks).

A member's dump is a marker (``snapshots.write_marker``): its metadata and no
copy of the store. A member that needs the snapshot needs the copy, so the
first transmission of a marker starts writing one, on a thread of its own (a
copy of some hundred MB takes a second or more). Until it is complete the
transmission sends nothing (pysyncobj then sends an empty heartbeat and asks
again on its next round); then every member behind the log is sent that copy.
The copy is removed once no transmission reads it any more, and when the dump
changes: a copy of a store some hundred MB large is not kept for a transfer
that may never come (a member that refuses it is sent a new one). A dump
received from the leader is a whole snapshot already and is sent as it is.

The copy carries the marker's metadata; the store it copies may be ahead of
it, which a member installing it handles (it skips entries it already holds).

pysyncobj's own transmissions read the dump file in pieces of
``batch_size``: the same pieces, with the same ``(data, is_first, is_last)``
(the last one empty), are sent here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO

from kvstore.raft.snapshots import read_metadata
from kvstore.raft.snapshotwriter import WriteFn

logger = logging.getLogger(__name__)

COPY_SUFFIX = ".send"
Piece = tuple[bytes, bool, bool]


@dataclass(frozen=True)
class _Version:
    """Which dump a copy was made from."""

    inode: int
    mtime_ns: int
    size: int


def _version(path: str) -> _Version:
    st = os.stat(path)
    return _Version(st.st_ino, st.st_mtime_ns, st.st_size)


class SnapshotSender:
    """pysyncobj's ``getTransmissionData``/``cancelTransmisstion`` (tick thread)."""

    def __init__(self, dump_path: str, write: WriteFn, batch_size: int) -> None:
        self._dump = dump_path
        self._copy = dump_path + COPY_SUFFIX
        self._write = write
        self._batch = batch_size
        self._open: dict[Any, tuple[BinaryIO, bool]] = {}
        #: the dump the copy at ``_copy`` was made from (None: no copy)
        self._copied: _Version | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        _remove(self._copy)  # made before a restart: of an older dump
        _remove(self._copy + ".writing")

    def piece(self, node: Any) -> Piece | None:
        """The next piece for ``node``; None: nothing to send yet (or no dump)."""
        opened = self._open.get(node)
        if opened is None:
            f = self._begin()
            if f is None:
                return None
            opened = self._open[node] = (f, True)
        f, first = opened
        try:
            data = f.read(self._batch)
        except OSError:
            logger.exception("reading a snapshot for a member failed")
            self.cancel(node)
            return None
        last = not data
        if last:
            self.cancel(node)
            if f.name == self._copy and not self._open:
                self._drop_copy()  # sent: no member is waiting for it now
        else:
            self._open[node] = (f, False)
        return data, first, last

    def cancel(self, node: Any) -> None:
        """Forget a transmission: the next piece for ``node`` is the first."""
        opened = self._open.pop(node, None)
        if opened is not None:
            opened[0].close()

    def drop_stale(self) -> None:
        """The dump changed: remove a copy of an older one, which would only be
        made again (transmissions reading it keep their open file)."""
        if self._thread is not None or self._copied is None:
            return
        with contextlib.suppress(OSError):
            if self._copied == _version(self._dump):
                return
        self._drop_copy()

    def _drop_copy(self) -> None:
        self._copied = None
        _remove(self._copy)

    def stop(self) -> None:
        """Wait for a copy being written (before the store closes)."""
        self._stopped = True
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        for node in list(self._open):
            self.cancel(node)

    def _begin(self) -> BinaryIO | None:
        """The file to send from its start, or None while its copy is written."""
        try:
            version = _version(self._dump)
        except OSError:
            return None  # none yet
        try:
            raft_data, marker = read_metadata(self._dump)
        except Exception:
            # the member receiving it checks it (and refuses a damaged one)
            logger.warning("snapshot metadata unreadable; sent as it is", exc_info=True)
            raft_data, marker = None, False
        if not marker:
            try:
                return open(self._dump, "rb")
            except OSError:
                return None
        if self._copied == version:
            try:
                return open(self._copy, "rb")
            except OSError:
                logger.warning("snapshot copy for a transfer is gone; copying again")
                self._copied = None
        if self._thread is None and not self._stopped:
            self._copied = None
            self._thread = threading.Thread(
                target=self._make_copy,
                args=(version, raft_data),
                name="snapshot-copy",
                daemon=True,
            )
            self._thread.start()
        return None

    def _make_copy(self, version: _Version, raft_data: Any) -> None:
        writing = self._copy + ".writing"
        try:
            self._write(writing, raft_data)
            os.replace(writing, self._copy)
        except Exception:
            logger.exception("copying the store for a snapshot transfer failed")
            _remove(writing)
        else:
            logger.info("snapshot copy for a transfer written bytes=%d", _size(self._copy))
            self._copied = version
        finally:
            self._thread = None


def _size(path: str) -> int:
    with contextlib.suppress(OSError):
        return os.path.getsize(path)
    return -1


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
