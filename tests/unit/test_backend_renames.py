"""Replacing the LMDB file (a snapshot installed, a defragmentation) makes the
rename durable: the directory is fsynced after it (a real Backend; the fsyncs
are observed, since a power cut cannot be)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstore.config import StorageConfig
from kvstore.storage.backend import Backend


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every rename and fsync from now on, in order, by path."""
    seen: list[tuple[str, str]] = []
    replace, fsync = os.replace, os.fsync

    def replaced(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        replace(src, dst)
        seen.append(("replace", str(dst)))

    def synced(fd: int) -> None:
        fsync(fd)
        seen.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

    monkeypatch.setattr(os, "replace", replaced)
    monkeypatch.setattr(os, "fsync", synced)
    yield seen


def _backend(path: Path) -> Backend:
    backend = Backend(StorageConfig(path, initial_map_size=1 << 22))
    with backend.write() as txn:
        txn.put(b"k", b"v", db=backend.current)
    return backend


def _renamed_then_synced(steps: list[tuple[str, str]], directory: Path) -> bool:
    renamed = [i for i, s in enumerate(steps) if s == ("replace", str(directory / "data.mdb"))]
    synced = [i for i, s in enumerate(steps) if s == ("fsync", str(directory))]
    return bool(renamed) and any(i > renamed[-1] for i in synced)


def test_installing_a_copy_syncs_the_rename(tmp_path: Path, steps: list[tuple[str, str]]) -> None:
    source = _backend(tmp_path / "source")
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    source.env.copy(str(copy_dir))
    source.close()
    target = _backend(tmp_path / "target")
    target.install(copy_dir / "data.mdb")
    assert _renamed_then_synced(steps, target.path)
    with target.read() as txn:
        assert txn.get(b"k", db=target.current) == b"v"
    target.close()


def test_defragmenting_syncs_the_rename(tmp_path: Path, steps: list[tuple[str, str]]) -> None:
    backend = _backend(tmp_path)
    backend.defragment()
    assert _renamed_then_synced(steps, backend.path)
    with backend.read() as txn:
        assert txn.get(b"k", db=backend.current) == b"v"
    backend.close()
