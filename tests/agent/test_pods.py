"""Single pods on real agents: CrashLoopBackOff with a growing back-off, a liveness
failure restarting a container, logs through ``kvctl kube logs``, and data on a
claimed volume surviving the pod's deletion and recreation."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kvstore.agent import procs
from kvstore.controllers import objects as o
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.errors import NotFoundError
from kvstore.controllers.objects import POD, PV, PVC, Obj
from tests.agent.conftest import Cluster
from tests.agent.harness import recorded_pids
from tests.controllers.conftest import eventually
from tests.support.procs import REPO_ROOT


def pod(name: str, container: dict[str, Any], **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"test": name}},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "main", "image": "python3", **container}],
            **spec,
        },
    }


def container_status(obj: Obj) -> dict[str, Any]:
    statuses = (obj.get("status") or {}).get("containerStatuses") or [{}]
    return dict(statuses[0])


async def wait_pod(api: ObjectClient, name: str, check: Any, limit: float = 20) -> Obj:
    found: list[Obj] = []

    async def ok() -> bool:
        obj = await api.get(POD, "default", name)
        found[:] = [obj]
        return bool(check(obj))

    await eventually(ok, limit)
    return found[0]


async def gone(api: ObjectClient, name: str) -> bool:
    try:
        await api.get(POD, "default", name)
        return False
    except NotFoundError:
        return True


def kvctl(endpoint: str, *args: str) -> str:
    argv = [sys.executable, "-m", "kvstore.cli", "--endpoints", endpoint, "kube", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.timeout(60)
async def test_crash_loop_backoff_grows(cluster: Cluster) -> None:
    api = cluster.api
    code = "print('boom', flush=True); raise SystemExit(3)"
    await api.create(pod("crasher", {"command": [sys.executable, "-c", code]}))
    restarts: list[tuple[int, float]] = []
    waiting_seen: list[str] = []

    async def four_restarts() -> bool:
        obj = await api.get(POD, "default", "crasher")
        cs = container_status(obj)
        count = int(cs.get("restartCount") or 0)
        if not restarts or restarts[-1][0] != count:
            restarts.append((count, time.monotonic()))
        reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
        if reason:
            waiting_seen.append(str(reason))
        return count >= 4

    await eventually(four_restarts, 30, interval=0.02)
    assert "CrashLoopBackOff" in waiting_seen
    gaps = [b[1] - a[1] for a, b in itertools.pairwise(restarts) if a[0] >= 1]
    assert len(gaps) >= 2, restarts
    for earlier, later in itertools.pairwise(gaps):
        assert later > earlier * 1.4, gaps  # 0.4 s doubling: 0.8, 1.6, 3.2 ...
    obj = await api.get(POD, "default", "crasher")
    last = container_status(obj)["lastState"]["terminated"]
    assert last["exitCode"] == 3 and last["reason"] == "Error"
    assert obj["status"]["phase"] == "Running"
    assert "boom" in kvctl(cluster.endpoint, "logs", "crasher", "--previous")

    # graceful deletion of a pod in back-off: it goes away
    await api.delete(POD, "default", "crasher")
    await eventually(lambda: gone(api, "crasher"), 15)


@pytest.mark.timeout(60)
async def test_liveness_failure_restarts_and_never_policy(cluster: Cluster) -> None:
    api = cluster.api
    probe = {"tcpSocket": {"port": "http"}, "periodSeconds": 1, "failureThreshold": 2}
    sleeper = {
        "command": ["sleep", "1000"],
        "ports": [{"name": "http", "containerPort": 9000}],  # nothing listens there
        "livenessProbe": probe,
    }
    await api.create(pod("unhealthy", sleeper))
    obj = await wait_pod(
        api, "unhealthy", lambda x: container_status(x).get("restartCount", 0) >= 1
    )
    assert container_status(obj)["lastState"]["terminated"]["exitCode"] == 137

    # restartPolicy Never: an exit ends the pod, phase Failed, no restart
    await api.create(
        pod("once", {"command": ["sh", "-c", "echo hello; exit 1"]}, restartPolicy="Never")
    )
    obj = await wait_pod(api, "once", lambda x: x["status"].get("phase") == "Failed")
    assert container_status(obj)["restartCount"] == 0
    assert container_status(obj)["state"]["terminated"]["exitCode"] == 1
    # OnFailure: exit 0 completes the pod
    await api.create(pod("job", {"command": ["sh", "-c", "echo done"]}, restartPolicy="OnFailure"))
    await wait_pod(api, "job", lambda x: x["status"].get("phase") == "Succeeded")
    assert "done" in kvctl(cluster.endpoint, "logs", "job")


@pytest.mark.timeout(60)
async def test_claimed_volume_survives_pod_recreation(cluster: Cluster) -> None:
    api = cluster.api
    await api.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Mi"}},
            },
        }
    )
    writer = pod(
        "writer",
        {
            "command": ["sh", "-c", 'echo run >> "$VOLUME_DATA/runs"; exec sleep 1000'],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        },
        nodeSelector={"kubernetes.io/hostname": "node-1"},
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
    )
    for _ in range(2):
        await api.create(writer)
        await wait_pod(api, "writer", lambda x: container_status(x).get("started"))
        await api.delete(POD, "default", "writer")
        await eventually(lambda: gone(api, "writer"), 15)
    claim = await api.get(PVC, "default", "data")
    assert claim["status"]["phase"] == "Bound"
    pv = await api.get(PV, "", claim["spec"]["volumeName"])
    path = Path(pv["spec"]["hostPath"]["path"])
    assert path.is_relative_to(cluster.agents["node-1"].data_dir)
    assert (path / "runs").read_text() == "run\nrun\n"

    # reclaim policy Delete: deleting the claim removes the volume and its directory
    await api.delete(PVC, "default", "data")

    async def reclaimed() -> bool:
        try:
            await api.get(PV, "", o.name(pv))
            return False
        except NotFoundError:
            return not await asyncio.to_thread(path.exists)

    await eventually(reclaimed, 15)


@pytest.mark.timeout(60)
async def test_restarted_agent_adopts_its_processes(cluster: Cluster) -> None:
    api = cluster.api
    spec = pod("keeper", {"command": ["sleep", "1000"]})
    spec["spec"]["nodeSelector"] = {"kubernetes.io/hostname": "node-3"}
    await api.create(spec)
    await wait_pod(api, "keeper", lambda x: container_status(x).get("started"))
    agent = cluster.agents["node-3"]
    [before] = recorded_pids(agent.data_dir)
    agent.kill9()
    agent.start()  # back before the grace period: the pod is still bound here
    await asyncio.sleep(2.0)
    [after] = recorded_pids(agent.data_dir)
    assert (after.pid, after.start_ticks) == (before.pid, before.start_ticks)
    assert procs.is_alive(after)
    obj = await api.get(POD, "default", "keeper")
    assert container_status(obj)["restartCount"] == 0
    await api.delete(POD, "default", "keeper")
    await eventually(lambda: gone(api, "keeper"), 15)
    assert not procs.is_alive(after)
