"""The ``cluster`` fixture: one kvstore member, a controller-manager, three agents."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kvstore.client import Client
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.objects import NODE
from kvstore.controllers.scheduler import node_ready
from tests.agent.harness import Agent, manager_argv, owned
from tests.controllers.conftest import eventually
from tests.support.procs import kvstore_process, running

NODES = ("node-1", "node-2", "node-3")


@dataclass
class Cluster:
    api: ObjectClient
    endpoint: str
    agents: dict[str, Agent]
    tmp: Path

    def logs(self) -> str:
        parts = []
        for path in sorted(self.tmp.glob("*.log")):
            parts.append(f"===== {path.name}\n{path.read_text()[-4000:]}")
        return "\n".join(parts)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(running(kvstore_process(tmp_path)))
        stack.enter_context(owned(manager_argv(server.endpoint), tmp_path / "cm.log"))
        agents = {}
        for name in NODES:
            agent = Agent(name, tmp_path / name, tmp_path / f"{name}.log", server.endpoint)
            stack.callback(agent.close)
            agent.start()
            agents[name] = agent
        async with Client([server.endpoint]) as client:
            api = ObjectClient(client)
            c = Cluster(api, server.endpoint, agents, tmp_path)

            async def all_ready() -> bool:
                nodes = (await api.list(NODE)).items
                return len(nodes) == len(NODES) and all(node_ready(n) for n in nodes)

            try:
                await eventually(all_ready, 30)
                yield c
            except BaseException:
                print(c.logs())
                raise
