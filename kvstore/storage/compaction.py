"""Physical compaction: remove superseded revisions in bounded batches.

``Compact(rev)`` is applied at once as metadata (reads below ``rev`` fail from
then on); removing the old records is work for this background thread, one
write transaction per ``batch_keys`` keys, so apply is never stalled for long.
"""

from __future__ import annotations

import logging
import threading

from kvstore.storage import records
from kvstore.storage.backend import Backend, MapFullRetry, Txn
from kvstore.storage.keys import decode_revision

logger = logging.getLogger(__name__)


def compact_batch(backend: Backend, target: int, start: bytes, batch_keys: int) -> bytes | None:
    """Compact up to ``batch_keys`` keys from ``start``; the next key, or None when done."""
    with backend.write() as txn:
        cur = txn.cursor(db=backend.index)
        found = cur.set_range(start) if start else cur.first()
        done = 0
        while found and done < batch_keys:
            key = bytes(cur.key())
            _compact_key(backend, txn, key, target)
            done += 1
            found = cur.set_range(key + b"\0")
        if not found:
            txn.put(records.META_COMPACT_DONE, records.encode_int(target), db=backend.meta)
            return None
        return bytes(cur.key())


def _compact_key(backend: Backend, txn: Txn, key: bytes, target: int) -> None:
    cur = txn.cursor(db=backend.index)
    if not cur.set_key(key):
        return
    old = [bytes(v) for v in cur.iternext_dup() if decode_revision(bytes(v))[0] <= target]
    if not old:
        return
    keep = old[-1]
    record = txn.get(keep, db=backend.kv)
    doomed = old[:-1] if record is not None and record[:1] == records.PUT else old
    for raw_rev in doomed:
        txn.delete(raw_rev, db=backend.kv)
        txn.delete(key, raw_rev, db=backend.index)


class Compactor:
    """Owns the thread that physically compacts; ``start()`` / ``close()``."""

    def __init__(self, backend: Backend, batch_keys: int) -> None:
        self._backend = backend
        self._batch_keys = batch_keys
        self._cond = threading.Condition()
        self._target = 0
        self._done = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="compactor", daemon=True)

    def start(self, pending_target: int, done: int) -> None:
        self._done = done
        self._target = max(pending_target, done)
        self._thread.start()

    def schedule(self, target: int) -> None:
        with self._cond:
            if target > self._target:
                self._target = target
                self._cond.notify_all()

    def wait_done(self, target: int, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._done >= target or self._closed, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._target > self._done)
                if self._closed:
                    return
                target = self._target
            try:
                if not self._compact(target):
                    return
            except Exception:
                logger.exception("compaction failed target=%d", target)
                with self._cond:
                    self._cond.wait(1.0)
                continue
            with self._cond:
                self._done = target
                self._cond.notify_all()
            logger.info("compaction finished revision=%d", target)

    def _compact(self, target: int) -> bool:
        """Compact everything up to ``target``; False if closed midway."""
        start: bytes | None = b""
        while start is not None:
            with self._cond:
                if self._closed:
                    return False
            try:
                start = compact_batch(self._backend, target, start, self._batch_keys)
            except MapFullRetry:
                continue
        return True
