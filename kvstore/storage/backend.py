"""The LMDB environment of one member: named databases, map growth, copies.

Databases (DESIGN §5):

- ``kv``         16-byte revision -> record (1 flag byte + serialized mvccpb.KeyValue)
- ``index``      user key -> its revisions (dupsort, ascending)
- ``current``    user key -> its latest revision (16 bytes, a ``kv`` key), while
                 the key is live (absent once deleted). Format 2; format 1 held
                 the whole KeyValue, a second copy of every live value, and is
                 converted when the environment is opened (``FORMAT``).
- ``lease``      8-byte lease id -> granted TTL
- ``lease_keys`` 8-byte lease id -> attached user keys (dupsort)
- ``meta``       name -> value: revision, compacted revision, applied index/term, ...
- ``members``    8-byte member id -> etcdserverpb.Member (empty value: removed)
- ``auth``       ``user/NAME`` -> authpb.User, ``role/NAME`` -> authpb.Role, and
                 ``enabled`` / ``revision`` (8-byte ints): the replicated auth store
- ``requests``   member id + request id (8 + 8 bytes) -> raft index: applied proposals,
                 so a proposal retried after an unknown outcome applies only once

This module knows LMDB and nothing of etcd.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import lmdb

from kvstore.config import StorageConfig
from kvstore.durations import Durations
from kvstore.errors import NoSpaceError
from kvstore.fsync import fsync_path

logger = logging.getLogger(__name__)

MAX_KEY_BYTES = 511  # LMDB's compile-time key limit (also for dupsort values)
#: how far the map may grow past the quota at least (see ``Backend.map_limit``)
MAP_HEADROOM = 1024 * 1024 * 1024
#: the layout this code reads and writes, stored in ``meta`` under ``FORMAT_KEY``
FORMAT = 2
FORMAT_KEY = b"format"

Txn = Any  # lmdb.Transaction (the lmdb package ships no type stubs)


class Backend:
    """Owns the LMDB environment; hands out read and write transactions."""

    def __init__(self, config: StorageConfig) -> None:
        self._config = config
        self.path = Path(config.data_dir) / "member" / "lmdb"
        self.path.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._gate = SharedGate()
        #: LMDB commits, sync included (for /metrics)
        self.commit_durations = Durations()
        self._open_all(min(config.initial_map_size, self.map_limit))

    def _open_all(self, map_size: int) -> None:
        self.env = self._open(map_size)
        self.kv = self.env.open_db(b"kv")
        self.index = self.env.open_db(b"index", dupsort=True)
        self.current = self.env.open_db(b"current")
        self.lease = self.env.open_db(b"lease")
        self.lease_keys = self.env.open_db(b"lease_keys", dupsort=True)
        self.meta = self.env.open_db(b"meta")
        self.members = self.env.open_db(b"members")
        self.requests = self.env.open_db(b"requests")
        self.auth = self.env.open_db(b"auth")
        self._upgrade()
        self._page_size = int(self.env.stat()["psize"])
        self._measure()

    def _measure(self) -> None:
        """Note the bytes in use: they change only when a write commits, and
        every write asks (the quota check); asking LMDB builds two dicts."""
        self._in_use = (int(self.env.info()["last_pgno"]) + 1) * self._page_size

    def _upgrade(self) -> None:
        """Bring an environment of an older layout (or a snapshot of one) to
        ``FORMAT``, in one write transaction. Format 1 to 2: each ``current``
        value becomes the key's newest revision, the last of its ``index``
        entries (a live key's newest revision is its current value)."""
        with self.env.begin(write=True) as txn:
            raw = txn.get(FORMAT_KEY, db=self.meta)
            found = int.from_bytes(raw, "big") if raw is not None else 1
            if found == FORMAT:
                return
            if found > FORMAT:
                raise UnknownFormatError(
                    f"{self.path} holds data format {found}, newer than this kvstore's {FORMAT}"
                )
            keys = txn.stat(self.current)["entries"]
            revisions = txn.cursor(db=self.index)
            for key in list(txn.cursor(db=self.current).iternext(keys=True, values=False)):
                if not revisions.set_key(key) or not revisions.last_dup():
                    raise RuntimeError(f"{self.path}: live key {key!r} has no revision")
                txn.put(key, revisions.value(), db=self.current)
            txn.put(FORMAT_KEY, FORMAT.to_bytes(8, "big"), db=self.meta)
        if keys:
            logger.info("data format upgraded from=%d to=%d keys=%d", found, FORMAT, keys)

    def _open(self, map_size: int) -> Any:
        existing = self.path / "data.mdb"
        if existing.exists():
            map_size = max(map_size, existing.stat().st_size)
        return lmdb.open(
            str(self.path),
            map_size=map_size,
            max_dbs=16,
            sync=self._config.sync,
            metasync=self._config.sync and self._config.metasync,
            readahead=False,
            max_readers=512,
            lock=True,
        )

    def close(self) -> None:
        self.env.close()

    def read(self) -> contextlib.AbstractContextManager[Txn]:
        """A read transaction (every get and range takes one: a class, not a
        generator, because its cost shows at thousands of reads a second)."""
        return Reading(self)

    @contextlib.contextmanager
    def write(self) -> Iterator[Txn]:
        """A write transaction; commits (and fsyncs) on success, aborts on error.

        A full map is grown and reported as ``MapFullRetry`` so the caller can
        redo the same work in a fresh transaction; past the quota it is NOSPACE.
        """
        with self._write_lock:
            try:
                with self._gate.shared():
                    txn = self.env.begin(write=True)
                    try:
                        yield txn
                        started = time.perf_counter()
                        txn.commit()
                        self.commit_durations.observe(time.perf_counter() - started)
                    except BaseException:
                        txn.abort()
                        raise
                    self._measure()
            except lmdb.MapFullError as exc:
                self._grow()
                raise MapFullRetry() from exc

    @property
    def map_limit(self) -> int:
        """How large the map may grow: twice the quota, and at least 1 GiB
        past it. Writes admitted before the NOSPACE alarm is applied must
        still apply: a member that cannot apply a committed entry stops, and
        every member would stop at the same entry. A burst of large writes
        all admitted at once can pass the quota by a lot (48 writes of 1 MiB
        against a 2 MiB quota in the tests). The map is address space, and
        the file grows only with the pages written, as etcd's bbolt file
        grows past its quota."""
        quota = self._config.quota_bytes
        return quota + max(quota, MAP_HEADROOM)

    def over_quota(self, extra: int) -> bool:
        return self.size_in_use() + extra > self._config.quota_bytes

    def _grow(self) -> None:
        """Double the map (up to ``map_limit``). Shuts every reader out: LMDB
        remaps the file, and a read transaction of another thread still using
        the old mapping would touch unmapped memory (LMDB leaves that to us)."""
        with self._gate.exclusive():
            current = int(self.env.info()["map_size"])
            if current >= self.map_limit:
                raise NoSpaceError()
            new = min(current * 2, self.map_limit)
            logger.info("growing LMDB map map_size=%d new_map_size=%d", current, new)
            self.env.set_mapsize(new)

    def file_size(self) -> int:
        try:
            return (self.path / "data.mdb").stat().st_size
        except FileNotFoundError:
            return 0

    def size_in_use(self) -> int:
        """Bytes in use as of the last commit (etcd's dbSizeInUse)."""
        return self._in_use

    def copy_to_fd(self, fd: int, compact: bool = True) -> None:
        """Write a consistent copy of the whole environment to ``fd``."""
        with self._gate.shared():
            self.env.copyfd(fd, compact=compact)

    def sync(self) -> None:
        """Make every committed transaction durable, the meta page included
        (which a Raft member's commits leave unsynced: see ``metasync``)."""
        with self._gate.shared():
            self.env.sync(True)

    def defragment(self) -> None:
        """Rewrite the file without free pages: compact copy, swap, reopen.

        Runs with every reader and writer shut out, so no transaction can see
        the environment while it is replaced.
        """
        with self._write_lock, self._gate.exclusive():
            target = self.path / "data.mdb.defrag"
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                self.env.copyfd(fd, compact=True)
                os.fsync(fd)
            finally:
                os.close(fd)
            map_size = int(self.env.info()["map_size"])
            before = self.file_size()
            self.env.close()
            os.replace(target, self.path / "data.mdb")
            fsync_path(self.path)
            self._open_all(map_size)
            logger.info("defragmented bytes_before=%d bytes_after=%d", before, self.file_size())

    def install(self, copy_path: Path) -> None:
        """Replace the environment with the LMDB file at ``copy_path`` (a snapshot)."""
        with self._write_lock, self._gate.exclusive():
            map_size = int(self.env.info()["map_size"])
            self.env.close()
            os.replace(copy_path, self.path / "data.mdb")
            # the rename too: a member that lost it to a power cut would find
            # its old store beside a journal that starts at the snapshot
            fsync_path(self.path)
            self._open_all(map_size)


class UnknownFormatError(OSError):
    """The environment was written by a newer kvstore (a start-up error)."""


class MapFullRetry(Exception):
    """The map was grown; redo the aborted write transaction."""


class Reading:
    """``Backend.read``'s context: a shared hold on the gate and a read transaction."""

    __slots__ = ("_backend", "_txn")

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def __enter__(self) -> Txn:
        gate = self._backend._gate
        gate.enter_shared()
        try:
            self._txn: Txn = self._backend.env.begin(write=False, buffers=False)
        except BaseException:
            gate.leave_shared()
            raise
        return self._txn

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._txn.abort()
        finally:
            self._backend._gate.leave_shared()


class SharedGate:
    """Many holders at once, or one exclusive holder (defragment)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        self.enter_shared()
        try:
            yield
        finally:
            self.leave_shared()

    def enter_shared(self) -> None:
        with self._cond:
            while self._exclusive or self._waiting:
                self._cond.wait()
            self._shared += 1

    def leave_shared(self) -> None:
        with self._cond:
            self._shared -= 1
            if self._shared == 0 and self._waiting:
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._exclusive or self._shared:
                self._cond.wait()
            self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()
