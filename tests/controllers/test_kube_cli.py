"""`kvctl kube` end to end: a store process, a controller-manager process, the fake
node agent, and the kubectl-like commands run as a user would run them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kvstore.cli.main import cli
from kvstore.client import Client
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.objects import DEPLOYMENT, POD, REPLICA_SET
from tests.controllers.agent import FakeNodeAgent
from tests.controllers.conftest import eventually
from tests.controllers.test_e2e import NGINX, controller_manager, rollout_complete
from tests.support.procs import kvstore_process, running


async def kvctl(endpoint: str, *args: str) -> Result:
    def invoke() -> Result:
        return CliRunner().invoke(cli, ["--endpoints", endpoint, *args], catch_exceptions=False)

    return await asyncio.to_thread(invoke)


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}{result.stdout}"
    return result.stdout


@pytest.mark.timeout(120)
async def test_apply_get_scale_rollout_delete(tmp_path: Path) -> None:
    manifest = tmp_path / "nginx.yaml"
    manifest.write_text(NGINX)
    with running(kvstore_process(tmp_path)) as server:  # noqa: SIM117
        with controller_manager(server.endpoint, tmp_path / "cm.log", "cm-cli"):
            async with Client([server.endpoint]) as client:
                api = ObjectClient(client)
                agent = await FakeNodeAgent(api, ["node-1", "node-2"]).start()
                try:
                    ep = server.endpoint
                    out = ok(await kvctl(ep, "kube", "apply", "-f", str(manifest)))
                    assert "nginx-deployment" in out
                    await eventually(lambda: rollout_complete(api, "nginx-deployment", 4), 30)

                    table = ok(await kvctl(ep, "kube", "get", "deployments"))
                    header, row = table.splitlines()[:2]
                    assert header.split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
                    assert row.split()[:4] == ["nginx-deployment", "4/4", "4", "4"]

                    pods = json.loads(
                        ok(await kvctl(ep, "kube", "get", "pods", "-l", "app=nginx", "-o", "json"))
                    )
                    assert len(pods["items"]) == 4

                    ok(
                        await kvctl(
                            ep, "kube", "scale", "deployment", "nginx-deployment", "--replicas", "2"
                        )
                    )
                    await eventually(lambda: rollout_complete(api, "nginx-deployment", 2), 30)

                    ok(
                        await kvctl(
                            ep,
                            "kube",
                            "set",
                            "image",
                            "deployment/nginx-deployment",
                            "nginx=nginx:1.16.1",
                        )
                    )
                    await eventually(lambda: rollout_complete(api, "nginx-deployment", 2), 30)
                    history = ok(
                        await kvctl(ep, "kube", "rollout", "history", "deployment/nginx-deployment")
                    )
                    assert "1" in history and "2" in history
                    ok(await kvctl(ep, "kube", "rollout", "undo", "deployment/nginx-deployment"))

                    async def back_to_old_image() -> bool:
                        d = await api.get(DEPLOYMENT, "default", "nginx-deployment")
                        image = d["spec"]["template"]["spec"]["containers"][0]["image"]
                        return image == "nginx:1.14.2" and await rollout_complete(
                            api, "nginx-deployment", 2
                        )

                    await eventually(back_to_old_image, 30)
                    status = ok(
                        await kvctl(ep, "kube", "rollout", "status", "deployment/nginx-deployment")
                    )
                    assert "successfully rolled out" in status

                    ok(await kvctl(ep, "kube", "delete", "deployment", "nginx-deployment"))

                    async def all_gone() -> bool:
                        leftovers = [
                            *(await api.list(DEPLOYMENT, "default")).items,
                            *(await api.list(REPLICA_SET, "default")).items,
                            *(await api.list(POD, "default")).items,
                        ]
                        return not leftovers

                    await eventually(all_gone, 30)
                    missing = await kvctl(ep, "kube", "get", "deployment", "nginx-deployment")
                    assert missing.exit_code != 0 and "not found" in missing.stderr.lower()
                finally:
                    await agent.aclose()
