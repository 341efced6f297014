"""Two controller-managers on one store: only the leader runs controllers."""

from __future__ import annotations

from kvstore.client import Client
from kvstore.controllers.config import LeaderElectionConfig, ManagerConfig
from kvstore.controllers.manager import ControllerManager
from tests.controllers.conftest import eventually


def config(identity: str) -> ManagerConfig:
    return ManagerConfig(
        controllers=("replicaset",),
        leader_election=LeaderElectionConfig(lease_ttl=2, identity=identity),
    )


async def test_only_one_leads_and_the_other_takes_over(client: Client) -> None:
    first = ControllerManager(config("first"), client)
    second = ControllerManager(config("second"), client)
    await first.start()
    await eventually(lambda: bool(first.controllers), 10)
    await second.start()
    try:
        assert second.elector is not None and not second.elector.is_leader
        assert not second.controllers
        await first.aclose()  # resigns: the second copy takes over
        await eventually(lambda: bool(second.controllers), 10)
        assert second.elector.is_leader
    finally:
        await first.aclose()
        await second.aclose()
