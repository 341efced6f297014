"""The cluster record in a data dir: written on the first start, then it wins
over the flags (``kvstore.api.founding``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kvstore.api import founding
from kvstore.config import ClusterConfig, PeerConfig
from kvstore.errors import KvError

THREE = ClusterConfig(
    initial_cluster=(
        PeerConfig("a", "http://127.0.0.1:1"),
        PeerConfig("b", "http://127.0.0.1:2"),
        PeerConfig("c", "http://127.0.0.1:3"),
    ),
    listen_peer_url="http://127.0.0.1:1",
)


def test_the_first_start_is_recorded_and_later_flags_are_ignored(tmp_path: Path) -> None:
    assert founding.settle(tmp_path, THREE, 0) == THREE
    other = dataclasses.replace(
        THREE,
        initial_cluster=(*THREE.initial_cluster, PeerConfig("d", "http://127.0.0.1:4")),
        initial_cluster_state="existing",
        heartbeat=0.05,
    )
    settled = founding.settle(tmp_path, other, 7)
    assert settled is not None
    assert settled.initial_cluster == THREE.initial_cluster
    assert settled.initial_cluster_state == "new"
    assert settled.heartbeat == 0.05  # only the founding flags are recorded


def test_a_members_data_dir_needs_its_peers(tmp_path: Path) -> None:
    founding.settle(tmp_path, THREE, 0)
    with pytest.raises(KvError, match="belongs to a member of a cluster"):
        founding.settle(tmp_path, None, 7)


def test_a_member_alone_with_raft_needs_its_flags_too(tmp_path: Path) -> None:
    alone = dataclasses.replace(THREE, initial_cluster=THREE.initial_cluster[:1])
    founding.settle(tmp_path, alone, 0)
    with pytest.raises(KvError, match="belongs to a member of a cluster"):
        founding.settle(tmp_path, None, 7)
    assert founding.settle(tmp_path / "fresh", None, 0) is None
    assert not (tmp_path / "fresh").exists()


def test_a_damaged_record_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / founding.RECORD).parent.mkdir(parents=True)
    (tmp_path / founding.RECORD).write_text("{not json")
    with pytest.raises(KvError, match="not a cluster record"):
        founding.settle(tmp_path, THREE, 0)


def test_a_data_dir_used_without_peers_cannot_form_a_cluster(tmp_path: Path) -> None:
    with pytest.raises(KvError, match="belongs to a member without peers"):
        founding.settle(tmp_path, THREE, 12)
    assert not (tmp_path / founding.RECORD).exists()
    # a member with peers from before the record existed: its journal says so
    (tmp_path / founding.JOURNAL).parent.mkdir(parents=True)
    (tmp_path / founding.JOURNAL).write_bytes(b"")
    assert founding.settle(tmp_path, THREE, 12) == THREE
