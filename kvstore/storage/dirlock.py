"""One member per data dir: an exclusive lock held while a member runs on it.

Two processes started on the same ``--data-dir`` (a second ``kvstore`` by
mistake, a supervisor restarting a member that is still running) would both
write its LMDB store and Raft journal, each with its own idea of the revision
and the log: the second one's first write failed on an internal check, and what
both wrote was no longer one history. etcd refuses to start on a data dir in
use; so does a member here. The lock is ``flock`` on ``member/lock``: the kernel
drops it when the process ends, also by kill -9, so it never has to be cleaned
up. The file holds the holder's pid, for the message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class DataDirInUse(OSError):
    """Another process holds the data dir."""


class DataDirLock:
    """The lock on one data dir; ``acquire`` before opening anything in it."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "member" / "lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ``DataDirInUse`` naming the holder's pid."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirInUse(
                f"data dir {self.path.parent.parent} is in use by another process "
                f"(pid {holder}); one member per data dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the file stays: removing it could race with a
        process that has just opened it)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
