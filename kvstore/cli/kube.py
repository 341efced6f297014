"""``kvctl kube ...``: kubectl-like commands for the control plane's objects.

They live under ``kube`` because ``get``/``del``/``watch`` are etcdctl's. Every
command goes through the typed client (:mod:`kvstore.controllers.api`).
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml  # type: ignore[import-untyped, unused-ignore]

from kvstore.cli.main import CliError, session
from kvstore.controllers import objects as o
from kvstore.controllers import pods as p
from kvstore.controllers import rollouts
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.errors import AlreadyExistsError, ApiError, ConflictError
from kvstore.controllers.manifests import ManifestError, load_path
from kvstore.controllers.objects import DEPLOYMENT, REPLICA_SET, Kind, Obj, kind_named
from kvstore.controllers.selectors import SelectorError, from_label_selector, parse

T = TypeVar("T")


def _run(make: Callable[[ObjectClient], Coroutine[Any, Any, T]]) -> T:
    sess = session()
    client = sess.client()
    try:
        return client.run(make(ObjectClient(client.client)))
    except ApiError as exc:
        raise CliError(str(exc)) from exc


def _kind(text: str) -> Kind:
    try:
        return kind_named(text)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0])) from None


def _age(obj: Obj) -> str:
    created = o.meta(obj).get("creationTimestamp")
    if not created:
        return "<unknown>"
    secs = int(time.time() - o.parse_time(created))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def _row(kind: Kind, obj: Obj, wide: bool) -> list[str]:
    s = obj.get("status") or {}
    spec = obj.get("spec") or {}
    images = ",".join(
        c.get("image", "") for c in o.containers((spec.get("template") or {}).get("spec") or spec)
    )
    if kind is DEPLOYMENT:
        row = [
            o.name(obj),
            f"{s.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            str(s.get("updatedReplicas", 0)),
            str(s.get("availableReplicas", 0)),
            _age(obj),
        ]
        return row + ([images] if wide else [])
    if kind is REPLICA_SET:
        row = [
            o.name(obj),
            str(spec.get("replicas", 0)),
            str(s.get("replicas", 0)),
            str(s.get("readyReplicas", 0)),
            _age(obj),
        ]
        return row + ([images] if wide else [])
    if kind.kind == "Pod":
        cs = spec.get("containers") or []
        ready = sum(1 for c in s.get("containerStatuses") or [] if c.get("ready"))
        status = "Terminating" if o.is_deleting(obj) else p.phase(obj)
        for c in s.get("containerStatuses") or []:
            waiting = (c.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") and not o.is_deleting(obj):
                status = waiting["reason"]
        row = [o.name(obj), f"{ready}/{len(cs)}", status, str(p.restarts(obj)), _age(obj)]
        return row + (
            [s.get("podIP", "<none>"), p.node_name(obj) or "<none>", images] if wide else []
        )
    if kind.kind == "Node":
        from kvstore.controllers.scheduler import node_ready

        return [o.name(obj), "Ready" if node_ready(obj) else "NotReady", _age(obj)]
    return [o.name(obj), spec.get("type", ""), _age(obj)]


_HEADERS = {
    "Deployment": ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
    "ReplicaSet": ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
    "Pod": ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
    "Node": ["NAME", "STATUS", "AGE"],
    "Service": ["NAME", "TYPE", "AGE"],
}
_WIDE = {"Deployment": ["IMAGES"], "ReplicaSet": ["IMAGES"], "Pod": ["IP", "NODE", "IMAGES"]}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


@click.group("kube")
def kube() -> None:
    """kubectl-like commands: apply, get, describe, delete, scale, rollout, set."""


@kube.command("apply")
@click.option(
    "-f",
    "--filename",
    "path",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="a manifest file or a directory of them",
)
def apply(path: Path) -> None:
    """Create or update the objects of FILE or DIR."""
    try:
        objs = load_path(path)
    except ManifestError as exc:
        raise CliError(str(exc)) from exc

    async def go(api: ObjectClient) -> list[str]:
        out = []
        for obj in objs:
            kind = o.kind_of(obj)
            label = f"{kind.kind.lower()}.{kind.api_version.split('/')[0]}/{o.name(obj)}"
            try:
                await api.create(obj)
                out.append(f"{label} created")
                continue
            except AlreadyExistsError:
                pass
            for _ in range(10):
                cur = await api.get(kind, o.namespace(obj) or "default", o.name(obj))
                new = {**cur, "spec": obj.get("spec", {})}
                md = o.meta(new)
                for field in ("labels", "annotations"):
                    if field in (obj.get("metadata") or {}):
                        md[field] = obj["metadata"][field]
                if new == cur:
                    out.append(f"{label} unchanged")
                    break
                try:
                    await api.update(new)
                    out.append(f"{label} configured")
                    break
                except ConflictError:
                    continue
        return out

    for line in _run(go):
        click.echo(line)


@kube.command("get")
@click.argument("kind")
@click.argument("name", required=False)
@click.option("-n", "--namespace", default="default")
@click.option("-l", "--selector", default="", help="label selector, e.g. app=web,tier!=db")
@click.option("-o", "--output", type=click.Choice(["wide", "yaml", "json", "name"]), default=None)
@click.option("-w", "--watch", is_flag=True, help="after listing, print each change")
def get(
    kind: str, name: str | None, namespace: str, selector: str, output: str | None, watch: bool
) -> None:
    """List objects of KIND (or one NAME)."""
    k = _kind(kind)
    try:
        sel = parse(selector) if selector else None
    except SelectorError as exc:
        raise click.BadParameter(str(exc), param_hint="--selector") from None
    ns = namespace if k.namespaced else ""

    async def go(api: ObjectClient) -> tuple[list[Obj], int]:
        if name:
            return [await api.get(k, ns, name)], 0
        listed = await api.list(k, ns or None, sel)
        return sorted(listed.items, key=o.name), listed.revision

    items, revision = _run(go)
    _print(k, items, output, header=True)
    if watch:

        async def follow(api: ObjectClient) -> None:
            async for ev in api.watch(k, ns or None, start_revision=revision + 1):
                if (name and o.name(ev.object) != name) or (
                    sel and not sel.matches(o.labels(ev.object))
                ):
                    continue
                _print(k, [ev.object], output, header=False)

        with contextlib.suppress(KeyboardInterrupt):
            _run(follow)


def _print(k: Kind, items: list[Obj], output: str | None, *, header: bool) -> None:
    if output == "json":
        doc = items[0] if len(items) == 1 else {"apiVersion": "v1", "kind": "List", "items": items}
        click.echo(json.dumps(doc, indent=4))
    elif output == "yaml":
        doc = items[0] if len(items) == 1 else {"apiVersion": "v1", "kind": "List", "items": items}
        click.echo(yaml.safe_dump(doc, sort_keys=False).rstrip())
    elif output == "name":
        for obj in items:
            click.echo(f"{k.kind.lower()}/{o.name(obj)}")
    else:
        wide = output == "wide"
        rows = [_row(k, obj, wide) for obj in items]
        if header:
            if not rows:
                click.echo("No resources found.")
                return
            rows.insert(
                0,
                _HEADERS.get(k.kind, ["NAME", "TYPE", "AGE"])
                + (_WIDE.get(k.kind, []) if wide else []),
            )
        click.echo(_table(rows))


@kube.command("describe")
@click.argument("kind")
@click.argument("name")
@click.option("-n", "--namespace", default="default")
def describe(kind: str, name: str, namespace: str) -> None:
    """Show one object in detail (its YAML, with conditions first)."""
    k = _kind(kind)
    obj = _run(lambda api: api.get(k, namespace if k.namespaced else "", name))
    click.echo(f"Name:         {o.name(obj)}")
    if k.namespaced:
        click.echo(f"Namespace:    {o.namespace(obj)}")
    click.echo(f"Labels:       {o.labels(obj)}")
    click.echo(f"Annotations:  {o.annotations_of(obj)}")
    for cond in (obj.get("status") or {}).get("conditions") or []:
        click.echo(
            f"Condition:    {cond.get('type')}={cond.get('status')} "
            f"{cond.get('reason', '')} {cond.get('message', '')}".rstrip()
        )
    click.echo(
        yaml.safe_dump(
            {"spec": obj.get("spec"), "status": obj.get("status")}, sort_keys=False
        ).rstrip()
    )


@kube.command("delete")
@click.argument("kind")
@click.argument("name")
@click.option("-n", "--namespace", default="default")
@click.option(
    "--cascade", type=click.Choice(["background", "foreground", "orphan"]), default="background"
)
def delete_cmd(kind: str, name: str, namespace: str, cascade: str) -> None:
    """Delete an object; its dependents follow (or not) as --cascade says."""
    k = _kind(kind)
    prop: Any = cascade.capitalize()
    _run(lambda api: api.delete(k, namespace if k.namespaced else "", name, propagation=prop))
    click.echo(f'{k.kind.lower()} "{name}" deleted')


async def _modify(
    api: ObjectClient, k: Kind, ns: str, name: str, change: Callable[[Obj], None]
) -> Obj:
    for _ in range(10):
        obj = await api.get(k, ns, name)
        change(obj)
        try:
            return await api.update(obj)
        except ConflictError:
            continue
    raise CliError("too many conflicting updates; try again")


@kube.command("scale")
@click.argument("kind")
@click.argument("name")
@click.option("--replicas", type=int, required=True)
@click.option("-n", "--namespace", default="default")
def scale(kind: str, name: str, replicas: int, namespace: str) -> None:
    """Set spec.replicas of a Deployment or ReplicaSet."""
    k = _kind(kind)
    _run(
        lambda api: _modify(api, k, namespace, name, lambda d: d["spec"].update(replicas=replicas))
    )
    click.echo(f"{k.kind.lower()}.apps/{name} scaled")


@kube.group("rollout")
def rollout() -> None:
    """Manage a Deployment's rollout: status, history, undo, pause, resume."""


def _deploy_name(target: str) -> str:
    return target.split("/", 1)[1] if "/" in target else target


async def _owned_rss(api: ObjectClient, d: Obj) -> list[Obj]:
    rss = (await api.list(REPLICA_SET, o.namespace(d))).items
    return [rs for rs in rss if (o.controller_ref(rs) or {}).get("uid") == o.uid(d)]


@rollout.command("status")
@click.argument("target")
@click.option("-n", "--namespace", default="default")
@click.option("--timeout", type=float, default=300.0)
def rollout_status(target: str, namespace: str, timeout: float) -> None:
    """Wait until the rollout of deployment TARGET completes."""
    name = _deploy_name(target)
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        d = _run(lambda api: api.get(DEPLOYMENT, namespace, name))
        s, spec = d.get("status") or {}, d.get("spec") or {}
        want = int(spec.get("replicas", 1))
        cond = o.get_condition(d, "Progressing") or {}
        if cond.get("reason") == "ProgressDeadlineExceeded":
            raise CliError(f'deployment "{name}" exceeded its progress deadline')
        if s.get("observedGeneration", 0) >= o.meta(d).get("generation", 1):
            upd, avail = s.get("updatedReplicas", 0), s.get("availableReplicas", 0)
            if upd < want:
                msg = (
                    f'Waiting for deployment "{name}" rollout to finish: {upd} out of '
                    f"{want} new replicas have been updated..."
                )
            elif s.get("replicas", 0) > upd:
                msg = (
                    f'Waiting for deployment "{name}" rollout to finish: '
                    f"{s.get('replicas', 0) - upd} old replicas are pending termination..."
                )
            elif avail < upd:
                msg = (
                    f'Waiting for deployment "{name}" rollout to finish: {avail} of {upd} '
                    "updated replicas are available..."
                )
            else:
                click.echo(f'deployment "{name}" successfully rolled out')
                return
            if msg != last:
                click.echo(msg)
                last = msg
        if time.monotonic() > deadline:
            raise CliError("timed out waiting for the rollout")
        time.sleep(0.2)


@rollout.command("history")
@click.argument("target")
@click.option("-n", "--namespace", default="default")
def rollout_history(target: str, namespace: str) -> None:
    name = _deploy_name(target)

    async def go(api: ObjectClient) -> list[tuple[int, Obj]]:
        d = await api.get(DEPLOYMENT, namespace, name)
        return rollouts.history(await _owned_rss(api, d))

    click.echo(f"deployment.apps/{name}")
    click.echo("REVISION  CHANGE-CAUSE")
    for rev, rs in _run(go):
        click.echo(f"{rev:<9} {o.annotations_of(rs).get(rollouts.CHANGE_CAUSE, '<none>')}")


@rollout.command("undo")
@click.argument("target")
@click.option("--to-revision", type=int, default=0)
@click.option("-n", "--namespace", default="default")
def rollout_undo(target: str, to_revision: int, namespace: str) -> None:
    """Roll back to the previous (or a given) revision."""
    name = _deploy_name(target)

    async def go(api: ObjectClient) -> None:
        d = await api.get(DEPLOYMENT, namespace, name)
        try:
            template = rollouts.rollback_template(await _owned_rss(api, d), to_revision)
        except LookupError as exc:
            raise CliError(str(exc)) from exc
        await _modify(
            api, DEPLOYMENT, namespace, name, lambda x: x["spec"].update(template=template)
        )

    _run(go)
    click.echo(f"deployment.apps/{name} rolled back")


def _pause(paused: bool) -> Callable[[str, str], None]:
    def command(target: str, namespace: str) -> None:
        name = _deploy_name(target)
        _run(
            lambda api: _modify(
                api, DEPLOYMENT, namespace, name, lambda d: d["spec"].update(paused=paused)
            )
        )
        click.echo(f"deployment.apps/{name} {'paused' if paused else 'resumed'}")

    return command


for _verb, _flag in (("pause", True), ("resume", False)):
    rollout.command(_verb)(
        click.argument("target")(
            click.option("-n", "--namespace", default="default")(_pause(_flag))
        )
    )


@kube.group("set")
def set_group() -> None:
    """Change a Deployment's pod template: image, env."""


def _containers_of(d: Obj) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = d["spec"]["template"]["spec"]["containers"]
    return containers


@set_group.command("image")
@click.argument("target")
@click.argument("assignments", nargs=-1, required=True)
@click.option("-n", "--namespace", default="default")
def set_image(target: str, assignments: tuple[str, ...], namespace: str) -> None:
    """``set image deployment/NAME CONTAINER=IMAGE ...`` (``*=IMAGE`` for all)."""
    name = _deploy_name(target)
    pairs = dict(a.split("=", 1) for a in assignments)

    def change(d: Obj) -> None:
        for c in _containers_of(d):
            if c["name"] in pairs or "*" in pairs:
                c["image"] = pairs.get(c["name"], pairs.get("*"))

    _run(lambda api: _modify(api, DEPLOYMENT, namespace, name, change))
    click.echo(f"deployment.apps/{name} image updated")


@set_group.command("env")
@click.argument("target")
@click.argument("assignments", nargs=-1, required=True)
@click.option("-n", "--namespace", default="default")
def set_env(target: str, assignments: tuple[str, ...], namespace: str) -> None:
    """``set env deployment/NAME KEY=VALUE ...`` (``KEY-`` removes KEY)."""
    name = _deploy_name(target)

    def change(d: Obj) -> None:
        for c in _containers_of(d):
            env = [e for e in c.get("env") or []]
            for a in assignments:
                if a.endswith("-") and "=" not in a:
                    env = [e for e in env if e.get("name") != a[:-1]]
                    continue
                key, _, value = a.partition("=")
                env = [e for e in env if e.get("name") != key] + [{"name": key, "value": value}]
            c["env"] = env

    _run(lambda api: _modify(api, DEPLOYMENT, namespace, name, change))
    click.echo(f"deployment.apps/{name} env updated")


@kube.command("logs")
@click.argument("pod")
@click.option("-c", "--container", default="", help="container name (default: the only one)")
@click.option("-f", "--follow", is_flag=True, help="stream new output")
@click.option("-p", "--previous", is_flag=True, help="the previous run of the container")
@click.option("-n", "--namespace", default="default")
def logs(pod: str, container: str, follow: bool, previous: bool, namespace: str) -> None:
    """Print a container's log, served by the node agent running the pod."""
    from kvstore.controllers.objects import NODE, POD

    async def locate(api: ObjectClient) -> tuple[str, str]:
        obj = await api.get(POD, namespace, pod)
        node_name = p.node_name(obj)
        if not node_name:
            raise CliError(f'pod "{pod}" is not scheduled to a node yet')
        node = await api.get(NODE, "", node_name)
        status = node.get("status") or {}
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
        address = next(
            (a["address"] for a in status.get("addresses") or [] if a.get("type") == "InternalIP"),
            "127.0.0.1",
        )
        if not port:
            raise CliError(f'node "{node_name}" publishes no log endpoint')
        return f"{address}:{port}", node_name

    where, node_name = _run(locate)
    query = "&".join(q for q, on in (("follow=true", follow), ("previous=true", previous)) if on)
    url = f"http://{where}/containerLogs/{namespace}/{pod}/{container}?{query}"
    try:
        with urllib.request.urlopen(url, timeout=None if follow else 10) as resp:
            while chunk := resp.read1(65536):
                click.echo(chunk.decode(errors="replace"), nl=False)
    except urllib.error.HTTPError as exc:
        raise CliError(exc.read().decode(errors="replace").strip()) from exc
    except OSError as exc:
        raise CliError(f'node "{node_name}" log endpoint {where}: {exc}') from exc


def register(group: click.Group) -> None:
    group.add_command(kube)


__all__ = ["from_label_selector", "kube", "register"]
