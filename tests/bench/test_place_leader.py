"""The bench gives both systems' members the same roles: ``place_leader``
moves leadership to the member asked for, on real 3-member deployments of
kvstore and of Debian's etcd."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.servers import deployment


@pytest.mark.parametrize("system", ["kvstore", "etcd"])
def test_place_leader_moves_leadership_where_asked(system: str, tmp_path: Path) -> None:
    with deployment(system, 3, tmp_path) as dep:
        first = dep.leader_index()
        target = (first + 1) % 3
        assert dep.place_leader(target) == 1
        assert dep.leader_index() == target
        assert dep.place_leader(target) == 0  # already there: nothing sent
        back = (target + 1) % 3
        assert dep.place_leader(back) == 1
        assert dep.leader_index() == back
