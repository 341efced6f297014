"""Growing the LMDB map while other threads read (a real Backend, real threads)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from kvstore.config import StorageConfig
from kvstore.storage.backend import Backend, MapFullRetry

VALUE_BYTES = 1024


def _value(key: bytes) -> bytes:
    return key * (VALUE_BYTES // len(key))


def test_readers_are_unharmed_while_the_map_grows(tmp_path: Path) -> None:
    """LMDB remaps the file to grow it; a read transaction open in another
    thread meanwhile failed ('closed/deleted/dropped object') before the growth
    shut readers out."""
    config = StorageConfig(tmp_path, initial_map_size=1 << 20, quota_bytes=1 << 28, sync=False)
    backend = Backend(config)
    stop = threading.Event()
    reads = [0] * 3
    errors: list[BaseException] = []

    def reader(n: int) -> None:
        try:
            while not stop.is_set():
                with backend.read() as txn:
                    for n_read, (key, value) in enumerate(txn.cursor(db=backend.current)):
                        assert value == _value(key), key
                        if n_read == 256:
                            break
                reads[n] += 1
                time.sleep(0)  # let the writer have the GIL now and then
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    grown = 0
    try:
        for batch in range(250):
            while True:
                try:
                    with backend.write() as txn:
                        for i in range(64):
                            key = b"k%06d" % (batch * 64 + i)
                            txn.put(key, _value(key), db=backend.current)
                    break
                except MapFullRetry:
                    grown += 1
    finally:
        stop.set()
        for t in threads:
            t.join()
        backend.close()
    assert not errors, errors
    assert grown >= 3 and all(reads), (grown, reads)
