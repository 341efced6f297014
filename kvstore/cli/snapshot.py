"""``snapshot save | status | restore``.

A snapshot file is what Maintenance.Snapshot streams: a compact copy of the
member's LMDB file (zero-padded to 512 bytes) followed by the 32-byte sha256 of
those bytes. ``status`` verifies the hash and reads the copy read-only;
``restore`` builds a fresh data dir from it for disaster recovery:

- the copy becomes ``DIR/member/lmdb/data.mdb`` (the path the server's Backend opens);
- the Raft applied index and term in ``meta`` are reset to 0, because the new
  cluster starts a new Raft log from index 1 and must apply all of it;
- the ``members`` db is cleared: the new members come from ``--initial-cluster``
  when each restored member starts, and publish themselves.

Restore every member of the new cluster from the same snapshot, each into its own
dir, then start them with the same ``--initial-cluster``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import lmdb

from kvstore.cli.main import CliError, session
from kvstore.cli.output import human_bytes
from kvstore.storage import records

DIGEST_BYTES = hashlib.sha256().digest_size
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SnapshotInfo:
    hash: str
    """sha256 of the LMDB copy, hex."""
    revision: int
    total_keys: int
    """Live keys (the ``current`` db)."""
    total_revisions: int
    """Key revisions kept for history (the ``kv`` db)."""
    size: int
    """Bytes of the LMDB copy."""


def verify(path: Path) -> str:
    """Check the trailing sha256; returns it as hex."""
    size = path.stat().st_size
    if size <= DIGEST_BYTES:
        raise CliError(f"snapshot file {path} is too small to hold a database and its hash")
    digest = hashlib.sha256()
    with path.open("rb") as f:
        left = size - DIGEST_BYTES
        while left:
            chunk = f.read(min(_CHUNK, left))
            if not chunk:
                raise CliError(f"snapshot file {path} is truncated")
            digest.update(chunk)
            left -= len(chunk)
        stored = f.read(DIGEST_BYTES)
    if stored != digest.digest():
        raise CliError(f"snapshot file {path} is corrupt: sha256 mismatch")
    return stored.hex()


def extract_db(snapshot: Path, target: Path) -> int:
    """Copy the LMDB part of ``snapshot`` to ``target``; returns its size."""
    size = snapshot.stat().st_size - DIGEST_BYTES
    with snapshot.open("rb") as src, target.open("wb") as out:
        left = size
        while left:
            chunk = src.read(min(_CHUNK, left))
            out.write(chunk)
            left -= len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size


@contextmanager
def _open_env(directory: Path, *, write: bool, size: int) -> Iterator[Any]:
    env = lmdb.open(
        str(directory),
        readonly=not write,
        lock=write,
        max_dbs=8,
        map_size=max(size + (16 << 20), 64 << 20),
    )
    try:
        yield env
    finally:
        env.close()


def inspect(path: Path) -> SnapshotInfo:
    digest = verify(path)
    with tempfile.TemporaryDirectory(prefix="kvctl-snapshot-") as tmp:
        size = extract_db(path, Path(tmp) / "data.mdb")
        with _open_env(Path(tmp), write=False, size=size) as env:
            try:
                meta = env.open_db(b"meta", create=False)
                current = env.open_db(b"current", create=False)
                kv = env.open_db(b"kv", create=False)
            except lmdb.Error as exc:
                raise CliError(f"{path} is not a kvstore snapshot ({exc})") from exc
            with env.begin() as txn:
                revision = records.decode_int(txn.get(records.META_REVISION, db=meta), 1)
                keys = int(txn.stat(current)["entries"])
                revisions = int(txn.stat(kv)["entries"])
    return SnapshotInfo(digest, revision, keys, revisions, size)


@click.group("snapshot")
def snapshot_group() -> None:
    """Snapshot commands: save, status, restore."""


@snapshot_group.command("save")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def save(file: Path) -> None:
    """Stream a snapshot of one member's store to FILE."""
    sess = session()
    endpoints = sess.options.endpoints
    if len(endpoints) != 1:
        raise CliError("snapshot must be requested to one selected node, not multiple")
    client = sess.client()
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        task = progress.add_task("snapshot", total=None)

        def report(done: int, remaining: int) -> None:
            progress.update(task, completed=done, total=done + remaining)

        with progress:
            client.snapshot(file, progress=report, endpoint=endpoints[0])
    else:
        client.snapshot(file, endpoint=endpoints[0])
    sess.out.line(f"Snapshot saved at {file}")


@snapshot_group.command("status")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def status(file: Path) -> None:
    """Verify FILE's hash and show its revision, key count and size."""
    info = inspect(file)
    out = session().out
    row = {
        "hash": info.hash,
        "revision": info.revision,
        "total keys": info.total_keys,
        "total revisions": info.total_revisions,
        "total size": human_bytes(info.size),
    }
    document = {
        "hash": info.hash,
        "revision": info.revision,
        "totalKey": info.total_keys,
        "totalRevisions": info.total_revisions,
        "totalSize": info.size,
    }
    if out.fmt == "fields":
        out.fields(
            [
                ("Hash", info.hash),
                ("Revision", info.revision),
                ("Keys", info.total_keys),
                ("Revisions", info.total_revisions),
                ("Size", info.size),
            ]
        )
    else:
        out.records(list(row), [row], document=document)


def _check_cluster_flags(
    name: str, initial_cluster: str | None, advertise: str | None
) -> dict[str, str]:
    peers: dict[str, str] = {}
    if initial_cluster is None:
        return peers
    for part in initial_cluster.split(","):
        member, sep, url = part.strip().partition("=")
        if not sep or not member or not url:
            raise click.BadParameter(
                f"expected NAME=PEER_URL, got {part!r}", param_hint="--initial-cluster"
            )
        peers[member] = url
    if name not in peers:
        raise click.BadParameter(
            f"has no member named {name!r} (--name)", param_hint="--initial-cluster"
        )
    if advertise is not None and advertise != peers[name]:
        raise click.BadParameter(
            f"{advertise!r} is not {name}'s URL in --initial-cluster ({peers[name]!r})",
            param_hint="--initial-advertise-peer-urls",
        )
    return peers


@snapshot_group.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--name", default="default", show_default=True, help="name of the member")
@click.option("--initial-cluster", default=None, help="NAME=PEER_URL,... of the new cluster")
@click.option("--initial-advertise-peer-urls", default=None, help="this member's peer URL")
@click.option("--initial-cluster-token", default="", help="accepted for etcd compatibility")
@click.option("--skip-hash-check", is_flag=True, help="do not verify the trailing sha256")
def restore(
    file: Path,
    data_dir: Path | None,
    name: str,
    initial_cluster: str | None,
    initial_advertise_peer_urls: str | None,
    initial_cluster_token: str,
    skip_hash_check: bool,
) -> None:
    """Build a new member's data dir from snapshot FILE."""
    _check_cluster_flags(name, initial_cluster, initial_advertise_peer_urls)
    target = data_dir or Path(f"{name}.kvstore")
    member_dir = target / "member"
    if member_dir.exists():
        raise CliError(f"data-dir {str(target)!r} exists")
    if not skip_hash_check:
        verify(file)
    lmdb_dir = member_dir / "lmdb"
    staging = target / "member.restoring"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "lmdb").mkdir(parents=True)
    try:
        size = extract_db(file, staging / "lmdb" / "data.mdb")
        with _open_env(staging / "lmdb", write=True, size=size) as env:
            meta = env.open_db(b"meta")
            members = env.open_db(b"members")
            with env.begin(write=True) as txn:
                txn.put(records.META_APPLIED_INDEX, records.encode_int(0), db=meta)
                txn.put(records.META_APPLIED_TERM, records.encode_int(0), db=meta)
                txn.drop(members, delete=False)
                revision = records.decode_int(txn.get(records.META_REVISION, db=meta), 1)
            env.sync(True)
        (staging / "lmdb" / "lock.mdb").unlink(missing_ok=True)
        staging.rename(member_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    session().out.line(f"restored snapshot {file} (revision {revision}) into {lmdb_dir}")


def register(group: click.Group) -> None:
    group.add_command(snapshot_group)
