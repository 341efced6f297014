"""Reconcilers in isolation: pre-load caches and a fake client, call reconcile(key),
assert the writes."""

from __future__ import annotations

import contextlib

import pytest

from kvstore.controllers import objects as o
from kvstore.controllers.config import ControllerConfig, SchedulerConfig
from kvstore.controllers.deployment import DeploymentController
from kvstore.controllers.errors import ConflictError
from kvstore.controllers.gc import GarbageCollector
from kvstore.controllers.objects import FOREGROUND_FINALIZER, REVISION_ANNOTATION, Obj
from kvstore.controllers.replicaset import ReplicaSetController
from kvstore.controllers.scheduler import Scheduler
from tests.controllers.agent import node_object
from tests.controllers.builders import cache_of, pod, replicaset, stamp, template
from tests.controllers.fakes import FakeApi

CFG = ControllerConfig()


# --- ReplicaSet ------------------------------------------------------------------------


def rs_controller(rs: Obj, *pods: Obj) -> tuple[ReplicaSetController, FakeApi]:
    caches = {"replicasets": cache_of(rs), "pods": cache_of(*pods)}
    api = FakeApi(caches)
    return ReplicaSetController(api, caches["replicasets"], caches["pods"], CFG), api


async def test_replicaset_creates_missing_pods_once() -> None:
    rs = replicaset(replicas=3)
    ctl, api = rs_controller(rs, pod("a", rs, node="n1", ready=True))
    await ctl.reconcile("default/web-1")
    created = api.verbs("create", "pods")
    assert len(created) == 2
    for p in created:
        assert p is not None
        assert o.controller_ref(p)["uid"] == o.uid(rs)  # type: ignore[index]
        assert o.labels(p) == {"app": "web"}
    [status] = api.verbs("update_status")
    assert status is not None and status["status"]["replicas"] == 1
    # the cache has not seen the new pods: expectations stop a second round
    api.writes.clear()
    with contextlib.suppress(ConflictError):  # its status write is stale too: retried later
        await ctl.reconcile("default/web-1")
    assert api.verbs("create") == []


async def test_replicaset_deletes_least_valuable_first() -> None:
    rs = replicaset(replicas=2)
    old_ready = pod("old", rs, node="n1", ready=True, created="2024-01-01T00:00:00Z")
    young_ready = pod("young", rs, node="n1", ready=True, created="2024-06-01T00:00:00Z")
    pending = pod("pending", rs, node="n2")
    unscheduled = pod("unscheduled", rs)
    ctl, api = rs_controller(rs, old_ready, young_ready, pending, unscheduled)
    await ctl.reconcile("default/web-1")
    deleted = sorted(d["metadata"]["name"] for d in api.verbs("delete") if d)
    assert deleted == ["pending", "unscheduled"]
    ctl2, api2 = rs_controller(replicaset(replicas=1), old_ready, young_ready)
    # different RS uid: nothing is ours to delete, orphans only get adopted when unowned
    await ctl2.reconcile("default/web-1")
    assert api2.verbs("delete") == []
    rs3 = replicaset(replicas=1)
    ctl3, api3 = rs_controller(
        rs3,
        pod("o", rs3, node="n", ready=True, created="2024-01-01T00:00:00Z"),
        pod("y", rs3, node="n", ready=True, created="2024-06-01T00:00:00Z"),
    )
    await ctl3.reconcile("default/web-1")
    assert [d["metadata"]["name"] for d in api3.verbs("delete") if d] == ["y"]


async def test_replicaset_adopts_orphans_and_releases_mismatches() -> None:
    rs = replicaset(replicas=2)
    orphan = pod("orphan", None, node="n1", ready=True)
    stray = pod("stray", rs, node="n1", ready=True, labels={"app": "other"})
    ctl, api = rs_controller(rs, orphan, stray)
    await ctl.reconcile("default/web-1")
    updates = {u["metadata"]["name"]: u for u in api.verbs("update") if u}
    assert o.controller_ref(updates["orphan"])["uid"] == o.uid(rs)  # type: ignore[index]
    assert o.controller_ref(updates["stray"]) is None
    assert len(api.verbs("create")) == 1  # 1 adopted + 1 new = 2


async def test_replicaset_status_counts_ready_and_available() -> None:
    rs = replicaset(replicas=2)
    ctl, api = rs_controller(rs, pod("a", rs, node="n", ready=True), pod("b", rs, node="n"))
    await ctl.reconcile("default/web-1")
    [s] = api.verbs("update_status")
    assert s is not None
    assert {k: s["status"][k] for k in ("replicas", "readyReplicas", "availableReplicas")} == {
        "replicas": 2,
        "readyReplicas": 1,
        "availableReplicas": 1,
    }


# --- Deployment ------------------------------------------------------------------------


def deployment(replicas: int = 4, image: str = "nginx:1.14.2", **strategy: object) -> Obj:
    return stamp(
        {
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": template(image),
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {
                        "maxSurge": strategy.get("surge", 1),
                        "maxUnavailable": strategy.get("unavailable", 0),
                    },
                },
            },
        }
    )


def owned_rs(d: Obj, name: str, image: str, replicas: int, available: int, rev: int) -> Obj:
    rs = replicaset(name, replicas)
    rs["spec"]["template"] = o.deep_copy(d["spec"]["template"])
    rs["spec"]["template"]["spec"]["containers"][0]["image"] = image
    rs["metadata"]["ownerReferences"] = [o.owner_ref_to(d)]
    rs["metadata"]["annotations"] = {REVISION_ANNOTATION: str(rev)}
    rs["status"] = {
        "replicas": replicas,
        "readyReplicas": available,
        "availableReplicas": available,
    }
    return rs


def d_controller(d: Obj, *rss: Obj) -> tuple[DeploymentController, FakeApi]:
    caches = {"deployments": cache_of(d), "replicasets": cache_of(*rss), "pods": cache_of()}
    api = FakeApi(caches)
    ctl = DeploymentController(
        api, caches["deployments"], caches["replicasets"], caches["pods"], CFG
    )
    return ctl, api


async def test_deployment_creates_first_replicaset() -> None:
    d = deployment()
    ctl, api = d_controller(d)
    await ctl.reconcile("default/web")
    [rs] = api.verbs("create", "replicasets")
    assert rs is not None
    h = rs["metadata"]["labels"][o.POD_TEMPLATE_HASH]
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["spec"]["replicas"] == 4
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", o.POD_TEMPLATE_HASH: h}
    assert rs["metadata"]["annotations"][REVISION_ANNOTATION] == "1"


async def test_rolling_update_surges_then_waits_for_availability() -> None:
    d = deployment(image="nginx:2")
    old = owned_rs(d, "web-old", "nginx:1.14.2", 4, 4, 1)
    new = owned_rs(d, "web-new", "nginx:2", 0, 0, 2)
    ctl, api = d_controller(d, old, new)
    await ctl.reconcile("default/web")
    scaled = {
        u["metadata"]["name"]: u["spec"]["replicas"]
        for u in api.verbs("update")
        if u and u["kind"] == "ReplicaSet"
    }
    assert scaled == {"web-new": 1}  # maxSurge 1: 5 pods at most
    # new pod not available yet: old must stay at 4 (maxUnavailable 0)
    new1 = owned_rs(d, "web-new", "nginx:2", 1, 0, 2)
    ctl, api = d_controller(d, old, new1)
    await ctl.reconcile("default/web")
    assert [u for u in api.verbs("update") if u and u["kind"] == "ReplicaSet"] == []
    # once available, one old pod may go
    new1a = owned_rs(d, "web-new", "nginx:2", 1, 1, 2)
    ctl, api = d_controller(d, old, new1a)
    await ctl.reconcile("default/web")
    scaled = {
        u["metadata"]["name"]: u["spec"]["replicas"]
        for u in api.verbs("update")
        if u and u["kind"] == "ReplicaSet"
    }
    assert scaled == {"web-old": 3}


async def test_rolling_update_ignores_stale_available_count() -> None:
    d = deployment(image="nginx:2")
    # old was just scaled 4 -> 3 but its status still says 4 available
    old = owned_rs(d, "web-old", "nginx:1.14.2", 3, 4, 1)
    new = owned_rs(d, "web-new", "nginx:2", 2, 1, 2)
    ctl, api = d_controller(d, old, new)
    await ctl.reconcile("default/web")
    assert [u for u in api.verbs("update") if u and u["kind"] == "ReplicaSet"] == []


async def test_deployment_percentages_and_history_limit() -> None:
    d = deployment(replicas=10, surge="25%", unavailable="25%")
    d["spec"]["revisionHistoryLimit"] = 1
    cur = owned_rs(d, "web-cur", "nginx:1.14.2", 10, 10, 3)
    idle = [owned_rs(d, f"web-{i}", f"nginx:{i}", 0, 0, i) for i in (1, 2)]
    for rs in idle:
        rs["status"] = {"replicas": 0}
    ctl, api = d_controller(d, cur, *idle)
    await ctl.reconcile("default/web")
    assert [x["metadata"]["name"] for x in api.verbs("delete") if x] == ["web-1"]
    [s] = api.verbs("update_status")
    assert s is not None
    cond = o.get_condition(s, "Progressing")
    assert cond is not None and cond["reason"] == "NewReplicaSetAvailable"


async def test_recreate_waits_for_old_pods() -> None:
    d = deployment(image="nginx:2")
    d["spec"]["strategy"] = {"type": "Recreate"}
    old = owned_rs(d, "web-old", "nginx:1.14.2", 0, 0, 1)
    new = owned_rs(d, "web-new", "nginx:2", 0, 0, 2)
    ctl, api = d_controller(d, old, new)
    ctl.pods.put(pod("left", old, node="n"))
    await ctl.reconcile("default/web")
    assert [u for u in api.verbs("update") if u and u["kind"] == "ReplicaSet"] == []
    ctl, api = d_controller(d, old, new)
    await ctl.reconcile("default/web")
    scaled = {
        u["metadata"]["name"]: u["spec"]["replicas"]
        for u in api.verbs("update")
        if u and u["kind"] == "ReplicaSet"
    }
    assert scaled == {"web-new": 4}


async def test_paused_deployment_does_not_roll() -> None:
    d = deployment(image="nginx:2")
    d["spec"]["paused"] = True
    old = owned_rs(d, "web-old", "nginx:1.14.2", 4, 4, 1)
    ctl, api = d_controller(d, old)
    await ctl.reconcile("default/web")
    assert api.verbs("create") == []
    [s] = api.verbs("update_status")
    assert s is not None
    assert o.get_condition(s, "Progressing")["reason"] == "DeploymentPaused"  # type: ignore[index]


# --- scheduler -------------------------------------------------------------------------


def scheduler(nodes: list[Obj], pods: list[Obj]) -> tuple[Scheduler, FakeApi]:
    caches = {"pods": cache_of(*pods), "nodes": cache_of(*nodes)}
    api = FakeApi(caches)
    return Scheduler(api, caches["pods"], caches["nodes"], SchedulerConfig(), CFG), api


def node(name: str, cpu: str = "1", **labels: str) -> Obj:
    return stamp(node_object(name, cpu, "1Gi", labels))


async def test_scheduler_binds_where_requests_fit() -> None:
    busy = pod("busy", None, node="n1", requests={"cpu": "800m"})
    new = pod("new", None, requests={"cpu": "500m", "memory": "128Mi"})
    s, api = scheduler([node("n1"), node("n2")], [busy, new])
    await s.reconcile("default/new")
    [bound] = api.verbs("update")
    assert bound is not None and bound["spec"]["nodeName"] == "n2"


async def test_scheduler_spreads_a_replicaset() -> None:
    rs = replicaset()
    a = pod("a", rs, node="n1")
    b = pod("b", rs)
    s, api = scheduler([node("n1", "4"), node("n2", "1")], [a, b])
    await s.reconcile("default/b")
    [bound] = api.verbs("update")
    assert bound is not None and bound["spec"]["nodeName"] == "n2"


async def test_scheduler_reports_unschedulable_and_backs_off() -> None:
    big = pod("big", None, requests={"cpu": "8"})
    picky = pod("picky", None)
    picky["spec"]["nodeSelector"] = {"disk": "ssd"}
    s, api = scheduler([node("n1"), node("n2", disk="ssd")], [big, picky])
    again = await s.reconcile("default/big")
    assert again == SchedulerConfig().backoff_initial
    [st] = api.verbs("update_status")
    assert st is not None
    cond = o.get_condition(st, "PodScheduled")
    assert cond is not None and cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert cond["message"] == "0/2 nodes are available: 2 Insufficient cpu."
    await s.reconcile("default/picky")
    assert api.verbs("update")[-1]["spec"]["nodeName"] == "n2"  # type: ignore[index]


@pytest.mark.parametrize("volume_node", ["n1", "n2"])
async def test_scheduler_follows_a_bound_claim_to_its_node(volume_node: str) -> None:
    """A host-directory volume lives on one node: the pod must go there."""
    claimed = pod("claimed", None)
    claimed["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "c"}}]
    s, api = scheduler([node("n1", "4"), node("n2", "4")], [claimed])
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "c", "namespace": "default"},
        "spec": {"volumeName": "pv-c"},
    }
    volume = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-c"},
              "spec": {"nodeName": volume_node, "hostPath": {"path": "/tmp/x"}}}  # fmt: skip
    api.caches["persistentvolumeclaims"] = cache_of(claim)
    api.caches["persistentvolumes"] = cache_of(volume)
    await s.reconcile("default/claimed")
    [bound] = api.verbs("update")
    assert bound is not None and bound["spec"]["nodeName"] == volume_node


async def test_scheduler_waits_for_a_missing_claim() -> None:
    claimed = pod("orphan-claim", None)
    claimed["spec"]["volumes"] = [{"name": "d", "persistentVolumeClaim": {"claimName": "nope"}}]
    s, api = scheduler([node("n1")], [claimed])
    again = await s.reconcile("default/orphan-claim")
    assert again == SchedulerConfig().backoff_initial
    assert api.verbs("update") == []


# --- garbage collector -----------------------------------------------------------------


async def test_gc_deletes_dependents_of_a_vanished_owner() -> None:
    rs = replicaset()
    orphaned = pod("p", rs, node="n")  # rs is not in any cache: it was deleted
    caches = {"replicasets": cache_of(), "pods": cache_of(orphaned)}
    api = FakeApi(caches)
    gc = GarbageCollector(api, caches, CFG)
    await gc.reconcile("pods/default/p")
    assert [x["metadata"]["name"] for x in api.verbs("delete") if x] == ["p"]


async def test_gc_foreground_deletes_dependents_then_drops_finalizer() -> None:
    rs = replicaset()
    o.meta(rs).update(deletionTimestamp=o.now_rfc3339(), finalizers=[FOREGROUND_FINALIZER])
    child = pod("p", rs, node="n")
    caches = {"replicasets": cache_of(rs), "pods": cache_of(child)}
    api = FakeApi(caches, apply=True)
    gc = GarbageCollector(api, caches, CFG)
    assert await gc.reconcile("replicasets/default/web-1") is not None
    assert [x["metadata"]["name"] for x in api.verbs("delete") if x] == ["p"]
    await gc.reconcile("replicasets/default/web-1")
    [upd] = api.verbs("update")
    assert upd is not None and upd["metadata"]["finalizers"] == []
