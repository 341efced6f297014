"""A Deployment of real HTTP servers behind a Service: load balancing, a rolling
update without a failed request (for a client that retries once), and a node killed
with SIGKILL whose pods move elsewhere while the Service keeps answering."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import pytest

from kvstore.agent import procs
from kvstore.controllers import objects as o
from kvstore.controllers import pods as p
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.errors import ConflictError
from kvstore.controllers.objects import DEPLOYMENT, NODE, POD, Obj
from tests.agent.conftest import Cluster
from tests.agent.harness import GRACE, TOLERATION, WEBSERVER, http_get, recorded_pids
from tests.controllers.conftest import eventually
from tests.support.procs import free_port


def deployment(version: str) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 3,
                    "containers": [
                        {
                            "name": "web",
                            "image": "python3",
                            "command": [sys.executable, WEBSERVER],
                            "env": [{"name": "VERSION", "value": version}],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": "http"},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }


def service(port: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": port, "targetPort": "http"}],
        },
    }


async def ask(port: int) -> str:
    return await asyncio.to_thread(http_get, port)


def _listeners(port: int) -> int:
    """Sockets listening on 127.0.0.1:``port`` (all processes, from /proc/net/tcp)."""
    local = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1] == local and row[3] == "0A")  # 0A: LISTEN


async def ask_retrying_once(port: int) -> str:
    try:
        return await ask(port)
    except OSError:
        await asyncio.sleep(0.2)
        return await ask(port)


async def ready_pods(api: ObjectClient) -> list[Obj]:
    pods = (await api.list(POD, "default")).items
    return [pod for pod in pods if p.is_ready(pod) and not o.is_deleting(pod)]


async def set_version(api: ObjectClient, version: str) -> None:
    for _ in range(20):
        d = await api.get(DEPLOYMENT, "default", "web")
        d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = version
        try:
            await api.update(d)
            return
        except ConflictError:
            continue


class Client:
    """Requests in a loop through the Service, each retried once; records answers."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: list[str] = []
        self.failures: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Client:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                self.answers.append(await ask_retrying_once(self.port))
            except OSError as exc:
                self.failures.append(f"{time.monotonic():.2f}: {exc!r}")
            await asyncio.sleep(0.02)


@pytest.mark.timeout(90)
async def test_service_rolling_update_and_node_failure(cluster: Cluster) -> None:
    api = cluster.api
    port = free_port()
    await api.create(service(port))
    await api.create(deployment("v1"))

    # 1. three pods answer through the Service, one after another
    seen: set[str] = set()

    async def all_three_answer() -> bool:
        answer = await ask(port)
        seen.add(answer)
        return len({a for a in seen if a.startswith("v1 ")}) == 3

    await eventually(all_three_answer, 30, interval=0.05)
    # every agent listens on the Service port: losing one leaves no gap
    await eventually(lambda: _listeners(port) == 3, 10)
    pods = await ready_pods(api)
    assert sorted(a.split()[1] for a in seen) == sorted(o.name(x) for x in pods)
    assert {p.node_name(x) for x in pods} == {"node-1", "node-2", "node-3"}

    # 2. rolling update to v2: no request fails for a client that retries once
    async with Client(port) as client:
        await set_version(api, "v2")

        async def only_v2() -> bool:
            recent = client.answers[-15:]
            pods = await ready_pods(api)
            return (
                len(recent) == 15
                and all(a.startswith("v2 ") for a in recent)
                and len(pods) == 3
                and len((await api.list(POD, "default")).items) == 3
            )

        await eventually(only_v2, 45)
    assert client.failures == [], client.failures
    assert any(a.startswith("v1 ") for a in client.answers)

    # 3. SIGKILL an agent: its pods are replaced on the other nodes in time
    victim = cluster.agents["node-2"]
    doomed = [o.uid(x) for x in await ready_pods(api) if p.node_name(x) == "node-2"]
    assert doomed
    leftovers = recorded_pids(victim.data_dir)
    assert leftovers
    async with Client(port) as client:
        victim.kill9()
        killed_at = time.monotonic()

        async def moved() -> bool:
            pods = await ready_pods(api)
            on_victim = [x for x in pods if p.node_name(x) == "node-2"]
            return len(pods) == 3 and not on_victim

        await eventually(moved, GRACE + TOLERATION + 20)
        took = time.monotonic() - killed_at
        await asyncio.sleep(1.0)
    assert client.failures == [], client.failures
    assert took < GRACE + TOLERATION + 15, took
    node = await api.get(NODE, "", "node-2")
    assert o.get_condition(node, "Ready")["status"] == "Unknown"  # type: ignore[index]

    # 4. the agent comes back: it kills the processes of pods no longer bound to it
    victim.start()
    await eventually(lambda: not any(procs.is_alive(r) for r in leftovers), 20)

    async def ready_again() -> bool:
        node = await api.get(NODE, "", "node-2")
        return o.get_condition(node, "Ready")["status"] == "True"  # type: ignore[index]

    await eventually(ready_again, 20)
