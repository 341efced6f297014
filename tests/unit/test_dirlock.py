"""DataDirLock: exclusive, names its holder, released on release."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kvstore.storage.dirlock import DataDirInUse, DataDirLock


def test_a_held_data_dir_is_refused_until_released(tmp_path: Path) -> None:
    holder = DataDirLock(tmp_path / "d")
    holder.acquire()
    try:
        with pytest.raises(DataDirInUse, match=rf"\(pid {os.getpid()}\)"):
            DataDirLock(tmp_path / "d").acquire()
        other = DataDirLock(tmp_path / "other")
        other.acquire()  # another dir is another lock
        other.release()
    finally:
        holder.release()
    again = DataDirLock(tmp_path / "d")
    again.acquire()
    again.release()
    assert (tmp_path / "d" / "member" / "lock").exists()
