"""Objects, validation, selectors, manifests and the typed client."""

from __future__ import annotations

import pytest

from kvstore.controllers import objects as o
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidError,
    NotFoundError,
)
from kvstore.controllers.manifests import loads
from kvstore.controllers.objects import DEPLOYMENT, NODE, POD
from kvstore.controllers.resources import bytes_of, millicores
from kvstore.controllers.selectors import SelectorError, parse
from kvstore.controllers.validation import apply_defaults, validate
from tests.controllers.test_e2e import NGINX
from tests.controllers.test_informer import bare

POD_YAML = """
apiVersion: v1
kind: Pod
metadata:
  name: command-demo
  labels:
    purpose: demonstrate-command
spec:
  containers:
  - name: command-demo-container
    image: debian
    command: ["printenv"]
    args: ["HOSTNAME", "KUBERNETES_PORT"]
  restartPolicy: OnFailure
"""


def test_docs_manifests_load_and_validate() -> None:
    [d] = loads(NGINX)
    [p] = loads(POD_YAML)
    for obj in (d, p):
        validate(apply_defaults(obj))
    assert p["spec"]["containers"][0]["command"] == ["printenv"]
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert o.store_key(d) == "/registry/deployments/default/nginx-deployment"
    assert NODE.key("", "n1") == "/registry/nodes/n1"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["spec"].update(replicas=-1), "spec.replicas: must be >= 0"),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("image"),
            "spec.template.spec.containers[0].image: Required value",
        ),
        (
            lambda d: d["spec"]["template"]["metadata"].update(labels={"app": "x"}),
            "spec.template.metadata.labels",
        ),
        (
            lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxSurge="x"),
            "spec.strategy.rollingUpdate.maxSurge",
        ),
        (lambda d: d["metadata"].update(name="Bad_Name"), "metadata.name"),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"][
                "requests"
            ].update(cpu="lots"),
            "resources.requests.cpu",
        ),
    ],
)
def test_validation_names_the_field(change: object, field: str) -> None:
    [d] = loads(NGINX)
    change(d)  # type: ignore[operator]
    with pytest.raises(InvalidError) as err:
        validate(apply_defaults(d))
    assert field in str(err.value)


def test_selectors() -> None:
    labels = {"app": "web", "tier": "front", "env": "prod"}
    for text, expected in [
        ("app=web", True),
        ("app==web,tier!=db", True),
        ("env in (prod, staging)", True),
        ("env notin (prod)", False),
        ("tier", True),
        ("!canary", True),
        ("!app", False),
        ("app=web,env in (dev)", False),
        ("missing!=x", True),
        ("", True),
    ]:
        assert parse(text).matches(labels) is expected, text
    with pytest.raises(SelectorError):
        parse("app=(web")


def test_quantities() -> None:
    assert millicores("250m") == 250
    assert millicores("0.5") == 500
    assert millicores(2) == 2000
    assert bytes_of("64Mi") == 64 * 2**20
    assert bytes_of("1G") == 10**9


async def test_typed_client_crud_conflict_and_status(api: ObjectClient) -> None:
    created = await api.create(bare("a"))
    assert created["metadata"]["uid"] and int(created["metadata"]["resourceVersion"]) > 0
    with pytest.raises(AlreadyExistsError):
        await api.create(bare("a"))
    await api.create(bare("b", "db"))
    from kvstore.controllers.selectors import parse as sel

    names = [o.name(x) for x in (await api.list(POD, "default", sel("app in (db)"))).items]
    assert names == ["b"]
    stale = await api.get(POD, "default", "a")
    fresh = await api.get(POD, "default", "a")
    fresh["metadata"]["labels"]["x"] = "1"
    await api.update(fresh)
    stale["metadata"]["labels"]["y"] = "1"
    with pytest.raises(ConflictError):
        await api.update(stale)
    # status is written separately from spec
    cur = await api.get(POD, "default", "a")
    cur["status"] = {"phase": "Running"}
    cur["spec"]["containers"][0]["image"] = "ignored-by-update-status"
    after = await api.update_status(cur)
    got = await api.get(POD, "default", "a")
    assert got["status"]["phase"] == "Running"
    assert got["spec"]["containers"][0]["image"] == "nginx"
    got["status"] = {"phase": "Failed"}
    await api.update(got)  # update keeps the stored status
    assert (await api.get(POD, "default", "a"))["status"]["phase"] == "Running"
    assert after["metadata"]["resourceVersion"] != cur["metadata"]["resourceVersion"]
    with pytest.raises(InvalidError, match="containers"):
        bad = bare("c")
        bad["spec"]["containers"] = []
        await api.create(bad)


async def test_delete_semantics(api: ObjectClient) -> None:
    await api.create(bare("unbound"))
    assert await api.delete(POD, "default", "unbound") is None
    bound = bare("bound")
    bound["spec"]["nodeName"] = "n1"
    await api.create(bound)
    graceful = await api.delete(POD, "default", "bound")
    assert graceful is not None and o.is_deleting(graceful)
    assert await api.delete(POD, "default", "bound", grace_period=0) is None
    [d] = loads(NGINX)
    await api.create(d)
    fg = await api.delete(DEPLOYMENT, "default", "nginx-deployment", propagation="Foreground")
    assert fg is not None and fg["metadata"]["finalizers"] == ["foregroundDeletion"]
    fg["metadata"]["finalizers"] = []
    await api.update(fg)  # last finalizer gone: the object goes
    with pytest.raises(NotFoundError):
        await api.get(DEPLOYMENT, "default", "nginx-deployment")


async def test_graceful_delete_uses_the_pods_termination_grace_period(api: ObjectClient) -> None:
    short = bare("short-grace")
    short["spec"]["nodeName"] = "n1"
    short["spec"]["terminationGracePeriodSeconds"] = 3
    await api.create(short)
    deleting = await api.delete(POD, "default", "short-grace")
    assert deleting is not None
    assert deleting["metadata"]["deletionGracePeriodSeconds"] == 3
    explicit = bare("explicit-grace")
    explicit["spec"]["nodeName"] = "n1"
    await api.create(explicit)
    deleting = await api.delete(POD, "default", "explicit-grace", grace_period=7)
    assert deleting is not None
    assert deleting["metadata"]["deletionGracePeriodSeconds"] == 7
