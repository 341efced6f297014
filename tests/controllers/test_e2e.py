"""End to end with real processes: a kvstore member, a ``kvstore controller-manager``,
and the fake node agent in the test. A monitor watches pods continuously and checks
the rolling update's bounds after every single event."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kvstore.client import Client
from kvstore.controllers import objects as o
from kvstore.controllers import pods as p
from kvstore.controllers import rollouts
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.config import InformerConfig
from kvstore.controllers.errors import ConflictError, NotFoundError
from kvstore.controllers.informer import Handlers, Informer
from kvstore.controllers.manifests import loads
from kvstore.controllers.objects import DEPLOYMENT, POD, REPLICA_SET, Obj
from kvstore.controllers.selectors import parse
from tests.controllers.agent import FakeNodeAgent
from tests.controllers.conftest import eventually
from tests.support.procs import REPO_ROOT, kvstore_process, running

NGINX = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: 4
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
"""


@contextlib.contextmanager
def controller_manager(
    endpoint: str, log: Path, identity: str
) -> Iterator[subprocess.Popen[bytes]]:
    argv = [
        sys.executable,
        "-m",
        "kvstore",
        "controller-manager",
        "--endpoints",
        endpoint,
        "--identity",
        identity,
        "--leader-elect-lease-duration",
        "2",
        "--resync-period",
        "5",
        "--expectations-timeout",
        "5",
        "--scheduler-backoff",
        "0.2",
        "--log-level",
        "info",
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=15)


class Monitor:
    """Checks ``min_available`` and ``max_pods`` after every pod event once armed."""

    def __init__(self, api: ObjectClient, selector: str) -> None:
        self.informer = Informer(api, POD, InformerConfig(resync_period=0))
        self.selector = parse(selector)
        self.min_available = 0
        self.max_pods = 10**9
        self.violations: list[str] = []
        self.events = 0
        self.most_pods = 0
        self.informer.add_handlers(
            Handlers(lambda obj: self.check(), lambda a, b: self.check(), lambda obj: self.check())
        )

    def pods(self) -> list[Obj]:
        return self.informer.cache.list("default", self.selector)

    def check(self) -> None:
        self.events += 1
        live = [pod for pod in self.pods() if not o.is_deleting(pod)]
        available = [pod for pod in live if p.is_ready(pod)]
        self.most_pods = max(self.most_pods, len(live))
        if len(available) < self.min_available:
            self.violations.append(f"rev {self.informer.revision}: {len(available)} available")
        if len(live) > self.max_pods:
            self.violations.append(f"rev {self.informer.revision}: {len(live)} pods")

    def images(self) -> set[str]:
        return {pod["spec"]["containers"][0]["image"] for pod in self.pods()}


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[ObjectClient, Path]]:
    with running(kvstore_process(tmp_path)) as server:  # noqa: SIM117
        with controller_manager(server.endpoint, tmp_path / "cm.log", "cm-1") as proc:
            async with Client([server.endpoint]) as client:
                api = ObjectClient(client)
                agent = await FakeNodeAgent(api, ["node-1", "node-2", "node-3"]).start()
                try:
                    yield api, tmp_path
                finally:
                    await agent.aclose()
                assert proc.poll() is None, (tmp_path / "cm.log").read_text()[-3000:]


async def modify(api: ObjectClient, name: str, change: Any) -> Obj:
    for _ in range(20):
        d = await api.get(DEPLOYMENT, "default", name)
        change(d)
        try:
            return await api.update(d)
        except ConflictError:
            continue
    raise AssertionError("too many conflicts")


async def rollout_complete(api: ObjectClient, name: str, replicas: int) -> bool:
    d = await api.get(DEPLOYMENT, "default", name)
    s = d.get("status") or {}
    return (
        s.get("observedGeneration") == d["metadata"]["generation"]
        and s.get("updatedReplicas", 0) == replicas
        and s.get("availableReplicas", 0) == replicas
        and s.get("replicas", 0) == replicas
    )


@pytest.mark.timeout(120)
async def test_deployment_lifecycle(cluster: tuple[ObjectClient, Path]) -> None:
    api, tmp = cluster
    log = tmp / "cm.log"
    monitor = Monitor(api, "app=nginx")
    await monitor.informer.start()
    try:
        [manifest] = loads(NGINX)
        await api.create(manifest)
        await eventually(lambda: rollout_complete(api, "nginx-deployment", 4), 30)
        assert monitor.images() == {"nginx:1.14.2"}
        nodes = {p.node_name(pod) for pod in monitor.pods()}
        assert len(nodes) == 3, nodes  # the scheduler spreads the ReplicaSet

        # rolling update: never fewer than 4 available, never more than 5 pods
        monitor.min_available, monitor.max_pods = 4, 5
        monitor.most_pods = 0

        def set_image(image: str) -> Any:
            def change(d: Obj) -> None:
                d["spec"]["template"]["spec"]["containers"][0]["image"] = image

            return change

        await modify(api, "nginx-deployment", set_image("nginx:1.16.1"))
        await eventually(
            lambda: monitor.images() == {"nginx:1.16.1"} and len(monitor.pods()) == 4, 30
        )
        await eventually(lambda: rollout_complete(api, "nginx-deployment", 4), 30)
        rss = (await api.list(REPLICA_SET, "default")).items
        assert sorted(rollouts.revision(rs) for rs in rss) == [1, 2]
        assert monitor.violations == [], monitor.violations
        assert monitor.most_pods == 5  # the surge was used

        # roll back to revision 1: its ReplicaSet becomes new again, as revision 3
        template = rollouts.rollback_template(rss, 0)
        await modify(api, "nginx-deployment", lambda d: d["spec"].update(template=template))
        await eventually(
            lambda: monitor.images() == {"nginx:1.14.2"} and len(monitor.pods()) == 4, 30
        )
        await eventually(lambda: rollout_complete(api, "nginx-deployment", 4), 30)
        rss = (await api.list(REPLICA_SET, "default")).items
        assert len(rss) == 2
        assert sorted(rollouts.revision(rs) for rs in rss) == [2, 3]
        assert monitor.violations == [], monitor.violations

        # scale to 0 and back
        monitor.min_available = 0
        await modify(api, "nginx-deployment", lambda d: d["spec"].update(replicas=0))
        await eventually(lambda: not monitor.pods(), 30)
        await modify(api, "nginx-deployment", lambda d: d["spec"].update(replicas=4))
        await eventually(lambda: rollout_complete(api, "nginx-deployment", 4), 30)

        # foreground delete: the deployment stays until its ReplicaSets and pods are gone
        d = await api.delete(DEPLOYMENT, "default", "nginx-deployment", propagation="Foreground")
        assert d is not None and o.is_deleting(d)

        async def all_gone() -> bool:
            try:
                await api.get(DEPLOYMENT, "default", "nginx-deployment")
                return False
            except NotFoundError:
                pass
            return not (await api.list(REPLICA_SET)).items and not (await api.list(POD)).items

        await eventually(all_gone, 30)
        assert monitor.violations == [], monitor.violations
        assert monitor.events > 0
    except BaseException:
        print(log.read_text()[-6000:])
        raise
    finally:
        await monitor.informer.aclose()


@pytest.mark.timeout(60)
async def test_background_delete(cluster: tuple[ObjectClient, Path]) -> None:
    api, _ = cluster
    [manifest] = loads(NGINX)
    manifest["spec"]["replicas"] = 2
    await api.create(manifest)
    await eventually(lambda: rollout_complete(api, "nginx-deployment", 2), 30)
    assert await api.delete(DEPLOYMENT, "default", "nginx-deployment") is None

    async def all_gone() -> bool:
        return not (await api.list(REPLICA_SET)).items and not (await api.list(POD)).items

    await eventually(all_gone, 30)
